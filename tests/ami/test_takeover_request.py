"""Parsing PayIVRRequest events and picking an agent's call from CoreShowChannels."""

from __future__ import annotations

import pytest

from payivr.ami import (
    ChannelSnapshot,
    InvalidTakeoverRequest,
    RequestSource,
    parse_user_event,
    pick_call,
)
from payivr.ami.takeover import new_key
from payivr.core.channels import endpoint_of
from payivr.log import mask_text

# The event exactly as Asterisk 22 sent it with SIP softphones (ari/traces/sip-takeover-*).
SIP_EVENT = {
    "Event": "UserEvent", "Privilege": "user,all", "Channel": "PJSIP/1001-00000011",
    "ChannelState": "6", "ChannelStateDesc": "Up", "CallerIDNum": "1001",
    "CallerIDName": "<unknown>", "ConnectedLineNum": "1002", "ConnectedLineName": "<unknown>",
    "Language": "en", "AccountCode": "", "Context": "payivr-feature", "Exten": "s",
    "Priority": "1", "Uniqueid": "1795296757.21", "Linkedid": "1795296757.20",
    "UserEvent": "PayIVRRequest", "Agent": "PJSIP/1001-00000011", "Peer": "PJSIP/1002-00000010",
}  # fmt: skip


def test_sip_feature_code_event() -> None:
    request = parse_user_event(SIP_EVENT)
    assert request.agent_channel == "PJSIP/1001-00000011"
    assert request.caller_channel == "PJSIP/1002-00000010"
    assert request.amount_minor is None
    assert request.source is RequestSource.FEATURE_CODE
    assert len(request.key) == 16 and request.key.isalpha()


@pytest.mark.parametrize(
    ("typed", "amount"),
    [("1999", 1999), ("", None), ("0", None), ("12*3", None), ("1234567890", None), ("٣", None)],
)
def test_amount_keyed_after_the_code(typed: str, amount: int | None) -> None:
    assert parse_user_event({**SIP_EVENT, "Amount": typed}).amount_minor == amount


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Peer": ""}, "not bridged"),
        ({"Peer": "PJSIP/1001-00000011"}, "two-party"),
        ({"UserEvent": "Other"}, "not a PayIVRRequest"),
    ],
)
def test_unusable_requests(changes: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidTakeoverRequest, match=reason):
        parse_user_event({**SIP_EVENT, **changes})


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/1001-0000002a", "PJSIP/1001"),
        ("Local/agent@sim-agent-0000000d;1", "Local/agent@sim-agent"),
        ("PJSIP/trunk-a-00000001", "PJSIP/trunk-a"),
        ("PJSIP/sales-2-00000001", "PJSIP/sales-2"),
        ("PJSIP/desk-7", "PJSIP/desk-7"),
        ("Local/a@ctx/n", "Local/a@ctx"),
    ],
)
def test_endpoint_of_channel(channel: str, endpoint: str) -> None:
    assert endpoint_of(channel) == endpoint


def chan(name: str, bridge: str = "", application: str = "Dial") -> ChannelSnapshot:
    return ChannelSnapshot(name, name, "l", bridge_id=bridge, application=application)


def test_pick_call() -> None:
    channels = [
        chan("PJSIP/1001-00000001", "b1"),
        chan("PJSIP/1002-00000002", "b1"),
        chan("PJSIP/1003-00000003", "b2", "Stasis"),
        chan("PJSIP/1004-00000004", "b2", "Stasis"),
        chan("PJSIP/1005-00000005"),
    ]
    call = pick_call(channels, "PJSIP/1001")
    assert call is not None and call.peer.name == "PJSIP/1002-00000002"
    stasis_call = pick_call(channels, "PJSIP/1003")
    assert stasis_call is not None and stasis_call.in_stasis
    assert pick_call(channels, "PJSIP/1005") is None
    assert pick_call(channels, "PJSIP/100") is None
    # An endpoint is matched whole: PJSIP/sales does not see PJSIP/sales-2's call.
    sales_2 = [chan("PJSIP/sales-2-00000011", "b3"), chan("PJSIP/2002-00000012", "b3")]
    assert pick_call(sales_2, "PJSIP/sales") is None
    assert pick_call(sales_2, "PJSIP/sales-2") is not None
    with pytest.raises(InvalidTakeoverRequest, match="two-party"):
        pick_call([*channels, chan("PJSIP/1009-00000009", "b1")], "PJSIP/1001")
    with pytest.raises(InvalidTakeoverRequest, match="more than one call"):
        pick_call([*channels, chan("PJSIP/1001-00000010", "b2")], "PJSIP/1001")


def test_pairing_keys_never_look_like_card_numbers() -> None:
    keys = {new_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(len(key) == 16 and key.isalpha() and key.islower() for key in keys)
    assert not any(mask_text(f"takeover-{key}") != f"takeover-{key}" for key in keys)
