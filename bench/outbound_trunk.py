"""What payivr's dialer sees of a customer's leg on the outbound trunk that is not answered,
and one refused, on a real Asterisk: the ARI events of both, as JSONL (``--trace``).

The trunk is the Local-channel one of ``asterisk/test-dialplan.conf`` ([sim-ring]): the leg
is originated as the dialer originates it (``POST /channels`` into the application, with a
dial timeout); its far half enters this tool's harness application unanswered, rings, and
then is left ringing until the dial timeout, or refused as a SIP 486 Busy Here is (Q.850
cause 17).

    python bench/outbound_trunk.py --url http://127.0.0.1:8088 --password-file \\
        asterisk/.secrets/ari_password [--trace FILE]
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from ari_recorder import Recorder, print_measured

from payivr.ari.client import AriClient

RUN = "77"
PAYIVR = f"payivr-{RUN}"
HARNESS = f"harness-{RUN}"
TRUNK = f"Local/{RUN}-15550100@sim-ring"
BUSY_CAUSE = 17  # chan_pjsip's cause for a 486 response
CALLS = {"ob-unanswered": None, "ob-refused": BUSY_CAUSE}  # leg id: the far end's refusal


async def record(url: str, password: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    destroyed: dict[str, dict[str, Any]] = {}
    async with AriClient(url, "payivr", password) as ari, aiohttp.ClientSession() as http:
        recorder = Recorder(http)
        changed = asyncio.Event()
        phones: list[asyncio.Task[None]] = []
        sockets = [await recorder.events_socket(ari, app) for app in (PAYIVR, HARNESS)]

        async def far_end(far: dict[str, Any]) -> None:
            """The customer's phone: rings, then refuses when its call says so."""
            leg = far["name"][: -len(";2")] + ";1"
            call = next(
                c["id"] for c in await ari.request("GET", "channels") if c["name"] == leg
            )
            await recorder.rest(ari, "POST", "channels", far["id"], "ring")
            cause = CALLS[call]
            if cause is not None:
                await asyncio.sleep(1.0)
                await recorder.rest(
                    ari, "DELETE", "channels", far["id"], params={"reason_code": str(cause)}
                )

        async def read(app: str, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                event = json.loads(message.data)
                recorder.event(event, app)
                if event["type"] == "StasisStart" and app == HARNESS:
                    phones.append(asyncio.create_task(far_end(event["channel"])))
                if event["type"] == "ChannelDestroyed" and event["channel"]["id"] in CALLS:
                    destroyed[event["channel"]["id"]] = event
                changed.set()

        tasks = [
            asyncio.create_task(read(app, ws)) for app, ws in zip((PAYIVR, HARNESS), sockets, strict=True)
        ]
        try:
            for leg in CALLS:
                await recorder.rest(ari, "POST", "channels", params={
                    "endpoint": TRUNK, "app": PAYIVR, "appArgs": "outbound,customer,k",
                    "channelId": leg, "callerId": "Acme <+15550199>", "timeout": "3"})
            while len(destroyed) < len(CALLS):
                changed.clear()
                await asyncio.wait_for(changed.wait(), 10)
            await asyncio.sleep(0.5)
        finally:
            for ws in sockets:
                await ws.close()
            for task in tasks + phones:
                task.cancel()
            await asyncio.gather(*tasks, *phones, return_exceptions=True)
    result = {
        leg: {
            "cause": destroyed[leg]["cause"],
            "dial_statuses": [
                e["dialstatus"]
                for _, e in recorder.events
                if e["type"] == "Dial" and e["peer"]["id"] == leg
            ],
        }
        for leg in CALLS
    }
    return result, recorder.lines


def main() -> None:
    print_measured(__doc__, record)


if __name__ == "__main__":
    main()
