"""``TALK_DETECT``: ``ChannelTalkingStarted`` and ``ChannelTalkingFinished`` on the channels
that set it, from the only audio the simulator has, playbacks (a ``tone:`` stands for a voice)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import SimChannel

if TYPE_CHECKING:
    from .engine import Engine


class TalkDetector:
    """Which channels detect talking, and whether each hears audio now."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._check_pending = False
        self._detectors: set[str] = set()  # ids of channels with TALK_DETECT set

    def set(self, channel: SimChannel, value: str | None) -> None:
        """``TALK_DETECT(set)=<silence ms>[,<talking threshold>]``, or ``TALK_DETECT(remove)``."""
        if channel.talk_end_timer is not None:
            channel.talk_end_timer.cancel()
            channel.talk_end_timer = None
        channel.talking_since = None
        if value is None:
            channel.talk_detect = None
            self._detectors.discard(channel.id)
            return
        silence_ms = value.split(",", 1)[0].strip() or "2500"  # func_talkdetect's default
        channel.talk_detect = int(silence_ms) / 1000
        self._detectors.add(channel.id)
        self.changed()

    def changed(self) -> None:
        """Audio paths changed (a playback, a bridge, a hangup): look again, once."""
        if self._detectors and not self._check_pending:
            self._check_pending = True
            self.engine.clock.loop.call_soon(self._detect_talking)

    def hanging_up(self, channel: SimChannel) -> None:
        """``channel`` is going away: its detector stops, the others look again."""
        if channel.talk_end_timer is not None:
            channel.talk_end_timer.cancel()
        self.changed()
        self._detectors.discard(channel.id)

    def _detect_talking(self) -> None:
        """``TALK_DETECT`` reports the audio a channel reads: here, any playback heard on
        the channel (played to it, or to a channel whose audio reaches it through Local
        pairs and bridges). Talking starts at once and finishes after the silence."""
        self._check_pending = False
        channels = self.engine.channels
        detecting = [
            c for c in map(channels.get, self._detectors) if c is not None and not c.hanging_up
        ]
        if not detecting:
            return
        reading: set[str] = set()
        for source in list(channels.values()):
            if source.playing is not None and not source.muted_out and not source.hanging_up:
                self.engine.media.audio_to(source, [], reading)
        now = self.engine.clock.now()
        for channel in detecting:
            assert channel.talk_detect is not None
            hears = channel.id in reading
            if hears and channel.talk_end_timer is not None:
                channel.talk_end_timer.cancel()  # talking again within the silence
                channel.talk_end_timer = None
            elif hears and channel.talking_since is None:
                channel.talking_since = now
                self.engine.router.emit_channel(channel, "ChannelTalkingStarted")
            elif not hears and channel.talking_since is not None and channel.talk_end_timer is None:
                channel.talk_end_timer = self.engine.clock.call_later(
                    channel.talk_detect, self._talking_finished, channel
                )

    def _talking_finished(self, channel: SimChannel) -> None:
        channel.talk_end_timer = None
        if channel.talking_since is None or channel.hanging_up:
            return
        duration = self.engine.clock.now() - channel.talking_since
        channel.talking_since = None
        self.engine.router.emit_channel(
            channel, "ChannelTalkingFinished", duration=round(duration * 1000)
        )
