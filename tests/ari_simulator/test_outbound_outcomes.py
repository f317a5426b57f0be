"""Calls to numbers behind a trunk: refused (busy, unknown number, out of order), not answered,
answered by a person or by an answering machine (``AMD()`` in the dialplan)."""

from __future__ import annotations

from typing import Any

import pytest

from payivr.sim.ari import AriSimulator, PhoneError

from .helpers import AriTestClient, EventStream, load_trace

CUSTOMER = "PJSIP/+15550100@trunk"


async def _ring(client: AriTestClient, sim: AriSimulator, **phone: Any) -> tuple[Any, EventStream]:
    customer = sim.add_phone("customer", CUSTOMER, **phone)
    events = await client.events("payivr")
    status, channel = await client.request(
        "POST",
        "/channels/cust-leg",
        {
            "endpoint": CUSTOMER,
            "app": "payivr",
            "appArgs": "outbound,customer,k1",
            "callerId": "Acme <+15550199>",
            "timeout": 30,
        },
    )
    assert status == 200
    assert channel["name"].startswith("PJSIP/trunk-")  # named after the endpoint, as chan_pjsip
    return customer, events


def dial_statuses(events: list[dict[str, Any]], leg: str) -> list[str]:
    return [e["dialstatus"] for e in events if e["type"] == "Dial" and e["peer"]["id"] == leg]


def recorded_ends() -> dict[str, tuple[int, list[str]]]:
    """Recorded on Asterisk 22.10.1 with bench/outbound_trunk.py: a leg on the Local-channel
    test trunk left ringing until the originate's 3 s timeout, and one refused with cause 17
    (a SIP 486): each leg's hangup cause and its Dial statuses."""
    events = [line["event"] for line in load_trace("outbound-trunk-unanswered-and-refused.jsonl")
              if line["kind"] == "event" and line["app"] == "payivr-77"]
    return {
        leg: (
            next(e["cause"] for e in events
                 if e["type"] == "ChannelDestroyed" and e["channel"]["id"] == leg),
            dial_statuses(events, leg),
        )
        for leg in ("ob-unanswered", "ob-refused")
    }


async def test_an_unanswered_call_ends_at_the_dial_timeout_without_a_last_dial_status(
    sim: AriSimulator, client: AriTestClient
) -> None:
    """A ringing phone is published as Dial RINGING; at its dial timeout ARI's originate
    hangs the leg up (cause 19) and publishes no Dial status after it, unlike a refusal
    (Dial BUSY for cause 17)."""
    recorded = recorded_ends()
    assert recorded == {
        "ob-unanswered": (19, ["", "RINGING"]),
        "ob-refused": (17, ["", "RINGING", "BUSY"]),
    }

    customer = sim.add_phone("customer", CUSTOMER, auto_answer=False)
    events = await client.events("payivr")
    for leg, timeout in (("ob-unanswered", 3), ("ob-refused", 30)):
        await client.request(
            "POST",
            f"/channels/{leg}",
            {"endpoint": CUSTOMER, "app": "payivr", "appArgs": "outbound,customer,k",
             "callerId": "Acme <+15550199>", "timeout": timeout},
        )
        if leg == "ob-refused":
            await customer.wait_for(lambda p: p.ringing)
            await customer.refuse(486)
        await events.wait_for(
            lambda e, leg=leg: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == leg
        )
    simulated = {
        leg: (
            next(e["cause"] for e in events.events
                 if e["type"] == "ChannelDestroyed" and e["channel"]["id"] == leg),
            dial_statuses(events.events, leg),
        )
        for leg in ("ob-unanswered", "ob-refused")
    }
    assert simulated == recorded


@pytest.mark.parametrize(
    ("sip_status", "cause", "cause_txt", "dialstatus"),
    [
        (486, 17, "User busy", "BUSY"),
        (603, 21, "Call Rejected", "NOANSWER"),
        (404, 1, "Unallocated (unassigned) number", "NOANSWER"),
        (502, 27, "Destination out of order", "NOANSWER"),
        (503, 34, "Circuit/channel congestion", "CONGESTION"),
    ],
)
async def test_a_refused_call_reports_the_cause_chan_pjsip_maps_the_response_to(
    sim: AriSimulator,
    client: AriTestClient,
    sip_status: int,
    cause: int,
    cause_txt: str,
    dialstatus: str,
) -> None:
    customer, events = await _ring(client, sim, auto_answer=False)
    await customer.wait_for(lambda p: p.ringing)
    await customer.refuse(sip_status)
    destroyed = await events.wait_for(lambda e: e["type"] == "ChannelDestroyed")
    assert (destroyed["cause"], destroyed["cause_txt"]) == (cause, cause_txt)
    request = next(e for e in events.events if e["type"] == "ChannelHangupRequest")
    assert request["cause"] == cause
    dials = [e["dialstatus"] for e in events.events if e["type"] == "Dial"]
    assert dials == ["", "RINGING", dialstatus]
    assert not any(e["type"] == "StasisStart" for e in events.events)
    assert customer.channel is None and not customer.ringing


async def test_only_a_ringing_phone_can_refuse_and_only_with_a_known_response(
    sim: AriSimulator, client: AriTestClient
) -> None:
    customer, _ = await _ring(client, sim, auto_answer=False)
    await customer.wait_for(lambda p: p.ringing)
    with pytest.raises(PhoneError):
        await customer.refuse(299)
    idle = sim.add_phone("idle", "PJSIP/1009")
    with pytest.raises(PhoneError):
        await idle.refuse(486)


async def test_a_phone_already_in_a_call_is_busy_with_cause_17(
    sim: AriSimulator, client: AriTestClient
) -> None:
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    await sim.dial(caller, agent)
    events = await client.events("payivr")
    await client.request("POST", "/channels", {"endpoint": "PJSIP/1001", "app": "payivr"})
    destroyed = await events.wait_for(lambda e: e["type"] == "ChannelDestroyed")
    assert destroyed["cause"] == 17
    assert [e["dialstatus"] for e in events.events if e["type"] == "Dial"] == ["", "BUSY"]


@pytest.mark.parametrize(
    ("machine", "status", "cause"),
    [
        (False, "HUMAN", "HUMAN-800-800"),
        (True, "MACHINE", "LONGGREETING-1500-1500"),
    ],
)
async def test_amd_in_the_dialplan_tells_a_person_from_an_answering_machine(
    sim: AriSimulator, client: AriTestClient, machine: bool, status: str, cause: str
) -> None:
    sim.dialplan.load(
        "[detect]\n"
        "exten => s,1,AMD()\n"
        " same => n,Stasis(payivr,outbound,amd,k1,${AMDSTATUS},${AMDCAUSE})\n"
    )
    _, events = await _ring(client, sim, answering_machine=machine)
    await events.wait_for(lambda e: e["type"] == "StasisStart")
    assert await client.request(
        "POST",
        "/channels/cust-leg/continue",
        {"context": "detect", "extension": "s", "priority": 1},
    ) == (204, "")
    again = await events.wait_for(
        lambda e: e["type"] == "StasisStart" and e["args"][:2] == ["outbound", "amd"]
    )
    assert again["args"] == ["outbound", "amd", "k1", status, cause]
    # The originating application keeps its subscription while the dialplan runs AMD().
    assert any(e["type"] == "ChannelVarset" and e["variable"] == "AMDSTATUS" for e in events.events)


async def test_a_phone_can_also_be_reached_as_a_number_on_the_trunk(
    sim: AriSimulator, client: AriTestClient
) -> None:
    phone = sim.add_phone("customer", "PJSIP/1002")
    sim.reach_phone_at(phone, CUSTOMER)
    events = await client.events("payivr")
    status, channel = await client.request("POST", "/channels", {
        "endpoint": CUSTOMER, "app": "payivr"})
    assert status == 200 and channel["name"].startswith("PJSIP/trunk-")
    await events.wait_for(lambda e: e["type"] == "StasisStart")
    assert phone.in_call
    with pytest.raises(ValueError, match="already uses"):
        sim.reach_phone_at(phone, "PJSIP/1002")
