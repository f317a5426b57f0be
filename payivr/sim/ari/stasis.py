"""Stasis: channels handed to ARI applications, and back to the dialplan."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from .events import ChannelContinued, SimulatedAriError, StasisFailed, StasisFailedError
from .model import SimChannel
from .tasks import log_task_failure

if TYPE_CHECKING:
    from .engine import Engine

log = structlog.get_logger(__name__)


class StasisRunner:
    """``Stasis()`` on channels, and what takes them out of it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def enter_now(self, channel: SimChannel, app: str, args: list[str]) -> None:
        task = self.engine.clock.loop.create_task(self.run(channel, app, args))
        task.add_done_callback(log_task_failure)

    async def run(self, channel: SimChannel, app: str, args: list[str]) -> tuple[str, str, int] | None:
        """Run ``Stasis(app,args)`` on ``channel``: the continue target, or None to go on."""
        self.engine.router.set_var(channel, "STASISSTATUS", "")
        if not self.engine.router.app_is_active(app):
            log.info("ari_sim_stasis_failed", app=app, channel=channel.id)
            self.engine.router.set_var(channel, "STASISSTATUS", "FAILED")
            self.engine.router.notify(StasisFailed(channel, app, tuple(args)))
            raise StasisFailedError
        channel.stasis_app = app
        channel.stasis_args = list(args)
        channel.stasis_exit = self.engine.clock.loop.create_future()
        self.engine.router.emit(
            {app}, "StasisStart", {"args": list(args), "channel": channel.snapshot()}
        )
        channel.wake_phone()
        exit_to = await channel.stasis_exit
        if not channel.hanging_up and not channel.destroyed:
            self.engine.router.set_var(channel, "STASISSTATUS", "SUCCESS")
        return exit_to

    def leave(self, channel: SimChannel, exit_to: tuple[str, str, int] | None) -> None:
        app = channel.stasis_app
        if app is None:
            return
        self.engine.media.stop_all_playbacks(channel)
        self.engine.router.emit({app}, "StasisEnd", {"channel": channel.snapshot()})
        channel.stasis_app = None
        channel.stasis_args = []
        if channel.stasis_exit is not None and not channel.stasis_exit.done():
            channel.stasis_exit.set_result(exit_to)
        channel.stasis_exit = None
        channel.wake_phone()

    def continue_in_dialplan(
        self,
        channel: SimChannel,
        context: str | None,
        extension: str | None,
        priority: int | None,
        label: str | None,
    ) -> None:
        if context:
            target_context, exten = context, extension or "s"
        else:
            target_context, exten = channel.context, extension or channel.exten
        if label:
            if label.isdigit():
                target_priority = int(label)
            else:
                found = self.engine.dialplan.find_label(target_context, exten, label)
                if found is None:
                    raise SimulatedAriError(404, "Requested label can not be found")
                target_priority = found
            if target_priority == 0:
                raise SimulatedAriError(400, "Requested priority is illegal")
        elif priority:
            target_priority = priority
        elif not context and not extension:
            target_priority = channel.priority + 1
        else:
            target_priority = 1
        target = (target_context, exten, target_priority)
        channel.continued_to = target
        if channel.phone is not None:
            channel.phone.continued_to = target
            channel.phone.changed()
        if channel.bridge is not None:
            self.engine.bridging.leave_bridge(channel)
        self.engine.router.notify(ChannelContinued(channel, *target))
        self.leave(channel, target)

    def move(self, channel: SimChannel, app: str, app_args: list[str]) -> None:
        old = channel.stasis_app
        if not self.engine.router.app_is_active(app):
            if old is not None:
                self.engine.router.emit(
                    {old},
                    "ApplicationMoveFailed",
                    {"destination": app, "args": app_args, "channel": channel.snapshot()},
                )
            return
        if channel.bridge is not None:
            self.engine.bridging.leave_bridge(channel)
        self.engine.media.stop_all_playbacks(channel)
        if old is not None:
            self.engine.router.emit({old}, "StasisEnd", {"channel": channel.snapshot()})
        channel.stasis_app = app
        channel.stasis_args = list(app_args)
        self.engine.router.emit(
            {app}, "StasisStart", {"args": list(app_args), "channel": channel.snapshot()}
        )

    def enter_stasis(self, channel: SimChannel, app: str, args: list[str]) -> None:
        """Run ``Stasis(app,args...)`` on a channel, as dialplan would (for tests, AMI)."""
        data = ",".join([app, *args])
        if channel.bridge is not None:
            self.engine.bridging.leave_bridge(channel)

        async def run() -> None:
            channel.app_name, channel.app_data = "Stasis", data
            try:
                exit_to = await self.run(channel, app, args)
            except StasisFailedError:
                return  # stays in the dialplan where it was
            if channel.destroyed or channel.hanging_up:
                return
            if exit_to is None:
                self.engine.lifecycle.hangup(channel, cause=16, initiator="dialplan")
            else:
                self.engine.pbx.start(channel, *exit_to)

        if channel.pbx_task is not None and not channel.pbx_task.done():
            channel.pbx_task.cancel()
        channel.has_pbx = True
        channel.pbx_task = self.engine.clock.loop.create_task(run())
        channel.pbx_task.add_done_callback(log_task_failure)

    def redirect(self, channel: SimChannel, context: str, exten: str, priority: int) -> None:
        """AMI ``Redirect``: an async goto; the channel leaves its bridge and Stasis."""
        if channel.stasis_app is not None:
            if channel.bridge is not None:
                self.engine.bridging.leave_bridge(channel)
            self.leave(channel, (context, exten, priority))
            return
        was_dialing = (
            channel.bridge is not None
            and not channel.bridge.stasis
            and (channel.app_name == "Dial")
        )
        if channel.bridge is not None:
            bridge = channel.bridge
            self.engine.bridging.take_out(channel, bridge)
            bridge.native = bridge.can_bridge_natively()
            self.engine.clock.loop.call_soon(self.engine.bridging.dissolve_basic, bridge)
        channel.context, channel.exten, channel.priority = context, exten, priority
        if channel.pbx_task is not None and not channel.pbx_task.done():
            channel.pbx_task.cancel()
        self.engine.pbx.start(channel, context, exten, priority, after_dial=was_dialing)
