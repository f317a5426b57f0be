"""Record, on a real Asterisk, what an application sees of the other half of a Local channel
it originated: Asterisk subscribes it to that half (``GET /applications`` lists it, its events
arrive), though the half runs elsewhere — here ``Stasis()`` of another application, as an
agent phone of ``asterisk/test-dialplan.conf`` ([sim-agent]) does. The subscription outlives
a reconnect of the event WebSocket; the channel's ``dialplan`` (``Stasis`` and the other
application's name) tells the two halves apart. Writes the JSONL of
``tests/fixtures/ari/traces`` (replayed by ``tests/ari_simulator/test_trace_replay.py``).

    python bench/local_peer_trace.py --url http://127.0.0.1:8088 --password-file \\
        asterisk/.secrets/ari_password --trace FILE
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from ari_recorder import Recorder, command_line

from payivr.ari.client import AriClient

RUN = "78"
PAYIVR = f"payivr-{RUN}"
HARNESS = f"harness-{RUN}"


async def record(url: str, password: str) -> list[dict[str, Any]]:
    async with AriClient(url, "payivr", password) as ari, aiohttp.ClientSession() as http:
        recorder = Recorder(http)
        arrived = asyncio.Event()

        async def listen(app: str) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.Task[None]]:
            ws = await recorder.events_socket(ari, app)

            async def read() -> None:
                async for message in ws:
                    recorder.event(json.loads(message.data), app)
                    arrived.set()

            return ws, asyncio.create_task(read())

        async def seen(kind: str, channel: str) -> None:
            while not any(line["kind"] == "event" and line["event"]["type"] == kind
                          and line["event"].get("channel", {}).get("id") == channel
                          for line in recorder.lines):
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), 10)

        sockets = dict([(HARNESS, await listen(HARNESS)), (PAYIVR, await listen(PAYIVR))])
        try:
            await recorder.rest(ari, "POST", "channels", params={
                "endpoint": f"Local/{RUN}-agent@sim-agent/n", "app": PAYIVR,
                "channelId": "lp-agent"})
            await seen("StasisStart", "lp-agent")
            await seen("StasisStart", "lp-agent;2")
            await asyncio.sleep(0.5)
            await recorder.rest(ari, "GET", "applications", PAYIVR)
            # payivr's socket drops and comes back: what does it own now?
            ws, task = sockets[PAYIVR]
            await ws.close()
            await asyncio.gather(task, return_exceptions=True)
            sockets[PAYIVR] = await listen(PAYIVR)
            recorder.lines.append({"t": recorder.now(), "kind": "reconnect", "app": PAYIVR})
            await asyncio.sleep(0.5)
            await recorder.rest(ari, "GET", "applications", PAYIVR)
            await recorder.rest(ari, "GET", "channels")
            # Only this recording's channels (others' calls may share the Asterisk).
            recorder.lines[-1]["body"] = [
                c for c in recorder.lines[-1]["body"] if c["id"].startswith("lp-")]
            await recorder.rest(ari, "DELETE", "channels", "lp-agent")
            await seen("ChannelDestroyed", "lp-agent;2")
            await asyncio.sleep(0.5)
            await recorder.rest(ari, "GET", "applications", PAYIVR)
        finally:
            for ws, task in sockets.values():
                await ws.close()
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    return recorder.lines


def main() -> None:
    target = command_line(__doc__, trace_required=True)
    target.write(asyncio.run(record(target.url, target.password)))


if __name__ == "__main__":
    main()
