"""Replay the client side of a real Asterisk 22.10.1 AMI session against the simulator.

Every server message must come back with the same fields in the same order; only values
that differ from one run to the next (clocks, session ids, addresses) are not compared.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ami_scene import WIRE, build_scene, press_star_seven
from panoramisk.message import Message

from payivr.sim.ami.server import AmiSimulator

VARYING = {
    "Timestamp", "EventTV", "SessionTV", "SessionID", "LocalAddress", "RemoteAddress",
    "Uptime", "LastReload", "Duration",
}  # fmt: skip


@dataclass
class Step:
    kind: str  # "send", "expect", "reconnect"
    lines: list[str]


def load_wire() -> list[Step]:
    steps: list[Step] = []
    for raw in WIRE.read_text().splitlines():
        if raw.startswith("---"):
            steps.append(Step("reconnect", []))
            continue
        kind = {">>>": "send", "<<<": "expect"}[raw[:3]]
        line = raw[4:]
        if not line:
            if steps and steps[-1].kind == kind and steps[-1].lines:
                steps.append(Step(kind, []))
            continue
        if not steps or steps[-1].kind != kind or (
            kind == "expect" and steps[-1].lines and steps[-1].lines[0].startswith("Asterisk Call")
        ):
            steps.append(Step(kind, []))
        steps[-1].lines.append(line)
    return [s for s in steps if s.lines or s.kind == "reconnect"]


def fields(lines: list[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (line.partition(": ") for line in lines)]


class Wire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def banner(self) -> str:
        return (await self.reader.readuntil(b"\r\n")).decode()

    async def message(self) -> str:
        return (await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)).decode()


async def test_simulator_answers_like_asterisk_22() -> None:
    pbx = build_scene()
    sim = AmiSimulator(pbx, users={"payivr": "payivr"})
    await sim.start()
    wire = Wire(*await asyncio.open_connection("127.0.0.1", sim.port))
    compared = 0
    try:
        for step in load_wire():
            if step.kind == "reconnect":
                assert await wire.reader.read() == b""  # Asterisk closed the connection
                wire.writer.close()
                wire = Wire(*await asyncio.open_connection("127.0.0.1", sim.port))
            elif step.kind == "send":
                wire.writer.write("".join(f"{line}\r\n" for line in step.lines).encode() + b"\r\n")
            elif step.lines[0].startswith("Asterisk Call Manager/"):
                assert await wire.banner() == step.lines[0] + "\r\n"
            else:
                if step.lines[0] == "Event: UserEvent":
                    press_star_seven(pbx)
                text = await wire.message()
                got = fields(text[: -len("\r\n\r\n")].split("\r\n"))
                want = fields(step.lines)
                assert [k for k, _ in got] == [k for k, _ in want], text
                for (key, got_value), (_, want_value) in zip(got, want, strict=True):
                    if key not in VARYING:
                        assert got_value == want_value, (key, text)
                # panoramisk's own parser (as AMIProtocol calls it) reads the same message;
                # it strips the text, so an empty last header (BridgeId: ) is dropped.
                parsed = Message.from_line(text.strip())
                assert parsed is not None
                for key, value in want:
                    if value and key not in VARYING:
                        assert parsed[key] == value
                compared += 1
        assert await wire.reader.read() == b""  # closed after Logoff
    finally:
        wire.writer.close()
        await sim.close()
    assert compared == 23
    assert pbx.channel("Local/s@sim-dial-0000000c;2").context == "payivr-takeover"
    assert pbx.channel("Local/agent@sim-agent-0000000d;1").exten == "agent"
    assert pbx.bridges() == []
