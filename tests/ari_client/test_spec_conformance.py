"""Every request the client can send is defined by Asterisk 22's api-docs: method, path,
parameter names, required parameters, enum values and scalar types."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from payivr.ari import media
from payivr.ari.client import AriClient, Direction, HangupReason

from .fakeari import FIXTURES, FakeAri, bridge_json, channel_json

RESOURCES = ["asterisk", "applications", "channels", "bridges", "playbacks"]


@dataclass
class Operation:
    method: str
    pattern: re.Pattern[str]
    template: str
    params: dict[str, dict[str, Any]]  # query and body parameters by name


def load_operations() -> list[Operation]:
    operations = []
    for resource in RESOURCES:
        doc = json.loads((FIXTURES / "api-docs" / f"{resource}.json").read_text())
        for api in doc["apis"]:
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", api["path"]) + "$")
            for op in api["operations"]:
                params = {p["name"]: p for p in op.get("parameters", [])
                          if p["paramType"] in ("query", "body")}
                operations.append(Operation(op["httpMethod"], pattern, api["path"], params))
    return operations


def problems(operations: list[Operation], method: str, path: str, query: dict[str, str],
             body: Any) -> list[str]:
    matches = [op for op in operations if op.method == method and op.pattern.match(path)]
    # A literal path beats a templated one (POST /channels/create vs /channels/{channelId}).
    matches.sort(key=lambda op: op.template.count("{"))
    if not matches:
        return [f"{method} {path}: no such operation"]
    op = matches[0]
    found = []
    sent = set(query) | (set(body) if isinstance(body, dict) else set())
    for name in sent - set(op.params):
        found.append(f"{op.template}: unknown parameter {name}")
    for name, spec in op.params.items():
        if spec.get("required") and name not in sent:
            found.append(f"{op.template}: missing required {name}")
        if name not in query:
            continue
        value = query[name]
        allowed = (spec.get("allowableValues") or {}).get("values")
        if allowed and value not in allowed:
            found.append(f"{op.template}: {name}={value!r} not in {allowed}")
        kind = spec["dataType"]
        if kind in ("int", "long") and not re.fullmatch(r"-?\d+", value):
            found.append(f"{op.template}: {name} is not an integer")
        if kind == "boolean" and value not in ("true", "false"):
            found.append(f"{op.template}: {name} is not a boolean")
        if "," in value and not spec.get("allowMultiple") and name not in ("appArgs", "type",
                                                                           "callerId"):
            found.append(f"{op.template}: {name} is not a list parameter")
    return found


async def exercise_every_method(ari: AriClient) -> None:
    c, b = "caller-leg", "payivr-k1"
    await ari.asterisk.ping()
    await ari.asterisk.info()
    await ari.applications.get("payivr")
    await ari.channels.list()
    await ari.channels.get(c)
    await ari.channels.originate("PJSIP/1001", channel_id="payivr-a1", other_channel_id="x2",
                                 app="payivr", app_args=["dialed", "k1"], caller_id="1002",
                                 dial_timeout=30, variables={"A": "1"})
    await ari.channels.originate("PJSIP/1001", context="agents", extension="100", priority=1,
                                 label="x", originator=c, formats="ulaw")
    await ari.channels.answer(c)
    await ari.channels.hangup(c, reason=HangupReason.NORMAL)
    await ari.channels.hangup(c, reason_code=16)
    await ari.channels.continue_in_dialplan(c, context="x", extension="s", priority=1)
    await ari.channels.continue_in_dialplan(c, label="after")
    await ari.channels.play(c, [media.sound("beep"), media.number(137), media.digits("42")],
                            playback_id="pb-1", lang="en", offsetms=0, skipms=3000)
    await ari.channels.send_dtmf(c, "1#", before=0, between=150, duration=100, after=0)
    for direction in (Direction.BOTH, Direction.IN, Direction.OUT):
        await ari.channels.mute(c, direction)
        await ari.channels.unmute(c, direction)
    await ari.channels.hold(c)
    await ari.channels.unhold(c)
    await ari.channels.start_moh(c, "default")
    await ari.channels.stop_moh(c)
    await ari.channels.start_silence(c)
    await ari.channels.stop_silence(c)
    await ari.channels.get_variable(c, "X")
    await ari.channels.set_variable(c, "X", "1")
    await ari.channels.snoop(c, app="payivr", spy="in", whisper="out", app_args="s",
                             snoop_id="snoop-1")
    await ari.bridges.list()
    await ari.bridges.get(b)
    await ari.bridges.create(b, name="call")
    await ari.bridges.add_channel(b, [c, "agent-leg"], absorb_dtmf=True, mute=False,
                                  role="caller", inhibit_connected_line_updates=True)
    await ari.bridges.remove_channel(b, c)
    await ari.bridges.destroy(b)
    await ari.playbacks.get("pb-1")
    await ari.playbacks.stop("pb-1")


async def test_every_request_is_defined_by_the_api_docs(fake: FakeAri, ari: AriClient) -> None:
    playback = {"id": "pb-1", "media_uri": "sound:beep", "target_uri": "channel:caller-leg",
                "state": "queued"}
    fake.routes.update({
        ("GET", "/asterisk/info"): (200, {}),
        ("GET", "/channels/caller-leg"): (200, channel_json("caller-leg")),
        ("POST", "/channels"): (200, channel_json("payivr-a1")),
        ("POST", "/channels/caller-leg/play"): (201, playback),
        ("GET", "/channels/caller-leg/variable"): (200, {"value": "1"}),
        ("POST", "/channels/caller-leg/snoop"): (200, channel_json("snoop-1")),
        ("GET", "/bridges/payivr-k1"): (200, bridge_json("payivr-k1")),
        ("POST", "/bridges"): (200, bridge_json("payivr-k1")),
        ("GET", "/playbacks/pb-1"): (200, playback),
    })
    await exercise_every_method(ari)

    operations = load_operations()
    found = [p for r in fake.requests for p in problems(operations, r.method, r.path, r.query,
                                                        r.body)]
    assert found == []
    assert len(fake.requests) == 37
