"""Typed parsing of the WebSocket events payivr uses, checked on real Asterisk 22 recordings."""

from __future__ import annotations

import json

import pytest

from payivr.ari import events
from payivr.ari.events import MalformedEvent, parse_event

from .fakeari import FIXTURES, channel_json, event_json

TRACES = ["bridge-absorbdtmf-hold-play-hangup.jsonl", "takeover-feature-code-ami-redirect.jsonl"]


def recorded_events() -> list[dict]:
    found = []
    for name in TRACES:
        for line in (FIXTURES / name).read_text().splitlines():
            record = json.loads(line)
            if record["kind"] == "event":
                found.append(record["event"])
    return found


def test_every_recorded_event_parses_or_is_skipped() -> None:
    parsed: dict[str, int] = {}
    for raw in recorded_events():
        event = parse_event(json.dumps(raw))
        if raw["type"] in events.EVENT_TYPES and not (raw["type"] == "ChannelVarset"
                                                      and "channel" not in raw):
            assert event is not None, raw["type"]
            assert type(event).__name__ == raw["type"]
            parsed[raw["type"]] = parsed.get(raw["type"], 0) + 1
        else:
            assert event is None
    assert {"StasisStart", "StasisEnd", "ChannelDtmfReceived", "PlaybackFinished",
            "ChannelEnteredBridge", "BridgeDestroyed", "Dial"} <= set(parsed)


def test_recorded_stasis_start_and_playbacks() -> None:
    raws = recorded_events()
    start = next(parse_event(r) for r in raws
                 if r["type"] == "StasisStart" and r["args"] == ["takeover", "caller"])
    assert isinstance(start, events.StasisStart)
    assert start.channel.id == "caller-phone;2" and start.application == "payivr"
    assert start.args == ("takeover", "caller")

    failed = [parse_event(r) for r in raws if r["type"] == "PlaybackFinished"
              and r["playback"]["state"] == "failed"]
    assert failed and all(isinstance(e, events.PlaybackFinished) for e in failed)
    assert failed[0].channel_ids == ("caller-leg",)

    continuing = next(parse_event(r) for r in raws if r["type"] == "PlaybackContinuing")
    assert isinstance(continuing, events.PlaybackContinuing)
    assert continuing.playback.next_media_uri == "sound:dollars"


def test_dtmf_digit_never_in_repr() -> None:
    event = parse_event(event_json("ChannelDtmfReceived", digit="#", duration_ms=120,
                                   channel=channel_json("caller-leg")))
    assert isinstance(event, events.ChannelDtmfReceived)
    assert event.digit == "#" and event.duration_ms == 120
    assert "#" not in repr(event) and "#" not in str(event)


def test_bridge_events_route_by_channel_and_bridge() -> None:
    left = parse_event(event_json("ChannelLeftBridge", channel=channel_json("c1"),
                                  bridge={"id": "payivr-b", "bridge_type": "mixing",
                                          "channels": []}))
    destroyed = parse_event(event_json("BridgeDestroyed", bridge={"id": "payivr-b",
                                                                  "channels": []}))
    assert left is not None and left.channel_ids == ("c1",) and left.bridge_id == "payivr-b"
    assert destroyed is not None and destroyed.channel_ids == () and \
        destroyed.bridge_id == "payivr-b"


def test_unknown_type_is_skipped() -> None:
    assert parse_event(event_json("ChannelTalkingStarted", channel=channel_json("c1"))) is None
    assert parse_event(json.dumps({"type": "SomethingFromAsterisk30"})) is None


@pytest.mark.parametrize(
    ("raw", "event_type"),
    [
        ("not json {", None),
        ("[1, 2]", None),
        (json.dumps({"no": "type"}), None),
        (b"\xff\xfe", None),
        (json.dumps(event_json("ChannelDtmfReceived", digit="9")), "ChannelDtmfReceived"),
        (json.dumps(event_json("ChannelDtmfReceived", digit=9, duration_ms=1,
                               channel=channel_json("c"))), "ChannelDtmfReceived"),
        (json.dumps(event_json("StasisStart", args="x", channel=channel_json("c"))),
         "StasisStart"),
        (json.dumps(event_json("StasisEnd", channel={"name": "no id"})), "StasisEnd"),
        (json.dumps({"type": "StasisEnd", "channel": channel_json("c")}), "StasisEnd"),
    ],
)
def test_malformed_raises_without_payload(raw: str | bytes, event_type: str | None) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_event(raw)
    assert info.value.event_type == event_type
    assert "9" not in str(info.value)
