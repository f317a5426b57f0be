"""AmiClient (panoramisk underneath) against the AMI simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ami_scene import AGENT, BRIDGE, CALLER, CALLER_PHONE, build_scene, press_star_seven

from payivr.ami import (
    AGENT_LOCATION,
    CALLER_LOCATION,
    KEY_VARIABLE,
    PEER_VARIABLE,
    AmiActionError,
    AmiClient,
    AmiConnectionError,
    AmiLoginFailed,
    Redirect,
    RequestSource,
    TakeoverRequest,
)
from payivr.sim.ami.pbx import InMemoryPbx
from payivr.sim.ami.server import AmiSimulator


def client_for(sim: AmiSimulator, secret: str = "s3cret") -> AmiClient:
    return AmiClient(
        host="127.0.0.1",
        port=sim.port,
        username="payivr",
        secret=secret,
        reconnect_delay=0.05,
        action_timeout=2.0,
        connect_timeout=2.0,
    )


@pytest.fixture
async def pbx() -> InMemoryPbx:
    return build_scene()


@pytest.fixture
async def sim(pbx: InMemoryPbx) -> AsyncIterator[AmiSimulator]:
    simulator = AmiSimulator(pbx, users={"payivr": "s3cret"})
    await simulator.start()
    yield simulator
    await simulator.close()


@pytest.fixture
async def client(sim: AmiSimulator) -> AsyncIterator[AmiClient]:
    ami = client_for(sim)
    await ami.connect()
    yield ami
    await ami.close()


async def next_request(queue: asyncio.Queue[TakeoverRequest]) -> TakeoverRequest:
    return await asyncio.wait_for(queue.get(), 5)


async def test_feature_code_event_becomes_a_takeover_request(
    pbx: InMemoryPbx, client: AmiClient
) -> None:
    requests: asyncio.Queue[TakeoverRequest] = asyncio.Queue()
    client.on_takeover_request(requests.put_nowait)
    press_star_seven(pbx)
    press_star_seven(pbx, amount="1999")
    first, second = await next_request(requests), await next_request(requests)
    assert (first.agent_channel, first.caller_channel) == (AGENT, CALLER)
    assert first.amount_minor is None and second.amount_minor == 1999
    assert first.source is RequestSource.FEATURE_CODE
    assert first.key != second.key and first.key.isalnum()


async def test_a_request_naming_another_application_is_left_to_its_payivr(
    pbx: InMemoryPbx, sim: AmiSimulator
) -> None:
    """Two payivrs on one Asterisk (PAYIVR_APP per call): each answers only its own *7."""
    ami = AmiClient(
        host="127.0.0.1", port=sim.port, username="payivr", secret="s3cret", app="payivr-2",
    )  # fmt: skip
    await ami.connect()
    try:
        requests: asyncio.Queue[TakeoverRequest] = asyncio.Queue()
        ami.on_takeover_request(requests.put_nowait)
        press_star_seven(pbx, amount="1", app="payivr-1")
        press_star_seven(pbx, amount="2", app="payivr-2")
        press_star_seven(pbx, amount="3")
        first, second = await next_request(requests), await next_request(requests)
        assert (first.amount_minor, second.amount_minor) == (2, 3)
        await ami.ping()
        assert requests.empty()
    finally:
        await ami.close()


async def test_async_callbacks_run_too(pbx: InMemoryPbx, client: AmiClient) -> None:
    done = asyncio.Event()

    async def handle(request: TakeoverRequest) -> None:
        await client.take_over(request)
        done.set()

    client.on_takeover_request(handle)
    press_star_seven(pbx)
    await asyncio.wait_for(done.wait(), 5)
    assert pbx.channel(CALLER).context == "payivr-takeover"


async def test_take_over_sets_the_key_and_moves_both_legs(
    pbx: InMemoryPbx, client: AmiClient
) -> None:
    request = TakeoverRequest.new(AGENT, CALLER, amount_minor=500)
    await client.take_over(request)
    assert pbx.redirects == [(CALLER, CALLER_LOCATION), (AGENT, AGENT_LOCATION)]
    assert pbx.getvar(CALLER, KEY_VARIABLE) == request.key
    assert pbx.getvar(AGENT, KEY_VARIABLE) == request.key
    assert pbx.getvar(CALLER, PEER_VARIABLE) == AGENT
    assert await client.getvar(AGENT, KEY_VARIABLE) == request.key
    assert pbx.bridges() == []


async def test_take_over_sends_no_redirect_when_a_variable_cannot_be_set(
    pbx: InMemoryPbx, client: AmiClient
) -> None:
    request = TakeoverRequest.new(AGENT, "Local/nonexistent-1;2", amount_minor=500)
    with pytest.raises(AmiActionError, match="No such channel"):
        await client.take_over(request)
    assert pbx.redirects == []
    assert pbx.channel(AGENT).context != "payivr-takeover"


async def test_find_call_from_the_agent_endpoint(client: AmiClient) -> None:
    call = await client.find_call("Local/agent@sim-agent")
    assert call is not None
    assert (call.agent.name, call.peer.name, call.bridge_id) == (AGENT, CALLER, BRIDGE)
    assert call.agent.uniqueid == "1795296288.24" and not call.in_stasis
    assert await client.find_call("PJSIP/1001") is None
    bridge = await client.bridge_info(BRIDGE)
    assert set(bridge.channels) == {AGENT, CALLER}
    assert bridge.bridge_type == "basic"


async def test_asterisk_errors_are_raised_with_their_message(client: AmiClient) -> None:
    with pytest.raises(AmiActionError, match="Channel does not exist: Local/nonexistent-1;2"):
        await client.redirect(Redirect("Local/nonexistent-1;2", CALLER_LOCATION))
    with pytest.raises(AmiActionError, match="ExtraChannel does not exist"):
        await client.redirect(Redirect(CALLER, CALLER_LOCATION, extra_channel="PJSIP/9-00000001"))
    with pytest.raises(AmiActionError, match="Specified BridgeUniqueid not found"):
        await client.bridge_info("no-such-bridge")
    await client.ping()


async def test_failed_login_is_a_clear_error_and_does_not_retry(sim: AmiSimulator) -> None:
    ami = client_for(sim, secret="wrong")
    with pytest.raises(AmiLoginFailed, match=r"rejected AMI user 'payivr'.*Authentication failed"):
        await ami.connect()
    assert "wrong" not in repr(ami)
    await asyncio.sleep(0.2)  # four reconnect delays: none may happen
    assert sim.session_count == 0
    assert ami.logins == 0


async def test_nothing_listening_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    ami = AmiClient(
        host="127.0.0.1", port=port, username="payivr", secret="x",
        reconnect_delay=0.05, connect_timeout=0.3,
    )  # fmt: skip
    with pytest.raises(AmiConnectionError, match="no AMI login"):
        await ami.connect()


async def test_reconnects_and_logs_in_again_after_a_drop(
    pbx: InMemoryPbx, sim: AmiSimulator, client: AmiClient
) -> None:
    requests: asyncio.Queue[TakeoverRequest] = asyncio.Queue()
    client.on_takeover_request(requests.put_nowait)
    sim.drop_connections()
    await client.ping()  # waits for the new login
    assert client.logins == 2
    press_star_seven(pbx)
    assert (await next_request(requests)).agent_channel == AGENT
    assert len(await client.core_show_channels()) == 4


class GatedPbx(InMemoryPbx):
    """Holds every redirect until ``gate`` opens, to cut the connection mid-action."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def redirect(self, redirect: Redirect) -> None:
        self.entered.set()
        await self.gate.wait()
        await super().redirect(redirect)


async def test_an_action_cut_by_a_drop_fails_and_is_never_replayed() -> None:
    pbx = GatedPbx()
    scene = build_scene()
    for channel in scene.channels():
        pbx.add_channel(channel)
    sim = AmiSimulator(pbx, users={"payivr": "s3cret"})
    await sim.start()
    ami = client_for(sim)
    await ami.connect()
    try:
        pending = asyncio.create_task(ami.redirect(Redirect(CALLER, CALLER_LOCATION)))
        await asyncio.wait_for(pbx.entered.wait(), 5)
        sim.drop_connections()
        with pytest.raises(AmiConnectionError):
            await pending
        pbx.gate.set()
        await ami.ping()  # logged in again
        await asyncio.sleep(0.1)
        assert pbx.redirects == [(CALLER, CALLER_LOCATION)]  # the one cut off, run once
    finally:
        await ami.close()
        await sim.close()


async def test_a_cancel_is_never_lost_even_as_the_answer_arrives(client: AmiClient) -> None:
    """close() cancels the keep-alive and waits for it. Python 3.11's asyncio.wait_for drops a
    cancel that lands in the loop turn where the answer arrives; the keep-alive then slept on
    and shutdown hung. Cancel a Ping at every point of its round trip: a task still running
    when cancelled must end cancelled."""
    for turns in range(60):
        ping = asyncio.create_task(client.ping())
        for _ in range(turns):
            await asyncio.sleep(0)
        if ping.done():
            await ping
            continue
        ping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ping


async def test_close_returns_promptly_while_pings_run(sim: AmiSimulator) -> None:
    for _ in range(20):
        ami = client_for(sim)
        ami.keepalive_interval = 0.001
        await ami.connect()
        await asyncio.sleep(0.02)
        await asyncio.wait_for(ami.close(), 5)


async def test_bridged_together_asks_for_the_named_pair_only(
    pbx: InMemoryPbx, client: AmiClient
) -> None:
    """The ``*7`` check: both channels' BRIDGEPEER name each other (two Getvars, whatever the
    number of channels on the PBX); a third party, a stranger or a channel gone says no."""
    assert await client.bridged_together(AGENT, CALLER)
    assert await client.bridged_together(CALLER, AGENT)
    assert not await client.bridged_together(AGENT, CALLER_PHONE)
    assert not await client.bridged_together(AGENT, "Local/nonexistent-1;2")
    pbx.add_bridge(BRIDGE, [AGENT, CALLER, CALLER_PHONE])  # a third party joins
    assert not await client.bridged_together(AGENT, CALLER)
    pbx.add_bridge(BRIDGE, [AGENT, CALLER])
    assert await client.bridged_together(AGENT, CALLER)
    await pbx.redirect(Redirect(CALLER, CALLER_LOCATION))  # the caller leaves the bridge
    assert not await client.bridged_together(AGENT, CALLER)
