"""An Asterisk 22 ARI simulator: REST and WebSocket on Asterisk's URLs, for tests and the demo.

payivr cannot tell it from Asterisk for what payivr does. It accepts exactly the requests
that ARI's api-docs (Asterisk 22.10.1, shipped in ``api_docs/``) define and refuses the rest
as ``res_ari`` does; every event it emits validates against ``events.json``; and it behaves
as the recordings in ``tests/fixtures/ari/traces`` show.

Control API (in-process, asyncio)::

    sim = AriSimulator("payivr", "secret", sounds_dir=None, time_scale=1.0, session_limit=100)
    base_url = await sim.start(host="127.0.0.1", port=0)     # "http://127.0.0.1:<port>"
    ...                                                      # or: async with AriSimulator(...)
    await sim.stop()

    caller = sim.add_phone("caller", endpoint="PJSIP/1002")  # technology="sip" | "local",
    agent = sim.add_phone("agent", endpoint="PJSIP/1001")    # auto_answer=True, answer_delay=0.5
    call = await sim.dial(caller, agent)    # Dial() in the dialplan: DialedCall(caller_channel_id,
                                            # agent_channel_id, bridge_id); not in Stasis
    await agent.press("*7")                 # feature code -> UserEvent(PayIVRRequest) to listeners
    await sim.redirect(call.caller_channel_id, "payivr-takeover", "caller", 1,
                       extra_channel=call.agent_channel_id, extra_exten="agent")  # AMI Redirect
    await sim.enter_stasis(channel_id, "payivr", ["payline"])   # as Stasis(payivr,payline)
    sim.set_variable(channel, "PAYIVR_KEY", "k1")               # AMI Setvar
    await sim.hangup(channel)                                   # AMI Hangup

    await caller.press("4242", duration_ms=100, gap_ms=150)   # simulated ms
    await caller.say("hello"); agent.can_hear(caller)
    await caller.hangup(); await agent.answer(); await caller.call("7290", context="...")
    await customer.refuse(486)    # a ringing phone answers the INVITE with an error (busy...)
    sim.add_phone("customer", "PJSIP/+15550100@trunk", answering_machine=True)  # for AMD()
    caller.heard            # ["sound:payivr/en/enter-card", "number:137", "moh:default", ...]
    caller.heard_voices     # [("agent", "hello"), ...]
    agent.received_dtmf     # "5" (digits that reached the handset)
    caller.channel_id, caller.in_call, caller.ringing, caller.continued_to
    await caller.wait_for(lambda p: "sound:x" in p.heard, timeout=5)

    sim.add_listener(cb)          # UserEventRaised, StasisFailed, ChannelHungUp, ChannelContinued
    sim.add_event_observer(cb)    # (app, event dict) for every ARI event
    sim.channels, sim.bridges, sim.find_channel(id_or_name), sim.stasis_channels(app)
    sim.app_connected(app), sim.open_sessions, sim.refused_sessions, sim.requests
    sim.dialplan.load(extensions_conf_text); sim.dialplan.add(context, exten, "App(args)", ...)
    sim.dialplan.features["payivr"] = ("*7", "payivr-feature", "s", 1)
    sim.mount_sounds("payivr", "sounds/")     # sound:payivr/en/x -> sounds/en/x.wav
    sim.sounds.durations["beep"] = 0.44       # seconds; None makes a sound missing

    await sim.drop_websockets(app=None, mode="close" | "abort" | "silent")
    sim.fail_next("POST", "/channels/{channelId}/play", count=1, status=500)

Time: ``time_scale`` is real seconds per simulated second (0.05 runs 20x faster); playback
lengths come from the sound files under ``sounds_dir`` (Asterisk's sounds root) or mounted
directories, else ``sound_durations``/``default_sound_duration``.

Behaviour taken from the recordings:

- media: bridge members hear each other; a playback on a channel is heard by that channel
  only (and not while muted ``out``); ``moh:<class>`` is recorded when music starts; hold
  plays music to the others; DTMF crosses a bridge unless the sender was added with
  ``absorbDTMF=true``; the application always gets ``ChannelDtmfReceived``...
- ...except in a native bridge: two SIP channels alone in a bridge without ``dtmf_events`` or
  ``proxy_media`` (and without a mute or feature hook) relay RTP, so DTMF reaches the other
  handset whatever ``absorbDTMF`` says and no ``ChannelDtmfReceived`` is emitted (``BRIDGEPEER``
  is set three times as the technology switches to ``native_rtp``). Local-like channels never
  bridge natively.
- ``TALK_DETECT(set)=<silence ms>`` on a channel: ``ChannelTalkingStarted`` as soon as a
  playback's audio reaches what the channel reads (played to it, or through Local pairs and
  bridges), ``ChannelTalkingFinished`` after that much silence; the only audio is playbacks
  (a ``tone:`` stands for a voice), as bench/talk_through.py records it;
- a missing sound answers 201 then ``PlaybackFinished`` ``failed``; stopping a playback whose
  current item is ``number:``/``digits:`` answers 500 ``Could not stop playback`` and the list
  plays on; unknown channel: 404 on channel operations, 400 on ``addChannel``; not in Stasis:
  409 (422 on bridges); before answer: 412.
- a far-end hangup gives the app ``ChannelHangupRequest``, ``ChannelLeftBridge``, ``StasisEnd``
  and no ``ChannelDestroyed`` (the app's subscription ends with Stasis); the originating app
  keeps its subscription to both halves of a Local pair; ``DELETE /channels`` gives a soft
  request (cause 32).
- client-chosen ids (``channelId``, ``otherChannelId``, ``playbackId``, ``bridgeId``,
  ``snoopId``); events for one channel on every subscribed application's socket;
  ``GET /applications/{app}`` lists ``channel_ids`` also while no socket is connected.
- WebSockets: nothing is kept while an app is away (no replay, no new ``StasisStart``);
  ``Stasis()`` fails while no socket is connected; a second socket for an app replaces the
  first (``ApplicationReplaced``).
- ``sessionlimit``: connections beyond ``session_limit`` (WebSockets included) are closed at
  once, as Asterisk's HTTP server does ("Server disconnected" in aiohttp).

Stricter than Asterisk on purpose: unknown parameters, malformed integers and booleans, and
values outside ``allowableValues`` get 400 (Asterisk ignores or zeroes them).

Not modelled (or simplified):

- audio itself: media is symbolic (URIs, ``moh:<class>``, ``say()`` voices); ``number:`` and
  ``digits:`` last 0.6 s per digit; ``tone:`` plays until stopped; pause/forward/reverse of a
  playback only move its timer; inband DTMF, codecs, jitter, direct media;
- recordings (channel/bridge ``record``, stored/live recordings: empty or 404),
  ``externalMedia``, channel ``redirect`` (SIP REFER), ``transfer_progress``, video source,
  mailboxes, device-state updates, ``asterisk/config|modules|logging``, ``events/user``,
  ``events/claim``, ``eventFilter``, ``rtp_statistics``: they answer 501 "Not implemented by the
  payivr ARI simulator"; REST over the events WebSocket; event filters;
- events payivr never sees: ``ChannelCreated``, ``BridgeCreated``, ``ChannelCallerId``,
  ``ChannelConnectedLine``, ``Dial`` with ``RINGING``/``PROGRESS``,
  endpoint/contact/peer status, text messages, transfers;
- the dialplan is a subset: Answer, Wait, Set, NoOp, Goto, GotoIf, Gosub/Return, ExecIf,
  Hangup, UserEvent, Stasis, Dial (first target, timeout, ``b()`` pre-dial handler only; no
  ``g``: when the callee hangs up the caller is hung up), Bridge, Playback, MusicOnHold, Read,
  Progress/Ringing, AMD (the far end is a person saying "Hello?", or a machine's long
  greeting when its phone is ``answering_machine``); functions IF, CUT, LEN, CHANNEL, CALLERID, CONNECTEDLINE, LOCAL (not
  scoped); no ``h``/``i`` extensions, no ``/n``-less Local optimisation; an unknown application
  hangs the channel up; ``enter_stasis`` that fails leaves the channel where it was;
- hangup event sequences follow the recordings for SIP and Local channels; other cases
  (ringing channels refused, Snoop) are plausible, not recorded: a refusal's SIP response
  becomes the hangup cause as ``ast_sip_hangup_sip2cause`` maps it (486 → 17, 404 → 1,
  503 → 34...) and the Dial status as ``ast_hangup_cause_to_dial_status`` does; an unanswered
  originate ends with cause 19, a busy device with 17; multi-party ``BRIDGEPEER``
  lists follow Asterisk's rule but were not recorded;
- native bridging is decided by: two SIP channels, no ``dtmf_events``/``proxy_media``, no
  mute, no DTMF feature hooks (Dial bridges with ``DYNAMIC_FEATURES``); nothing else (codecs,
  ``direct_media``, NAT) is considered.
"""

from .dialplan import Dialplan
from .events import (
    ChannelContinued,
    ChannelHungUp,
    SimChannelNotFound,
    SimulatedAriError,
    SimulatorEvent,
    StasisFailed,
    UserEventRaised,
)
from .phones import PhoneError, SimPhone
from .simulator import AriSimulator, DialedCall
from .spec import ApiSpec, shipped_spec

__all__ = [
    "ApiSpec",
    "AriSimulator",
    "ChannelContinued",
    "ChannelHungUp",
    "DialedCall",
    "Dialplan",
    "PhoneError",
    "SimChannelNotFound",
    "SimPhone",
    "SimulatedAriError",
    "SimulatorEvent",
    "StasisFailed",
    "UserEventRaised",
    "shipped_spec",
]
