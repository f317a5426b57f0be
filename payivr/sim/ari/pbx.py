"""The dialplan run on channels: one task per channel steps through its priorities,
expanding variables and functions; the applications themselves are :mod:`.applications`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from .applications import APPLICATIONS, HangupRequested, Position
from .dialplan import builtin_function, expand, split_arguments
from .model import SimChannel, Technology
from .tasks import log_task_failure

if TYPE_CHECKING:
    from .engine import Engine

log = structlog.get_logger(__name__)

MEDIA_WAIT_AFTER_ANSWER = 0.5


class Pbx:
    """Dialplan execution."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(
        self, channel: SimChannel, context: str, exten: str, priority: int, after_dial: bool = False
    ) -> None:
        channel.has_pbx = True
        if channel.pbx_task is not None and not channel.pbx_task.done():
            channel.pbx_task.cancel()
        channel.pbx_task = self.engine.clock.loop.create_task(
            self._run(channel, context, exten, priority, after_dial)
        )
        channel.pbx_task.add_done_callback(log_task_failure)

    async def _run(
        self, channel: SimChannel, context: str, exten: str, priority: int, after_dial: bool
    ) -> None:
        """Run the dialplan from a place; ``after_dial``: redirected out of ``Dial()``,
        whose return Asterisk announces with the old application's name."""
        while not channel.destroyed and not channel.hanging_up:
            extension = self.engine.dialplan.find_extension(context, exten)
            step = extension.steps.get(priority) if extension is not None else None
            if step is None:
                # falling off the end of the dialplan hangs the channel up
                self.engine.lifecycle.hangup(channel, cause=16, initiator="dialplan")
                return
            channel.context, channel.exten, channel.priority = context, exten, priority
            data = self.expand(channel, step.data)
            if after_dial:
                self.engine.router.emit_channel(
                    channel,
                    "ChannelDialplan",
                    dialplan_app=channel.app_name,
                    dialplan_app_data=channel.app_data,
                )
                self.engine.router.set_var(
                    channel, "DIALSTATUS", channel.variables.get("DIALSTATUS") or "ANSWER"
                )
                after_dial = False
            else:
                self.engine.router.emit_channel(
                    channel, "ChannelDialplan", dialplan_app=step.app, dialplan_app_data=data
                )
            channel.app_name, channel.app_data = step.app, data
            try:
                outcome = await self.execute(channel, step.app, data)
            except HangupRequested:
                self.engine.lifecycle.hangup(channel, cause=16, initiator="dialplan")
                return
            if channel.destroyed or channel.hanging_up:
                return
            if outcome is None:
                priority += 1
            else:
                context, exten, priority = outcome

    async def gosub(self, channel: SimChannel, context: str, exten: str, priority: int) -> None:
        """A feature's ``Gosub``: runs on the channel without moving its dialplan position."""
        saved = (channel.context, channel.exten, channel.priority)
        while not channel.destroyed:
            extension = self.engine.dialplan.find_extension(context, exten)
            step = extension.steps.get(priority) if extension is not None else None
            if step is None:
                break
            channel.context, channel.exten, channel.priority = context, exten, priority
            if step.app.lower() == "return":
                self.engine.router.set_var(channel, "GOSUB_RETVAL", self.expand(channel, step.data))
                break
            outcome = await self.execute(channel, step.app, self.expand(channel, step.data))
            if outcome is None:
                priority += 1
            else:
                context, exten, priority = outcome
        channel.context, channel.exten, channel.priority = saved

    def expand(self, channel: SimChannel, text: str) -> str:
        def lookup(name: str) -> str | None:
            return self.variable(channel, name)

        def function(name: str, args: str) -> str | None:
            return self.function(channel, name, args)

        return expand(text, lookup, function)

    def variable(self, channel: SimChannel, name: str) -> str | None:
        special = _special_variables(channel)
        if name in special:
            return special[name]
        value = channel.variables.get(name)
        if value is None:
            value = self.engine.global_variables.get(name)
        return value

    def function(self, channel: SimChannel, name: str, args: str) -> str | None:
        if name == "CHANNEL":
            item = args.strip().lower()
            return {
                "name": channel.name,
                "language": channel.language,
                "uniqueid": channel.id,
                "state": channel.state,
                "channeltype": channel.technology.value,
            }.get(item, "")
        if name == "CALLERID":
            item = args.strip().lower()
            return {
                "num": channel.caller_number,
                "name": channel.caller_name,
                "all": f'"{channel.caller_name}" <{channel.caller_number}>',
            }.get(item, "")
        if name == "CONNECTEDLINE":
            item = args.strip().lower()
            return {"num": channel.connected_number, "name": channel.connected_name}.get(item, "")
        if name == "LOCAL":
            return channel.variables.get(args, "")
        if name == "PJSIP_DTMF_MODE":
            # func_pjsip_dtmf_mode: the endpoint's dtmf_mode; fails on any other channel type.
            if channel.technology is not Technology.SIP or channel.phone is None:
                return None
            return channel.phone.dtmf_mode
        # CUT(EXTEN,...) reads variables by name, the channel's own (EXTEN...) included.
        variables = {
            **self.engine.global_variables,
            **channel.variables,
            **_special_variables(channel),
        }
        return builtin_function(name, args, variables)

    def goto_target(self, channel: SimChannel, destination: str) -> tuple[str, str, int]:
        parts = [part.strip() for part in split_arguments(destination.replace("^", ","))]
        if len(parts) == 1:
            context, exten, priority = channel.context, channel.exten, parts[0]
        elif len(parts) == 2:
            context, (exten, priority) = channel.context, parts
        else:
            context, exten, priority = parts[0], parts[1], parts[2]
        if priority.isdigit():
            return context, exten, int(priority)
        found = self.engine.dialplan.find_label(context, exten, priority)
        if found is None:
            raise HangupRequested
        return context, exten, found

    async def answer(self, channel: SimChannel) -> None:
        if channel.state == "Up":
            return
        self.engine.router.set_state(channel, "Up")
        peer = channel.local_peer
        if peer is not None and peer.dialing is not None and not peer.dialing.done():
            peer.dialing.set_result("ANSWER")
        await self.engine.clock.sleep(MEDIA_WAIT_AFTER_ANSWER)

    async def execute(self, channel: SimChannel, app: str, data: str) -> Position | None:
        """Run one dialplan application; returns a new position or None for the next one."""
        run = APPLICATIONS.get(app.lower())
        if run is None:
            log.warning("ari_sim_unknown_application", app=app)
            raise HangupRequested
        return await run(self.engine, channel, data, split_arguments(data))


def _special_variables(channel: SimChannel) -> dict[str, str]:
    return {
        "CHANNEL": channel.name,
        "UNIQUEID": channel.id,
        "EXTEN": channel.exten,
        "CONTEXT": channel.context,
        "PRIORITY": str(channel.priority),
        "CALLERID(num)": channel.caller_number,
        "LANGUAGE": channel.language,
    }
