"""Several PBXs, several payivr, one PostgreSQL (issue 16): failover and one console.

See conftest.py for the set-up: ``a1`` (active) and ``a2`` (standby) on the first Asterisk,
``b`` on the second. The time each failover took is printed (``-s``), for the README; speed
is measured, not asserted.
"""

from __future__ import annotations

import time

from payivr.calls.recovery import RESTARTED_BEFORE_CHARGING
from payivr.gateway import wire
from tests.e2e.harness import VISA, answer_prompt, heard, key_card, key_rest_of_card
from tests.e2e.phones import prompts
from tests.e2e.test_restarts import eventually
from tests.scale.conftest import AgentConsole, Cluster, Pbx

REQUEST = {"item": "Annual plan", "amount": "137.42", "privacy_mode": "hold"}


async def request_payment(console: AgentConsole) -> str:
    status, answer = await console.call("POST", "/api/v1/payments", REQUEST)
    assert status == 201, answer
    payment: str = answer["payment"]
    return payment


async def start_payment(cluster: Cluster, pbx: Pbx, console: AgentConsole) -> str:
    """The agent's call, ``*7`` (payivr takes the call over), and a payment asked for from
    ``console`` (any instance's: it finds the call wherever it runs)."""
    await pbx.target.connect(pbx.caller, pbx.agent_phone)
    await pbx.agent_phone.press("*7")

    async def in_payivrs_hands() -> bool:
        status, answer = await console.call("GET", "/api/v1/calls/current")
        assert status == 200, answer
        call = answer["call"]
        return call is not None and not call["call"].startswith("dial-")

    await eventually(in_payivrs_hands, 20)
    payment_id = await request_payment(console)
    await heard(pbx.caller, "confirm-amount")
    return payment_id


async def signed_in(url: str, name: str) -> AgentConsole:
    console = AgentConsole(url, name)
    await console.sign_in()
    return console


async def test_the_active_instance_killed_mid_payment_the_standby_settles_and_takes_the_calls(
    cluster: Cluster,
) -> None:
    first, second = cluster.first, cluster.second
    # alice asks from the standby's console: the request goes to a1, which runs the call.
    alice = await signed_in(cluster.a2.console_url, "alice")
    bob = await signed_in(cluster.b.console_url, "bob")
    try:
        cluster.sandbox.faults.latency = 1.5  # the charge on the first Asterisk is held
        on_first = await start_payment(cluster, first, alice)
        on_second = await start_payment(cluster, second, bob)
        assert (await cluster.payment(on_first))["instance"] == "a1"
        assert (await cluster.payment(on_second))["asterisk_id"] == "02:fc:00:00:00:02"

        # Both callers key at once; the first one's charge reaches the gateway and is held.
        await answer_prompt(second.caller, "confirm-amount", "1")
        await key_card(first.caller)

        async def sale_received() -> bool:
            status = await cluster.sandbox.processor.handle(
                "GET", wire.status_path(on_first), None, None
            )
            return status.status != 404

        await eventually(sale_received, 10)
        killed = time.monotonic()
        await cluster.a1.kill()

        # The standby takes the Asterisk, the caller is back with alice, the charge that was
        # on its way is settled from the gateway: approved, charged once.
        back = await cluster.talking(first, within=20)
        settled = await cluster.finished(on_first)
        settled_at = time.monotonic()
        print(
            f"\nfailover: a1 killed -> caller back with the agent {back - killed:.2f} s,"
            f" payment settled {settled_at - killed:.2f} s"
        )
        assert settled["outcome"] == "approved" and settled["gateway_reference"]
        assert cluster.charges(on_first) == 1
        assert "payment.recovered" in await cluster.audit(on_first)

        # The second Asterisk's payment went on meanwhile: approved by b, once.
        cluster.sandbox.faults.latency = 0
        await answer_prompt(second.caller, "enter-card-number", VISA + "#")
        await key_rest_of_card(second.caller)
        row = await cluster.finished(on_second)
        assert (row["outcome"], row["instance"]) == ("approved", "b")
        assert cluster.charges(on_second) == 1

        # a2 now runs the first Asterisk: a new payment on the same call; meanwhile b is
        # killed and started again, and the first Asterisk's payment is not touched.
        heard_before = len(prompts(first.caller))
        again = await request_payment(alice)
        await first.caller.wait_for(
            lambda p: "confirm-amount" in prompts(p)[heard_before:], within=10
        )
        await answer_prompt(first.caller, "confirm-amount", "1")
        await cluster.b.kill()
        await cluster.b.start()
        await answer_prompt(first.caller, "enter-card-number", VISA + "#")
        await key_rest_of_card(first.caller)
        row = await cluster.finished(again)
        assert (row["outcome"], row["instance"]) == ("approved", "a2")
        assert cluster.charges(again) == 1
        assert "payment.recovered" not in await cluster.audit(again)
        await cluster.talking(first)
        await cluster.talking(second)
    finally:
        await alice.close()
        await bob.close()


async def test_a_payment_killed_before_charging_is_cancelled_by_the_standby(
    cluster: Cluster,
) -> None:
    first = cluster.first
    alice = await signed_in(cluster.a1.console_url, "alice")
    try:
        payment_id = await start_payment(cluster, first, alice)
        await answer_prompt(first.caller, "confirm-amount", "1")
        await heard(first.caller, "enter-card-number")
        await first.caller.press(VISA[:6], duration_ms=80, gap_ms=120)
        killed = time.monotonic()
        await cluster.a1.kill()
        row = await cluster.finished(payment_id)
        back = await cluster.talking(first, within=20)
        print(f"\nfailover: a1 killed while keying -> caller back {back - killed:.2f} s")
        assert (row["outcome"], row["reason"]) == ("cancelled", RESTARTED_BEFORE_CHARGING)
        assert cluster.charges(payment_id) == 0
    finally:
        await alice.close()


async def test_a_console_on_one_instance_follows_and_cancels_a_payment_on_another(
    cluster: Cluster,
) -> None:
    """bob works on the second Asterisk (run by b) but his console is a1's."""
    second = cluster.second
    bob = await signed_in(cluster.a1.console_url, "bob")
    try:
        await bob.follow()
        payment_id = await start_payment(cluster, second, bob)  # a1 sends it to b
        started = await bob.event(lambda e: e.get("type") == "payment_started")
        assert started["payment"] == payment_id
        await answer_prompt(second.caller, "confirm-amount", "1")
        await bob.event(
            lambda e: (e.get("type"), e.get("step"), e.get("status")) == ("step", "amount", "done")
        )
        status, answer = await bob.call("GET", f"/api/v1/payments/{payment_id}")
        assert status == 200 and answer["id"] == payment_id
        assert answer["steps"]["amount"]["status"] == "done"

        status, answer = await bob.call("POST", f"/api/v1/payments/{payment_id}/cancel")
        assert status == 202, answer
        finished = await bob.event(lambda e: e.get("type") == "payment_finished")
        assert finished["payment"] == payment_id
        row = await cluster.finished(payment_id)
        assert (row["outcome"], row["instance"]) == ("agent_cancelled", "b")
        assert cluster.charges(payment_id) == 0
        await cluster.talking(second)

        # a2 has been waiting all along as the first Asterisk's standby: SIGTERM stops it.
        await cluster.a2.stop()
        assert cluster.a2.process is not None and cluster.a2.process.returncode == 0
    finally:
        await bob.close()
