"""Talk-through on a real Asterisk: how much of a prompt's time the agent's phone receives the
caller's audio, and how much between prompts.

Two Local-channel phones of ``asterisk/test-dialplan.conf`` ([sim-agent]; both halves in this
tool's own Stasis application): the legs are bridged as payivr bridges caller and agent
(``mixing,dtmf_events``, with a silent third party); the caller's phone sends a continuous tone; ``TALK_DETECT`` on the
agent's phone reports when audio reaches it. A prompt is played on the caller's leg (as
payivr plays every prompt in talk-through mode), then the same time passes without one.
Every ARI request and event is written as JSONL (``--trace``), the format of
``tests/fixtures/ari/traces``.

    python bench/talk_through.py --url http://127.0.0.1:8088 --password-file \\
        asterisk/.secrets/ari_password [--trace FILE]
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from ari_recorder import Recorder, print_measured

from payivr.ari.client import AriClient

RUN = "77"
APP = f"harness-{RUN}"
PROMPT = "sound:payivr/en/enter-card-number"
SILENCE_MS = 200  # TALK_DETECT: audio absent this long ends "talking"


def talking_seconds(events: list[tuple[float, dict[str, Any]]], channel: str,
                    start: float, end: float) -> float:
    """Seconds within [start, end] during which TALK_DETECT said audio reached ``channel``."""
    total, since = 0.0, None
    for at, event in events:
        if event.get("channel", {}).get("id") != channel:
            continue
        if event["type"] == "ChannelTalkingStarted":
            since = at
        elif event["type"] == "ChannelTalkingFinished" and since is not None:
            # Finished comes SILENCE_MS after the audio stopped.
            stop = at - SILENCE_MS / 1000
            total += max(0.0, min(stop, end) - max(since, start))
            since = None
    if since is not None:
        total += max(0.0, end - max(since, start))
    return total


async def measure(url: str, password: str) -> tuple[dict[str, float], list[dict[str, Any]]]:
    async with AriClient(url, "payivr", password) as ari, aiohttp.ClientSession() as http:
        recorder = Recorder(http)
        ari_events: asyncio.Queue[None] = asyncio.Queue()
        ws = await recorder.events_socket(ari, APP)

        async def read() -> None:
            async for message in ws:
                recorder.event(json.loads(message.data), APP)
                ari_events.put_nowait(None)

        task = asyncio.create_task(read())
        try:
            for phone in ("caller", "agent", "room"):
                await recorder.rest(ari, "POST", "channels", params={
                    "endpoint": f"Local/{RUN}-{phone}@sim-agent/n", "app": APP,
                    "channelId": f"tt-{phone}", "otherChannelId": f"tt-{phone}-leg"})
            await asyncio.sleep(1.0)
            await recorder.rest(ari, "POST", "bridges", params={
                "type": "mixing,dtmf_events", "bridgeId": "tt-call"})
            await recorder.rest(ari, "POST", "bridges", "tt-call", "addChannel",
                                params={"channel": "tt-agent-leg"})
            await recorder.rest(ari, "POST", "bridges", "tt-call", "addChannel",
                                params={"channel": "tt-caller-leg", "absorbDTMF": "true"})
            # A silent third party makes the bridge mix (softmix), which sends the agent a
            # frame every 20 ms, silence included: TALK_DETECT then sees audio stop.
            await recorder.rest(ari, "POST", "bridges", "tt-call", "addChannel",
                                params={"channel": "tt-room-leg"})
            await recorder.rest(ari, "POST", "channels", "tt-agent", "variable", params={
                "variable": "TALK_DETECT(set)", "value": str(SILENCE_MS)})
            await recorder.rest(ari, "POST", "channels", "tt-caller", "play", params={
                "media": "tone:440", "playbackId": "tt-voice"})
            await asyncio.sleep(2.0)
            prompt_start = time.monotonic() - recorder.start
            await recorder.rest(ari, "POST", "channels", "tt-caller-leg", "play", params={
                "media": PROMPT, "playbackId": "tt-prompt"})
            while not any(e.get("type") == "PlaybackFinished"
                          and e["playback"]["id"] == "tt-prompt" for _, e in recorder.events):
                await ari_events.get()
            prompt_end = time.monotonic() - recorder.start
            await asyncio.sleep(prompt_end - prompt_start)
            after_end = time.monotonic() - recorder.start
            # The agent's phone first: no ChannelTalkingFinished races its hangup. Then the
            # Local halves' hangups before the bridge's end, in a reproducible order.
            for channel in ("tt-agent", "tt-caller", "tt-room"):
                await recorder.rest(ari, "DELETE", "channels", channel)
            await asyncio.sleep(0.5)
            await recorder.rest(ari, "DELETE", "bridges", "tt-call")
            await asyncio.sleep(0.5)
        finally:
            await ws.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    prompt = prompt_end - prompt_start
    result = {
        "prompt_seconds": round(prompt, 2),
        "agent_hears_caller_during_prompt": round(
            talking_seconds(recorder.events, "tt-agent", prompt_start, prompt_end) / prompt, 3),
        "agent_hears_caller_after_prompt": round(
            talking_seconds(recorder.events, "tt-agent", prompt_end, after_end)
            / (after_end - prompt_end), 3),
    }
    return result, recorder.lines


def main() -> None:
    print_measured(__doc__, measure)


if __name__ == "__main__":
    main()
