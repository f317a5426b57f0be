"""Fidelity (3): replaying the recorded REST sequences (and the phone actions the recordings
show) against the simulator gives, per application and channel, the recorded event types in
the recorded order, the recorded HTTP statuses, and the digits each softphone received."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from payivr.sim.ari import AriSimulator, UserEventRaised

from .conftest import EventValidator
from .helpers import PASSWORD, USER, AriTestClient, EventStream, load_trace

TIME_SCALE = 0.1


@dataclass
class Scenario:
    trace: str
    apps: list[str]
    dialplan: str = ""
    durations: dict[str, float | None] = field(default_factory=dict)
    sip_call: bool = False
    # (t, phone, action, argument) the recording shows without a REST line
    phone_actions: list[tuple[float, str, str, str]] = field(default_factory=list)


AGENT_PHONES = """
[sim-agent]
exten => _X.,1,Answer()
 same => n,Stasis(harness-${CUT(EXTEN,-,1)},agentphone)
 same => n,Hangup()
"""
"""The phones of asterisk/test-dialplan.conf: Local channels whose far half is the harness's."""

SCENARIOS = [
    Scenario(
        "bridge-absorbdtmf-hold-play-hangup.jsonl",
        apps=["payivr", "harness"],
        dialplan="""
[payivr-test]
exten => s,1,Answer()
 same => n,Stasis(payivr,test)
""",
        durations={"beep": 0.44, "no-such-sound-xyz": None},
    ),
    Scenario(
        "takeover-feature-code-ami-redirect.jsonl",
        apps=["payivr", "harness"],
        dialplan="""
[sim-dial]
exten => s,1,Answer()
 same => n,Set(__DYNAMIC_FEATURES=payivr)
 same => n,Dial(Local/agent@sim-agent/n,,)
[sim-agent]
exten => agent,1,Answer()
 same => n,Stasis(harness,agentphone)
""",
    ),
    Scenario(
        # payivr dials an agent through a Local channel whose far half is another
        # application's (the agent phones of asterisk/test-dialplan.conf): payivr's application
        # is subscribed to that half, before and after its socket reconnects.
        "local-peer-subscribed-not-in-stasis.jsonl",
        apps=["payivr-78", "harness-78"],
        dialplan=AGENT_PHONES,
    ),
    Scenario(
        # bench/talk_through.py: a tone from the caller's phone reaches the agent's phone
        # (TALK_DETECT on it) except while a prompt plays on the caller's bridged leg.
        "talk-through-prompt-suspends-caller.jsonl",
        apps=["harness-77"],
        dialplan=AGENT_PHONES,
        durations={"payivr/en/enter-card-number": 6.423},
    ),
    Scenario(
        "sip-takeover-mixing-bridge-leaks-dtmf.jsonl",
        apps=["payivr"],
        durations={"beep": 0.44},
        sip_call=True,
        phone_actions=[
            (4.80, "agent", "press", "*7"),
            (6.542, "customer", "press", "4242"),
            (9.834, "customer", "press", "99"),
            (12.484, "customer", "press", "5"),
            (15.60, "customer", "hangup", ""),
        ],
    ),
    Scenario(
        "sip-takeover-dtmf-events-bridge.jsonl",
        apps=["payivr"],
        durations={"beep": 0.44},
        sip_call=True,
        phone_actions=[
            (4.80, "agent", "press", "*7"),
            (6.540, "customer", "press", "4242"),
            (9.833, "customer", "press", "99"),
            (12.484, "customer", "press", "5"),
            (15.60, "customer", "hangup", ""),
        ],
    ),
]


def normalized(name: str) -> str:
    """``PJSIP/1002-0000000e`` -> ``PJSIP/1002``; ``Local/s@ctx-00000005;2`` -> ``Local/s@ctx;2``."""
    return re.sub(r"-[0-9a-f]{8}(;[12])?$", r"\1", name)


def client_chosen_ids(lines: list[dict[str, Any]]) -> set[str]:
    chosen: set[str] = set()
    for line in lines:
        if line["kind"] != "rest":
            continue
        for key in ("channelId", "otherChannelId", "bridgeId", "playbackId", "snoopId"):
            if key in line["params"]:
                chosen.add(line["params"][key])
                if key == "channelId" and "otherChannelId" not in line["params"]:
                    chosen.add(line["params"][key] + ";2")
    return chosen


def sequences(events: list[tuple[str, dict[str, Any]]], chosen: set[str]
              ) -> dict[tuple[str, str], list[str]]:
    """Event types per (application, channel or bridge), in order."""
    names: dict[str, str] = {}
    per_key: dict[tuple[str, str], list[str]] = defaultdict(list)
    for app, event in events:
        ids: list[str] = []
        keys: list[str] = []
        for role in ("channel", "peer", "caller"):
            if role in event:
                ids.append(event[role]["id"])
                names[event[role]["id"]] = event[role]["name"]
        if "playback" in event:
            kind, _, target = event["playback"]["target_uri"].partition(":")
            if kind == "channel":
                ids.append(target)
            else:
                keys.append("bridge:" + target)
        if "bridge" in event:
            keys.append("bridge:" + event["bridge"]["id"])
        for channel_id in ids:
            keys.append(channel_id if channel_id in chosen else normalized(names[channel_id]))
        for key in keys:
            per_key[(app, key)].append(event["type"])
    return dict(per_key)


class Replay:
    def __init__(self, scenario: Scenario, sim: AriSimulator, client: AriTestClient) -> None:
        self.scenario = scenario
        self.sim = sim
        self.client = client
        self.lines = load_trace(scenario.trace)
        self.chosen = client_chosen_ids(self.lines)
        self.recorded_names: dict[str, str] = {}
        for line in self.lines:
            if line["kind"] == "event":
                for role in ("channel", "peer", "caller"):
                    if role in line["event"]:
                        item = line["event"][role]
                        self.recorded_names[item["id"]] = normalized(item["name"])
        self.streams: dict[str, EventStream] = {}
        self.user_events: list[UserEventRaised] = []
        self.failures: list[str] = []
        self.phones: dict[str, Any] = {}
        self.digits_seen = 0
        self.arrived = asyncio.Event()

    def to_sim(self, recorded_id: str) -> str:
        if recorded_id in self.chosen or recorded_id not in self.recorded_names:
            return recorded_id
        wanted = self.recorded_names[recorded_id]
        for channel in self.sim.channels.values():
            if normalized(channel.name) == wanted:
                return channel.id
        return recorded_id

    def received(self) -> int:
        return sum(len(stream.events) for stream in self.streams.values())

    async def gate(self, count: int) -> None:
        try:
            async with asyncio.timeout(0.25):
                while self.received() < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            pass  # sockets' clocks differ by a millisecond: pacing only, compare() decides

    async def run(self) -> None:
        self.sim.add_listener(lambda e: self.user_events.append(e)
                              if isinstance(e, UserEventRaised) else None)
        for app in self.scenario.apps:
            self.streams[app] = await self.client.events(app)
            self.streams[app].also_notify.append(self.arrived)
        if self.scenario.sip_call:
            self.phones["customer"] = self.sim.add_phone("customer", "PJSIP/1002")
            self.phones["agent"] = self.sim.add_phone("agent", "PJSIP/1001")
            await self.sim.dial(self.phones["customer"], self.phones["agent"])
        # Before each step, wait for the events recorded strictly before it (a REST line is
        # logged after its response, so events of the same millisecond are its own).
        event_times = [line["t"] for line in self.lines if line["kind"] == "event"]

        def recorded_before(t: float) -> int:
            return sum(1 for event_t in event_times if event_t < t - 0.0005)

        steps: list[tuple[float, int, str, Any]] = []
        for position, line in enumerate(self.lines):
            if line["kind"] in ("rest", "ami_response", "agent_softphone_dtmf", "reconnect"):
                steps.append((line["t"], position, line["kind"], (line, recorded_before(line["t"]))))
        for t, phone, action, argument in self.scenario.phone_actions:
            steps.append((t, -1, "phone", ((phone, action, argument), recorded_before(t))))
        steps.sort(key=lambda step: (step[0], step[1]))
        loop = asyncio.get_running_loop()
        start = loop.time()
        for t, _, kind, (item, before) in steps:
            delay = start + t * TIME_SCALE - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self.gate(before)
            await self.perform(kind, item)
        await self.gate(len(event_times))
        await asyncio.sleep(0.3)

    async def perform(self, kind: str, item: Any) -> None:
        if kind == "phone":
            phone, action, argument = item
            if action == "press":
                await self.phones[phone].press(argument, duration_ms=180, gap_ms=140)
            else:
                await self.phones[phone].hangup()
        elif kind == "agent_softphone_dtmf":
            got = self.phones["agent"].received_dtmf[self.digits_seen:]
            self.digits_seen = len(self.phones["agent"].received_dtmf)
            if list(got) != item["digits"]:
                self.failures.append(f"agent softphone in {item['mode']}: got {got!r}, "
                                     f"recorded {item['digits']}")
        elif kind == "reconnect":
            # The application's socket closed and opened again: events go on in one list.
            old = self.streams[item["app"]]
            await old.close()
            stream = await self.client.events(item["app"])
            stream.events[:0] = old.events
            stream.also_notify.append(self.arrived)
            self.streams[item["app"]] = stream
        elif kind == "ami_response":
            request = next(line["event"] for line in self.lines
                           if line["kind"] == "ami_event"
                           and line["event"].get("UserEvent") == "PayIVRRequest")
            if not any(e.name == "PayIVRRequest"
                       and normalized(e.fields["Agent"]) == normalized(request["Agent"])
                       and normalized(e.fields["Peer"]) == normalized(request["Peer"])
                       for e in self.user_events):
                self.failures.append("no UserEvent PayIVRRequest naming the recorded channels")
            peer = self.find_by_name(request["Peer"])
            agent = self.find_by_name(request["Agent"])
            await self.sim.redirect(peer, "payivr-takeover", "caller", 1,
                                    extra_channel=agent, extra_exten="agent")
        else:
            await self.rest(item)

    def find_by_name(self, recorded_name: str) -> str:
        for channel in self.sim.channels.values():
            if normalized(channel.name) == normalized(recorded_name):
                return channel.id
        raise AssertionError(f"no channel like {recorded_name}")

    async def rest(self, line: dict[str, Any]) -> None:
        segments = [self.to_sim(segment) for segment in line["path"].split("/")]
        params = {}
        for key, value in line["params"].items():
            if key == "channel":
                value = ",".join(self.to_sim(part) for part in str(value).split(","))
            params[key] = value
        status, body = await self.client.request(line["method"], "/".join(segments), params)
        if status != line["status"]:
            self.failures.append(f"{line['method']} {line['path']}: {status} {body!r}, "
                                 f"recorded {line['status']} {line['body']!r}")
            return
        recorded = line["body"]
        if isinstance(recorded, dict) and "message" in recorded and body != recorded:
            self.failures.append(f"{line['path']}: body {body!r}, recorded {recorded!r}")
        if line["path"].startswith("/applications/"):
            ids = sorted(self.to_sim(i) for i in recorded["channel_ids"])
            if sorted(body["channel_ids"]) != ids or body["bridge_ids"] != recorded["bridge_ids"]:
                self.failures.append(f"application {body!r}, recorded {recorded!r}")
        if line["path"] == "/channels" and line["method"] == "GET":
            if len(body) != len(recorded):
                self.failures.append(
                    f"GET /channels: {len(body)} channels, recorded {len(recorded)}")
            # Where each channel is (Stasis of which application), when the recording says.
            where = {self.to_sim(c["id"]): (c["dialplan"]["app_name"], c["dialplan"]["app_data"])
                     for c in recorded if c["id"] in self.chosen}
            got = {c["id"]: (c["dialplan"]["app_name"], c["dialplan"]["app_data"])
                   for c in body if c["id"] in where}
            if got != where:
                self.failures.append(f"GET /channels dialplan {got}, recorded {where}")
        if line["path"].endswith("/play") and body.get("state") != recorded.get("state"):
            self.failures.append(f"play answered {body!r}, recorded {recorded!r}")

    def compare(self) -> None:
        recorded = sequences([(line["app"], line["event"]) for line in self.lines
                              if line["kind"] == "event"], self.chosen)
        produced = sequences([(app, event) for app, stream in self.streams.items()
                              for event in stream.events], self.chosen)
        for key in sorted(set(recorded) | set(produced)):
            if recorded.get(key) != produced.get(key):
                self.failures.append(f"{key}:\n  recorded {recorded.get(key)}\n"
                                     f"  simulator {produced.get(key)}")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.trace.split(".")[0])
async def test_replaying_a_recording_gives_the_recorded_events(
    scenario: Scenario, validator: EventValidator
) -> None:
    sim = AriSimulator(USER, PASSWORD, time_scale=TIME_SCALE, sound_durations=scenario.durations)
    sim.add_event_observer(validator)
    sim.dialplan.load(scenario.dialplan)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            replay = Replay(scenario, sim, AriTestClient(sim.base_url, session))
            await replay.run()
            replay.compare()
            for stream in replay.streams.values():
                await stream.close()
    finally:
        await sim.stop()
    assert replay.failures == [], "\n".join(replay.failures)
    assert validator.problems == []
