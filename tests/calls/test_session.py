"""A call's session and its payment (payivr.calls.session, payivr.calls.payment), wired for
real against the ARI simulator with payivr's dialplan: the Stasis application, its event
stream, the store on the test database and the in-process gateway. No console, AMI or CLI:
the call is redirected into Stasis as the AMI takeover does, the payment asked for as the
console does."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest

from payivr.aio import cancel_and_wait
from payivr.ari.client import AriClient
from payivr.ari.models import Snapshot
from payivr.ari.stream import Backoff, EventStream
from payivr.calls.charging import gateway_authorizer
from payivr.calls.notifier import Notifier, PaymentEvent, PaymentFinished, PaymentStarted
from payivr.calls.payment import CRASHED_BEFORE_CHARGING
from payivr.calls.records import StoreRecords
from payivr.calls.requests import PaymentRequest
from payivr.calls.stasis import StasisApplication
from payivr.calls.wiring import CallServices
from payivr.config import CallSettings
from payivr.core.events import Finish, Outcome
from payivr.core.flow import FlowConfig
from payivr.core.request import PrivacyMode
from payivr.gateway.inprocess import InProcessGateway
from payivr.store import Database, PaymentStore
from tests.e2e.harness import VISA, answer_prompt, heard, key_card, key_rest_of_card
from tests.e2e.phones import SimulatedPhone, prompts
from tests.e2e.targets import APP, SimulatorTarget

_keys = itertools.count(1)


@dataclass
class Rig:
    target: SimulatorTarget
    stasis: StasisApplication
    events: EventStream
    payments: asyncio.Queue[PaymentEvent]
    reconciled: asyncio.Queue[int]
    """The number of each event connection, once its snapshot has been reconciled."""
    stops_and_plays: list[tuple[str, str]] = field(default_factory=list)
    """``("play" | "stop", playback id)`` in the order the simulator received them."""

    @property
    def sim(self):  # type: ignore[no-untyped-def]
        return self.target.sim

    async def takeover(
        self, privacy: PrivacyMode = PrivacyMode.HOLD
    ) -> tuple[SimulatedPhone, SimulatedPhone, str]:
        """A customer calls an agent through Dial(); both legs are redirected into Stasis
        (as the AMI takeover does) with a payment asked for: caller, agent, payment id."""
        number = next(_keys)
        caller = self.target.caller_phone(f"caller-{number}", f"1{number:02d}2")
        agent = self.target.agent_phone(f"agent-{number}", f"1{number:02d}1")
        await self.target.connect(caller, agent)
        key = f"k{number}"
        request = PaymentRequest("Annual plan", 13742, "USD", "alice", privacy_mode=privacy)
        started = self.stasis.expect_takeover(key, request)
        assert caller.leg is not None and agent.leg is not None
        for leg in (caller.leg, agent.leg):
            self.sim.set_variable(leg, "PAYIVR_KEY", key)
        await self.sim.redirect(
            caller.leg, "payivr-takeover", "caller", extra_channel=agent.leg, extra_exten="agent"
        )
        payment_id = await asyncio.wait_for(started, 10)
        return caller, agent, payment_id

    async def outcome(self, payment_id: str) -> Outcome:
        return (await self.finish(payment_id)).outcome

    async def finish(self, payment_id: str) -> Finish:
        async with asyncio.timeout(20):
            while True:
                event = await self.payments.get()
                if isinstance(event, PaymentFinished) and event.payment_id == payment_id:
                    return event.finish

    async def nothing_left(self) -> None:
        """No session, channel in Stasis or payivr bridge outlives the calls."""
        for session in list(self.stasis.sessions.values()):
            await asyncio.wait_for(session.ended.wait(), 10)
        async with asyncio.timeout(10):
            while self.sim.stasis_channels(APP) or self.sim.bridges:  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # the simulator has no event for it

    def bridged_with(self, phone: SimulatedPhone) -> set[str]:
        """Ids of the channels in the bridge ``phone``'s leg is in."""
        channel = self.sim.find_channel(phone.leg or "")
        bridge = channel.bridge
        return {c.id for c in bridge.channels} if bridge is not None else set()


@pytest.fixture
async def rig(database: Database) -> AsyncIterator[Rig]:
    target = SimulatorTarget()
    await target.start()
    ari = AriClient(target.access.ari_url, APP, target.access.ari_password)
    notifier = Notifier()
    payments: asyncio.Queue[PaymentEvent] = asyncio.Queue()

    async def listen(event: PaymentEvent) -> None:
        if isinstance(event, PaymentStarted | PaymentFinished):
            payments.put_nowait(event)

    notifier.subscribe(listen)
    services = CallServices(
        ari=ari,
        app=APP,
        calls=CallSettings(),
        flow=FlowConfig(),
        authorize=gateway_authorizer(InProcessGateway()),
        records=StoreRecords(PaymentStore(database)),
        notifier=notifier,
        today=lambda: date(2026, 12, 4),
    )
    stasis = StasisApplication(services)
    reconciled: asyncio.Queue[int] = asyncio.Queue()

    async def reconcile(snapshot: Snapshot) -> None:
        await stasis.reconcile(snapshot)
        reconciled.put_nowait(snapshot.connection)

    events = EventStream(
        ari,
        APP,
        on_event=stasis.router.dispatch,
        reconcile=reconcile,
        backoff=Backoff(initial=0.05, maximum=0.1),
    )
    reading = asyncio.create_task(events.run())
    rig = Rig(target, stasis, events, payments, reconciled)
    target.sim.add_request_observer(rig_request_observer(rig))
    try:
        assert await asyncio.wait_for(reconciled.get(), 10) == 1
        yield rig
    finally:
        await stasis.router.aclose()
        await cancel_and_wait([reading])
        await services.records.drain()
        await ari.close()
        await notifier.aclose()
        await target.close()


def rig_request_observer(rig: Rig):  # type: ignore[no-untyped-def]
    def observe(method: str, path: str, body: bytes) -> None:
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        if method == "POST" and parts[:2] == ["ari", "channels"] and parts[-1] == "play":
            playback = parse_qs(url.query).get("playbackId", [""])[0]
            rig.stops_and_plays.append(("play", playback))
        elif method == "DELETE" and parts[:2] == ["ari", "playbacks"]:
            rig.stops_and_plays.append(("stop", parts[2]))

    return observe


async def test_a_payment_starts_with_the_caller_alone_and_ends_with_the_agent(rig: Rig) -> None:
    caller, agent, payment_id = await rig.takeover()
    await heard(caller, "intro")
    # On hold: the caller out of the agent's bridge, the agent hearing music, not the keys.
    assert caller.leg not in rig.bridged_with(agent)
    assert "moh:default" in agent.heard
    await key_card(caller, VISA)
    assert await rig.outcome(payment_id) is Outcome.APPROVED
    await heard(caller, "payment-approved")
    await caller.wait_for(lambda c: c.leg in rig.bridged_with(agent))
    assert agent.received_dtmf == ""
    await caller.hangup()
    await rig.nothing_left()


async def test_a_key_right_after_a_play_stops_it_and_the_next_prompt_is_heard(
    rig: Rig,
) -> None:
    """The caller keys ``1`` (accept the amount) as the intro's first part ends: the key
    reaches payivr just before that part's PlaybackFinished. The prompt's next part must
    not start (a stop sent before its play would be lost, and the caller would hear it
    after their key): every stop follows the play it stops, and after the intro the caller
    hears the card number's prompt."""
    sim = rig.sim
    keyed: list[str] = []

    def key_as_the_intro_ends(app: str, event: dict[str, object]) -> None:
        playback = event.get("playback")
        if event["type"] != "PlaybackFinished" or not isinstance(playback, dict) or keyed:
            return
        if str(playback.get("media_uri", "")).endswith("/intro"):
            channel = sim.find_channel(str(playback["target_uri"]).removeprefix("channel:"))
            keyed.append(channel.id)
            sim.engine.dtmf.device_dtmf(channel, "1", 80)  # delivered before the PlaybackFinished

    sim.add_event_observer(key_as_the_intro_ends)
    caller, _, payment_id = await rig.takeover()
    await heard(caller, "enter-card-number")
    assert keyed == [caller.leg]
    heard_prompts = prompts(caller)
    assert heard_prompts[heard_prompts.index("intro") + 1] == "enter-card-number"
    assert "amount-is" not in heard_prompts
    played: set[str] = set()
    for kind, playback in rig.stops_and_plays:
        if kind == "play":
            played.add(playback)
        else:
            assert playback in played, f"stop of {playback} sent before its play"
    await answer_prompt(caller, "enter-card-number", VISA + "#")
    await key_rest_of_card(caller)
    assert await rig.outcome(payment_id) is Outcome.APPROVED
    await caller.hangup()
    await rig.nothing_left()


async def test_the_agent_hangs_up_mid_payment_and_the_caller_pays_on(rig: Rig) -> None:
    caller, agent, payment_id = await rig.takeover()
    await answer_prompt(caller, "confirm-amount", "1")
    await heard(caller, "enter-card-number")
    await agent.hangup()
    await answer_prompt(caller, "enter-card-number", VISA + "#")
    await key_rest_of_card(caller)
    assert await rig.outcome(payment_id) is Outcome.APPROVED
    # No agent to go back to: the caller hears the outcome, goodbye, and is hung up.
    await heard(caller, "goodbye")
    await rig.nothing_left()
    assert caller.leg is None


async def test_the_caller_hangs_up_mid_payment(rig: Rig) -> None:
    caller, agent, payment_id = await rig.takeover()
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", VISA[:6])
    await caller.hangup()
    assert await rig.outcome(payment_id) is Outcome.CALLER_HUNG_UP
    await rig.nothing_left()  # the agent's leg too, as Dial() would
    assert agent.leg is None


@pytest.mark.parametrize("privacy", [PrivacyMode.HOLD, PrivacyMode.TALK_THROUGH])
async def test_star_cancels_and_the_caller_is_back_with_the_agent(
    rig: Rig, privacy: PrivacyMode
) -> None:
    caller, agent, payment_id = await rig.takeover(privacy)
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", "4242*")
    assert await rig.outcome(payment_id) is Outcome.CANCELLED
    await caller.wait_for(lambda c: c.leg in rig.bridged_with(agent))
    assert agent.received_dtmf == ""
    # The call goes on: a second payment can start on it.
    session = next(iter(rig.stasis.sessions.values()))
    request = PaymentRequest("Annual plan", 13742, "USD", "alice")
    second = await rig.stasis.request_payment(session.call.key, request)
    assert second != payment_id
    await caller.hangup()
    await rig.nothing_left()


async def test_a_payment_goes_on_after_the_event_socket_comes_back(rig: Rig) -> None:
    """Events of the gap are lost (here the PlaybackFinished of the prompt playing): after
    the resync the payment asks Asterisk whether the prompt ended and goes on."""
    caller, agent, payment_id = await rig.takeover()
    await answer_prompt(caller, "confirm-amount", "1")
    await heard(caller, "enter-card-number")
    await rig.sim.drop_websockets(APP, mode="abort")
    async with asyncio.timeout(10):
        while await rig.reconciled.get() < 2:  # the second connection's snapshot
            pass
    await caller.press(VISA + "#", duration_ms=80, gap_ms=120)
    await key_rest_of_card(caller)
    assert await rig.outcome(payment_id) is Outcome.APPROVED
    await caller.wait_for(lambda c: c.leg in rig.bridged_with(agent))
    await caller.hangup()
    await rig.nothing_left()


async def test_a_payment_that_breaks_tells_the_caller_and_gives_them_back(rig: Rig) -> None:
    """The event socket drops as the card number's prompt starts (its end is lost); back,
    payivr asks Asterisk whether it ended and gets a 500: the payment cannot go on. It ends
    as cancelled (nothing was charged), the caller hears that it failed, then is back with
    the agent."""
    sim = rig.sim
    drops: list[asyncio.Task[int]] = []

    def drop_as_the_card_prompt_starts(app: str, event: dict[str, object]) -> None:
        playback = event.get("playback")
        if event["type"] != "PlaybackStarted" or not isinstance(playback, dict) or drops:
            return
        if str(playback.get("media_uri", "")).endswith("/enter-card-number"):
            # Runs before the prompt's end (a timer of the simulated clock) is due.
            drops.append(asyncio.create_task(sim.drop_websockets(APP, mode="abort")))

    sim.add_event_observer(drop_as_the_card_prompt_starts)
    sim.fail_next("GET", "/playbacks/{playbackId}", status=500)
    caller, agent, payment_id = await rig.takeover()
    await answer_prompt(caller, "confirm-amount", "1")
    assert await rig.finish(payment_id) == Finish(Outcome.CANCELLED, CRASHED_BEFORE_CHARGING)
    await heard(caller, "returning-to-agent")
    assert prompts(caller)[-2:] == ["payment-error", "returning-to-agent"]
    await caller.wait_for(lambda c: c.leg in rig.bridged_with(agent))
    assert agent.received_dtmf == ""
    await caller.hangup()
    await rig.nothing_left()
