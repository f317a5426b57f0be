"""DTMF: keys read from and written to channels, across bridges and Local pairs; feature
codes in ``Dial()`` bridges (dynamic features, blind transfer); ``Read()``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .dialplan import to_number
from .model import SimChannel
from .tasks import log_task_failure, resolve_none

if TYPE_CHECKING:
    from .engine import Engine

FEATURE_DIGIT_TIMEOUT = 1.0
TRANSFER_DIGIT_TIMEOUT = 3.0  # features.conf transferdigittimeout's default
BLIND_TRANSFER = "blindxfer"


class DtmfRouter:
    """Where each key goes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Read(): the digit timer of each channel reading, and its length
        self._read_timers: dict[str, tuple[asyncio.TimerHandle, float]] = {}

    def device_dtmf(self, channel: SimChannel, digit: str, duration_ms: int) -> None:
        self._dtmf_read(channel, digit, duration_ms)

    def _dtmf_read(self, channel: SimChannel, digit: str, duration_ms: int) -> None:
        """A DTMF end frame read from ``channel`` (from its device or its Local peer)."""
        if channel.destroyed or channel.hanging_up:
            return
        bridge = channel.bridge
        if bridge is not None and bridge.native:
            for other in bridge.channels:
                if other is not channel:
                    self.dtmf_write(other, digit, duration_ms)
            return
        self.engine.router.emit_channel(
            channel, "ChannelDtmfReceived", digit=digit, duration_ms=duration_ms
        )
        if channel.recording is not None and not channel.recording.read_muted:
            channel.recording.entries.append(f"dtmf:{digit}")
        if channel.reading is not None:
            self._read_digit(channel, digit)
            return
        if bridge is None:
            return
        if not bridge.stasis and self.feature_codes(channel):
            self._feature_digit(channel, digit, duration_ms)
            return
        self._dtmf_into_bridge(channel, digit, duration_ms)

    def _dtmf_into_bridge(self, channel: SimChannel, digit: str, duration_ms: int) -> None:
        bridge = channel.bridge
        if bridge is None or channel.absorb_dtmf or bridge.holding:
            return
        for other in list(bridge.channels):
            if other is not channel:
                self.dtmf_write(other, digit, duration_ms)

    def dtmf_write(self, channel: SimChannel, digit: str, duration_ms: int) -> None:
        """DTMF written to ``channel``: its device receives it, or its Local peer reads it."""
        if channel.destroyed:
            return
        if channel.phone is not None:
            channel.phone.received_dtmf += digit
            channel.phone.changed()
        elif channel.local_peer is not None:
            self._dtmf_read(channel.local_peer, digit, duration_ms)

    def send_dtmf(
        self, channel: SimChannel, dtmf: str, before: int, between: int, duration: int, after: int
    ) -> None:
        """``POST /channels/{id}/dtmf``: digits written to the channel over time."""
        at = before / 1000
        for digit in dtmf:
            if digit == ",":  # a comma is a 500 ms pause in Asterisk's DTMF strings
                at += 0.5
                continue
            at += duration / 1000
            self.engine.clock.call_later(at, self.dtmf_write, channel, digit, duration)
            at += between / 1000

    def _feature_names(self, channel: SimChannel) -> list[str]:
        wanted = channel.variables.get("DYNAMIC_FEATURES", "")
        return [name for name in wanted.split("#") if name in self.engine.dialplan.features]

    def feature_codes(self, channel: SimChannel) -> dict[str, str]:
        """The codes ``channel`` may key in a Dial() bridge: its dynamic features, and the
        blind transfer when Dial()'s ``t``/``T`` armed it."""
        codes = {self.engine.dialplan.features[n][0]: n for n in self._feature_names(channel)}
        blind = self.engine.dialplan.featuremap.get(BLIND_TRANSFER)
        if channel.may_transfer and blind:
            codes[blind] = BLIND_TRANSFER
        return codes

    def _feature_digit(self, channel: SimChannel, digit: str, duration_ms: int) -> None:
        """Feature detection in a Dial() bridge: code digits are held and swallowed."""
        if channel.feature_timer is not None:
            channel.feature_timer.cancel()
            channel.feature_timer = None
        buffered = channel.feature_buffer + digit
        codes = self.feature_codes(channel)
        if buffered in codes:
            channel.feature_buffer = ""
            if codes[buffered] == BLIND_TRANSFER:
                task = self.engine.clock.loop.create_task(self._blind_transfer(channel))
                task.add_done_callback(log_task_failure)
            else:
                self._run_feature(channel, codes[buffered])
            return
        if any(code.startswith(buffered) for code in codes):
            channel.feature_buffer = buffered
            channel.feature_timer = self.engine.clock.call_later(
                FEATURE_DIGIT_TIMEOUT, self._flush_feature_digits, channel, duration_ms
            )
            return
        channel.feature_buffer = ""
        for held in buffered:
            self._dtmf_into_bridge(channel, held, duration_ms)

    def _flush_feature_digits(self, channel: SimChannel, duration_ms: int) -> None:
        held, channel.feature_buffer = channel.feature_buffer, ""
        channel.feature_timer = None
        for digit in held:
            self._dtmf_into_bridge(channel, digit, duration_ms)

    async def _blind_transfer(self, transferer: SimChannel) -> None:
        """features.conf ``blindxfer`` (bridge_basic.c): the transferer hears ``pbx-transfer``
        and keys a number (each key within transferdigittimeout, until no longer one can
        match) in its TRANSFER_CONTEXT or its own context; the other party gets BLINDTRANSFER
        (the transferer's channel name) and goes there, the transferer is hung up. A number
        that does not exist: ``pbx-invalid``, and the call goes on."""
        bridge = transferer.bridge
        others = [c for c in bridge.channels if c is not transferer] if bridge else []
        if len(others) != 1:
            return
        transferee = others[0]
        context = transferer.variables.get("TRANSFER_CONTEXT") or transferer.context
        self.engine.media.media_to(transferer, "sound:pbx-transfer")
        number = ""
        while True:
            digits = asyncio.get_running_loop().create_future()
            transferer.reading = ("PAYIVR_SIM_TRANSFER", 1, digits)
            transferer.variables["PAYIVR_SIM_TRANSFER"] = ""
            self._read_timers[transferer.id] = (
                self.engine.clock.call_later(TRANSFER_DIGIT_TIMEOUT, resolve_none, digits),
                TRANSFER_DIGIT_TIMEOUT,
            )
            try:
                await digits
            finally:
                self._read_timers.pop(transferer.id)[0].cancel()
                transferer.reading = None
            key = transferer.variables.pop("PAYIVR_SIM_TRANSFER", "")
            if not key:  # the time ran out, or #
                break
            number += key
            if not self.engine.dialplan.matches_more(context, number):
                break
        if transferer.destroyed or transferee.destroyed or transferee.bridge is not bridge:
            return
        if not number or not self.engine.dialplan.exists(context, number):
            self.engine.media.media_to(transferer, "sound:pbx-invalid")
            return
        self.engine.router.set_var(transferee, "BLINDTRANSFER", transferer.name)
        self.engine.stasis.redirect(transferee, context, number, 1)

    def _run_feature(self, channel: SimChannel, feature: str) -> None:
        _, context, exten, priority = self.engine.dialplan.features[feature]
        task = self.engine.clock.loop.create_task(
            self.engine.pbx.gosub(channel, context, exten, priority)
        )
        task.add_done_callback(log_task_failure)

    async def read(self, channel: SimChannel, args: list[str]) -> None:
        """``Read(var,prompt,maxdigits,options,attempts,timeout)``: digits until # or max."""
        variable = args[0]
        prompt = args[1] if len(args) > 1 else ""
        max_digits = int(to_number(args[2], 0)) if len(args) > 2 and args[2] else 0
        timeout = to_number(args[5], 0.0) if len(args) > 5 and args[5] else 5.0
        if prompt:
            for item in prompt.split("&"):
                if self.engine.sounds.duration(item, channel.language) is not None:
                    self.engine.media.media_to(channel, f"sound:{item}")
        future: asyncio.Future[None] = self.engine.clock.loop.create_future()
        channel.reading = (variable, max_digits, future)
        channel.variables[variable] = ""
        self._arm_read_timer(channel, timeout)
        try:
            await future
        finally:
            self._read_timers.pop(channel.id)[0].cancel()
            channel.reading = None
        self.engine.router.set_var(channel, variable, channel.variables[variable])

    def _arm_read_timer(self, channel: SimChannel, timeout: float) -> None:
        """As app_read (``ast_app_getdata_terminator``): the timeout is for the first digit
        and again after each digit, not for the whole entry."""
        assert channel.reading is not None
        previous = self._read_timers.get(channel.id)
        if previous is not None:
            previous[0].cancel()
        timer = self.engine.clock.call_later(timeout, resolve_none, channel.reading[2])
        self._read_timers[channel.id] = (timer, timeout)

    def _read_digit(self, channel: SimChannel, digit: str) -> None:
        assert channel.reading is not None
        variable, max_digits, future = channel.reading
        if digit == "#":
            resolve_none(future)
            return
        channel.variables[variable] += digit
        if max_digits and len(channel.variables[variable]) >= max_digits:
            resolve_none(future)
        else:
            self._arm_read_timer(channel, self._read_timers[channel.id][1])
