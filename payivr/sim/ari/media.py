"""Media: what each phone hears (bridges, Local pairs, snoops, mutes, hold, music on hold)
and playbacks (queued per channel or bridge, timed on the simulated clock)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .events import SimulatedAriError
from .model import SimBridge, SimChannel, SimPlayback

if TYPE_CHECKING:
    from .engine import Engine
    from .phones import SimPhone

CONTROLLABLE_SCHEMES = ("sound:", "recording:", "tone:")
SAY_SECONDS_PER_ITEM = 0.6


class Media:
    """Sound between channels, and playbacks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.playbacks: dict[str, SimPlayback] = {}

    def _listens_to_bridge(self, channel: SimChannel) -> bool:
        return not (channel.muted_out or channel.playing or channel.moh_class or channel.silence)

    @staticmethod
    def _suspended_from_bridge(channel: SimChannel) -> bool:
        """A channel playback on a bridged channel runs as a bridge action on Asterisk 22
        (res_stasis_playback → ast_bridge_channel_queue_playfile_sync): the channel is
        suspended from the bridge until the prompt ends, so nothing it says reaches the
        others (and it hears none of them, see :meth:`_listens_to_bridge`)."""
        return channel.playing is not None

    def audible_phones(self, speaker: SimChannel) -> list[SimPhone]:
        """Phones the voice of ``speaker``'s device reaches right now."""
        if speaker.muted_in or speaker.on_hold:
            return []
        found: list[SimPhone] = []
        self._audio_from(speaker, found, set())
        return found

    def _audio_from(self, channel: SimChannel, found: list[SimPhone], seen: set[str]) -> None:
        if channel.id in seen:
            return
        seen.add(channel.id)
        bridge = channel.bridge
        if bridge is None or channel.bridge_muted or bridge.moh_class or bridge.holding:
            return  # a holding bridge's participants do not hear each other
        if self._suspended_from_bridge(channel):
            return
        for other in bridge.channels:
            if other is not channel and self._listens_to_bridge(other):
                self.audio_to(other, found, seen)

    def audio_to(self, channel: SimChannel, found: list[SimPhone], seen: set[str]) -> None:
        if channel.phone is not None:
            if channel.phone not in found:
                found.append(channel.phone)
        elif channel.local_peer is not None and not channel.local_peer.muted_in:
            self._audio_from(channel.local_peer, found, seen)

    def media_to(self, channel: SimChannel, uri: str) -> None:
        """Media played to ``channel``: its device hears it (through Local peers too)."""
        if channel.muted_out:
            return
        if channel.recording is not None and not channel.recording.write_muted:
            channel.recording.entries.append(uri)
        if channel.snoop_target is not None:
            if channel.snoop_whisper in ("out", "both"):
                self.media_to(channel.snoop_target, uri)
            return
        phones: list[SimPhone] = []
        self.audio_to(channel, phones, set())
        for phone in phones:
            phone.heard.append(uri)
            phone.changed()

    def media_duration(self, uri: str, language: str) -> float | None:
        scheme, _, value = uri.partition(":")
        if scheme == "sound":
            return self.engine.sounds.duration(value, language)
        if scheme in ("number", "digits", "characters"):
            if scheme == "number" and not value.lstrip("-").isdigit():
                return None
            return SAY_SECONDS_PER_ITEM * _say_items(uri)
        if scheme == "tone":
            return float("inf")
        return None

    def play(
        self,
        target: SimChannel | SimBridge,
        media: list[str],
        language: str | None,
        playback_id: str | None,
        skipms: int,
    ) -> SimPlayback:
        if isinstance(target, SimChannel):
            kind, lang = "channel", language or target.language
        else:
            kind, lang = "bridge", language or "en"
        playback = SimPlayback(
            id=playback_id or str(uuid.uuid4()),
            media=list(media),
            target_kind=kind,
            target_id=target.id,
            language=lang,
            skipms=skipms,
        )
        self.playbacks[playback.id] = playback
        target.playback_queue.append(playback)
        if target.playing is None:
            self.engine.clock.loop.call_soon(self._next_playback, target)
        return playback

    def _playback_apps(self, playback: SimPlayback) -> set[str]:
        if playback.target_kind == "channel":
            channel = self.engine.channels.get(playback.target_id)
            return self.engine.router.channel_apps(channel) if channel is not None else set()
        bridge = self.engine.bridges.get(playback.target_id)
        return self.engine.router.bridge_apps(bridge) if bridge is not None else set()

    def _emit_playback(self, playback: SimPlayback, event_type: str) -> None:
        apps = self._playback_apps(playback)
        if apps:
            self.engine.router.emit(apps, event_type, {"playback": playback.snapshot()})

    def _playback_target(self, playback: SimPlayback) -> SimChannel | SimBridge | None:
        if playback.target_kind == "channel":
            return self.engine.channels.get(playback.target_id)
        return self.engine.bridges.get(playback.target_id)

    def _next_playback(self, target: SimChannel | SimBridge) -> None:
        if target.playing is not None or not target.playback_queue:
            return
        if isinstance(target, SimChannel) and (target.destroyed or target.hanging_up):
            return
        playback = target.playback_queue.popleft()
        target.playing = playback
        if isinstance(target, SimChannel) and target.moh_class:
            target.moh_class = None  # media operations suspend MOH without resuming it
        self._play_item(playback)

    def _play_item(self, playback: SimPlayback) -> None:
        playback.state = "playing"
        self._emit_playback(playback, "PlaybackStarted")
        duration = self.media_duration(playback.media_uri, playback.language)
        if duration is None:
            if playback.index + 1 < len(playback.media):
                self._item_done(playback)
            else:
                self._finish_playback(playback, "failed")
            return
        self.engine.talk.changed()
        target = self._playback_target(playback)
        if isinstance(target, SimChannel):
            self.media_to(target, playback.media_uri)
        elif isinstance(target, SimBridge):
            for member in target.channels:
                self.media_to(member, playback.media_uri)
        if duration != float("inf"):
            playback.item_ends_at = self.engine.clock.now() + duration
            playback.timer = self.engine.clock.call_later(duration, self._item_done, playback)

    def _item_done(self, playback: SimPlayback) -> None:
        playback.timer = None
        if playback.index + 1 < len(playback.media):
            playback.state = "continuing"
            self._emit_playback(playback, "PlaybackContinuing")
            playback.index += 1
            self._play_item(playback)
        else:
            self._finish_playback(playback, "done")

    def _finish_playback(self, playback: SimPlayback, state: str) -> None:
        if playback.timer is not None:
            playback.timer.cancel()
            playback.timer = None
        playback.state = state
        self._emit_playback(playback, "PlaybackFinished")
        self.playbacks.pop(playback.id, None)
        self.engine.talk.changed()
        target = self._playback_target(playback)
        if target is not None and target.playing is playback:
            target.playing = None
            self.engine.clock.loop.call_soon(self._next_playback, target)

    def playback(self, playback_id: str) -> SimPlayback:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise SimulatedAriError(404, "Playback not found")
        return playback

    def stop_playback(self, playback_id: str) -> None:
        playback = self.playback(playback_id)
        target = self._playback_target(playback)
        if playback.state == "queued":
            if target is not None and playback in target.playback_queue:
                target.playback_queue.remove(playback)
            self._finish_playback(playback, "done")
            return
        if not playback.media_uri.startswith(CONTROLLABLE_SCHEMES):
            # res_stasis_playback: number:/digits: are not controllable; the list plays on.
            raise SimulatedAriError(500, "Could not stop playback")
        self._finish_playback(playback, "done")

    def control_playback(self, playback_id: str, operation: str) -> None:
        playback = self.playback(playback_id)
        if playback.state != "playing":
            raise SimulatedAriError(409, "Can only control playing playbacks")
        if not playback.media_uri.startswith(CONTROLLABLE_SCHEMES):
            raise SimulatedAriError(500, "Playback operation failed")
        now = self.engine.clock.now()
        if operation == "pause":
            if playback.paused_remaining is None and playback.timer is not None:
                playback.paused_remaining = max(0.0, playback.item_ends_at - now)
                playback.timer.cancel()
                playback.timer = None
            return
        remaining = playback.paused_remaining
        if remaining is None:
            remaining = max(0.0, playback.item_ends_at - now)
        if operation == "unpause" and playback.paused_remaining is None:
            return
        duration = self.media_duration(playback.media_uri, playback.language) or 0.0
        if operation == "restart":
            remaining = duration
        elif operation == "forward":
            remaining = max(0.0, remaining - playback.skipms / 1000)
        elif operation == "reverse":
            remaining = min(duration, remaining + playback.skipms / 1000)
        playback.paused_remaining = None
        if playback.timer is not None:
            playback.timer.cancel()
        if remaining != float("inf"):
            playback.item_ends_at = now + remaining
            playback.timer = self.engine.clock.call_later(remaining, self._item_done, playback)

    def stop_all_playbacks(self, target: SimChannel | SimBridge) -> None:
        while target.playback_queue:
            queued = target.playback_queue.popleft()
            self._finish_playback(queued, "done")
        if target.playing is not None:
            playing, target.playing = target.playing, None
            self._finish_playback(playing, "done")

    def mute(self, channel: SimChannel, direction: str, mute: bool) -> None:
        had_hook = channel.muted_in or channel.muted_out
        if direction in ("in", "both"):
            channel.muted_in = mute
        if direction in ("out", "both"):
            channel.muted_out = mute
        if had_hook != (channel.muted_in or channel.muted_out) and channel.bridge is not None:
            # attaching/detaching the suppress framehook makes the bridge reconfigure
            self.engine.bridging.reconfigure(channel.bridge)

    def start_moh(self, channel: SimChannel, moh_class: str | None) -> None:
        channel.moh_class = moh_class or "default"
        self.media_to(channel, f"moh:{channel.moh_class}")

    def stop_moh(self, channel: SimChannel) -> None:
        channel.moh_class = None

    def hold(self, channel: SimChannel, hold: bool) -> None:
        if channel.on_hold == hold:
            return
        channel.on_hold = hold
        self.engine.router.emit_channel(channel, "ChannelHold" if hold else "ChannelUnhold")
        if hold and channel.bridge is not None:
            for other in channel.bridge.channels:
                if other is not channel:
                    self.media_to(other, "moh:default")

    def bridge_moh(self, bridge: SimBridge, moh_class: str | None) -> None:
        bridge.moh_class = moh_class or "default"
        for member in bridge.channels:
            self.media_to(member, f"moh:{bridge.moh_class}")


def _say_items(uri: str) -> int:
    scheme, _, value = uri.partition(":")
    if scheme == "number":
        return max(1, len(value.lstrip("-")))
    return max(1, len(value))
