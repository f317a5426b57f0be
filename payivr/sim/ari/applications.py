"""Dialplan applications, by name: what each does to the channel running it.

A subset of Asterisk's (see the package docstring); :data:`APPLICATIONS` is the table
:meth:`.pbx.Pbx.execute` looks names up in, and an application it does not hold hangs the
channel up. Each returns where the dialplan goes on, or ``None`` for the next priority.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from payivr.core.errors import PayivrError

from .dialling import unanswered_cause
from .dialplan import conditional, split_application, to_number
from .events import SimChannelNotFound, SimulatedAriError, StasisFailedError, UserEventRaised
from .model import Recording, SimChannel

if TYPE_CHECKING:
    from .engine import Engine

Position = tuple[str, str, int]  # context, extension, priority
DialplanApp = Callable[["Engine", SimChannel, str, list[str]], Awaitable[Position | None]]

# AMD() with its default settings (app_amd.c): a person's "Hello?" then 800 ms of silence;
# a machine's greeting talks past the 1500 ms a greeting may last.
AMD_HUMAN_SECONDS = 1.4
AMD_MACHINE_SECONDS = 1.5
DIAL_VARIABLES = (
    "DIALSTATUS",
    "DIALEDPEERNUMBER",
    "DIALEDPEERNAME",
    "ANSWEREDTIME",
    "ANSWEREDTIME_MS",
    "DIALEDTIME",
    "DIALEDTIME_MS",
    "RINGTIME",
    "RINGTIME_MS",
    "PROGRESSTIME",
    "PROGRESSTIME_MS",
)


class HangupRequested(PayivrError):
    """The dialplan hangs the channel up (``Hangup()``, a bad ``Goto``, an unknown app)."""


async def nothing(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    """NoOp, Progress, Ringing, Return (outside a Gosub), Verbose, Log."""


async def answer(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    await engine.pbx.answer(channel)


async def wait(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    await engine.clock.sleep(to_number(args[0], 0.0))


async def set_variable(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    variable, _, value = data.partition("=")
    variable = variable.strip()
    if variable.upper() == "CHANNEL(LANGUAGE)":
        channel.language = value  # func_channel's write: no VarSet
    elif variable.startswith("LOCAL(") and variable.endswith(")"):
        channel.variables[variable[6:-1]] = value  # Gosub-local: no event
    else:
        engine.router.set_var(channel, variable, value)


async def exec_if(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> Position | None:
    truth, if_true, if_false = conditional(data)
    chosen = if_true if truth else if_false
    if chosen:
        sub_app, sub_data = split_application(chosen)
        return await engine.pbx.execute(channel, sub_app, sub_data)
    return None


async def goto(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> Position:
    return engine.pbx.goto_target(channel, data)


async def goto_if(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> Position | None:
    truth, if_true, if_false = conditional(data)
    destination = if_true if truth else if_false
    if not destination:
        return None
    return engine.pbx.goto_target(channel, destination)


async def gosub(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    await engine.pbx.gosub(channel, *engine.pbx.goto_target(channel, data))


async def hangup(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    raise HangupRequested


async def user_event(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    event_name = args[0]
    fields: dict[str, str] = {}
    for item in args[1:]:
        key, _, value = item.partition(":")
        fields[key.strip()] = value.strip()
    engine.router.emit_channel(channel, "ChannelUserevent", eventname=event_name, userevent=fields)
    engine.router.notify(UserEventRaised(channel, event_name, fields))


async def stasis(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> Position | None:
    try:
        return await engine.stasis.run(channel, args[0], args[1:])
    except StasisFailedError:
        return None


async def dial(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    """``Dial(target[,timeout[,options]])``: ring, answer, a basic bridge until it ends."""
    for variable in DIAL_VARIABLES:
        engine.router.set_var(channel, variable, "")
    target = args[0].split("&")[0] if args and args[0] else ""
    timeout = to_number(args[1], 0.0) if len(args) > 1 and args[1] else None
    tech, _, resource = target.partition("/")
    try:
        peer = engine.dialler.request(tech, resource, None, None) if tech and resource else None
    except SimulatedAriError:
        peer = None
    if peer is None:
        engine.router.set_var(channel, "DIALSTATUS", "CHANUNAVAIL")
        return
    for key, value in channel.variables.items():
        if key.startswith("__"):
            peer.variables[key] = value
            peer.variables[key[2:]] = value
        elif key.startswith("_"):
            peer.variables[key[1:]] = value
    peer.linkedid = channel.linkedid
    if peer.local_peer is not None:
        peer.local_peer.linkedid = channel.linkedid
    peer.caller_number = peer.caller_number or channel.caller_number
    peer.connected_number = channel.caller_number
    channel.connected_number = peer.caller_number
    peer.app_name, peer.app_data = "AppDial", "(Outgoing Line)"
    options = args[2] if len(args) > 2 else ""
    letters = re.sub(r"\([^)]*\)", "", options)  # the options without their arguments
    peer.may_transfer = "t" in letters
    channel.may_transfer = "T" in letters
    if "b(" in options:
        handler = options[options.index("b(") + 2 :].split(")")[0]
        await engine.pbx.gosub(peer, *engine.pbx.goto_target(peer, handler))
    engine.dialler.emit_dial(channel, peer, "", resource)
    status = await engine.dialler.call(peer, timeout, caller=channel)
    if channel.destroyed or channel.hanging_up:
        if not peer.destroyed:
            engine.lifecycle.hangup(peer, cause=16, initiator="dialer")
        return
    if status != "ANSWER":
        engine.router.set_var(channel, "DIALSTATUS", status)
        engine.dialler.emit_dial(channel, peer, status, "")
        if not peer.destroyed:
            engine.lifecycle.hangup(peer, cause=unanswered_cause(peer, status), initiator="dialer")
        return
    if peer.state != "Up":
        engine.router.set_state(peer, "Up")
    if channel.state != "Up":
        engine.router.set_state(channel, "Up")
    engine.router.set_var(channel, "DIALSTATUS", "ANSWER")
    engine.router.set_var(channel, "DIALEDPEERNAME", peer.name)
    engine.router.set_var(channel, "DIALEDPEERNUMBER", resource)
    engine.dialler.emit_dial(channel, peer, "ANSWER", "")
    await engine.bridging.basic_bridge(channel, peer)


async def bridge(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    """``Bridge(channel)``: pull the named channel out of its dialplan into a basic bridge
    with this one; ``BRIDGERESULT`` says how it went."""
    try:
        peer = engine.lifecycle.find_channel(args[0])
    except SimChannelNotFound:
        engine.router.set_var(channel, "BRIDGERESULT", "NONEXISTENT")
        return
    if peer is channel or peer.stasis_app is not None or peer.hanging_up:
        engine.router.set_var(channel, "BRIDGERESULT", "FAILURE")
        return
    if peer.pbx_task is not None and not peer.pbx_task.done():
        peer.pbx_task.cancel()
    peer.moh_class = None
    if peer.bridge is not None:
        engine.bridging.leave_bridge(peer)
    engine.router.set_var(channel, "BRIDGERESULT", "SUCCESS")
    await engine.bridging.basic_bridge(channel, peer)


async def playback(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    await engine.pbx.answer(channel)
    for item in args[0].split("&"):
        duration = engine.sounds.duration(item, channel.language)
        if duration is None:
            engine.router.set_var(channel, "PLAYBACKSTATUS", "FAILED")
            return
        engine.media.media_to(channel, f"sound:{item}")
        await engine.clock.sleep(duration)
    engine.router.set_var(channel, "PLAYBACKSTATUS", "SUCCESS")


async def music_on_hold(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    engine.media.start_moh(channel, args[0] or None)
    seconds = to_number(args[1], 0.0) if len(args) > 1 else 0.0
    await engine.clock.sleep(seconds if seconds > 0 else 86400)
    engine.media.stop_moh(channel)


async def read(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    await engine.dtmf.read(channel, args)


async def amd(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    """``AMD()`` with its defaults: listens to the answered far end, then sets AMDSTATUS
    and AMDCAUSE. The simulated far end is a person (``Hello?``) unless its phone is an
    answering machine; a channel with no phone behind it stays silent (initial silence)."""
    await engine.pbx.answer(channel)
    phone = channel.phone
    if phone is None:
        await engine.clock.sleep(2.5)
        status, cause = "MACHINE", "INITIALSILENCE-2500-2500"
    elif phone.answering_machine:
        await engine.clock.sleep(AMD_MACHINE_SECONDS)
        status, cause = "MACHINE", "LONGGREETING-1500-1500"
    else:
        await engine.clock.sleep(AMD_HUMAN_SECONDS)
        status, cause = "HUMAN", "HUMAN-800-800"
    if channel.destroyed or channel.hanging_up:
        return
    engine.router.set_var(channel, "AMDSTATUS", status)
    engine.router.set_var(channel, "AMDCAUSE", cause)


async def mix_monitor(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    """app_mixmonitor: records the channel (both directions) to the file named, and sets
    MIXMONITOR_FILENAME; the file itself is not modelled, its contents are."""
    channel.recording = Recording(args[0])
    engine.router.set_var(channel, "MIXMONITOR_FILENAME", args[0])


async def stop_mix_monitor(engine: Engine, channel: SimChannel, data: str, args: list[str]) -> None:
    channel.recording = None


APPLICATIONS: dict[str, DialplanApp] = {
    "noop": nothing,
    "progress": nothing,
    "ringing": nothing,
    "return": nothing,
    "verbose": nothing,
    "log": nothing,
    "answer": answer,
    "wait": wait,
    "set": set_variable,
    "execif": exec_if,
    "goto": goto,
    "gotoif": goto_if,
    "gosub": gosub,
    "hangup": hangup,
    "userevent": user_event,
    "stasis": stasis,
    "dial": dial,
    "bridge": bridge,
    "playback": playback,
    "musiconhold": music_on_hold,
    "read": read,
    "amd": amd,
    "mixmonitor": mix_monitor,
    "stopmixmonitor": stop_mix_monitor,
}
