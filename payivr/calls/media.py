"""The caller's ears over ARI: prompt parts become media URIs played on the caller's channel.

Each part is played as its own single-item playback: Asterisk 22 answers 500 ("Could not
stop playback") to stopping a multi-item playback and keeps playing the list (see the
recorded traces), which would break barge-in. One item at a time, a stop always works.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from payivr.ari import media as uri
from payivr.ari.client import AriClient
from payivr.ari.errors import AriError, ChannelGone, NotFound
from payivr.calls.driver import CallGone
from payivr.core.events import (
    Prompt,
    PromptFinished,
    PromptPart,
    SayDigits,
    SayNumber,
)


def media_uri(part: PromptPart, language: str) -> str:
    if isinstance(part, Prompt):
        return uri.sound(f"payivr/{language}/{part.id}")
    if isinstance(part, SayNumber):
        return uri.number(part.value)
    if isinstance(part, SayDigits):
        return uri.digits(part.digits)
    return uri.characters(part.text)


@dataclass
class _Playing:
    sequence: int
    remaining: list[str]
    playback_id: str = ""
    parts_started: int = field(default=0)


class CallerPrompts:
    """Plays prompts to one channel and reports ``PromptFinished`` through ``post``."""

    def __init__(
        self,
        ari: AriClient,
        channel_id: str,
        playback_prefix: str,
        language: str,
        post: Callable[[PromptFinished], None],
    ) -> None:
        self._ari = ari
        self.channel_id = channel_id
        self._prefix = playback_prefix
        self._language = language
        self._post = post
        self._playing: _Playing | None = None

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        self._playing = _Playing(sequence, [media_uri(part, self._language) for part in parts])
        await self._next()

    async def stop(self, sequence: int) -> None:
        playing = self._playing
        if playing is None or playing.sequence != sequence:
            return
        self._playing = None
        # Best effort: Asterisk answers 500 "Could not stop playback" while a number:/digits:
        # part plays (the caller keyed during the read-back); that part then plays on.
        with contextlib.suppress(AriError):
            await self._ari.playbacks.stop(playing.playback_id)

    async def stop_playing(self) -> None:
        """Stop whatever plays now, if anything; best effort (used when giving up)."""
        playing, self._playing = self._playing, None
        if playing is not None and playing.playback_id:
            with contextlib.suppress(AriError):
                await self._ari.playbacks.stop(playing.playback_id)

    async def resync(self) -> None:
        """After a gap in the events: a part that ended unseen is treated as ended.

        Asterisk keeps no events while the WebSocket is down, so the ``PlaybackFinished`` of
        the part playing may be lost; asking for the playback tells (404: it is over).
        """
        playing = self._playing
        if playing is None or not playing.playback_id:
            return
        try:
            await self._ari.playbacks.get(playing.playback_id)
        except ChannelGone:
            raise CallGone(self.channel_id) from None
        except NotFound:
            if self._playing is playing:
                await self._next()

    async def playback_finished(self, playback_id: str) -> None:
        """Called for each ``PlaybackFinished`` on the channel (done or failed)."""
        playing = self._playing
        if playing is None or playback_id != playing.playback_id:
            return
        await self._next()

    async def _next(self) -> None:
        playing = self._playing
        if playing is None:
            return
        if not playing.remaining:
            self._playing = None
            self._post(PromptFinished(playing.sequence))
            return
        media = playing.remaining.pop(0)
        playing.parts_started += 1
        playing.playback_id = f"{self._prefix}{playing.sequence}-{playing.parts_started}"
        try:
            await self._ari.channels.play(
                self.channel_id, media, playback_id=playing.playback_id, lang=self._language
            )
        except ChannelGone:
            self._playing = None
            raise CallGone(self.channel_id) from None
        except AriError:
            # Asterisk could not start it: skip to the next part rather than stall the caller.
            await self._next()
