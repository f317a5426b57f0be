"""The agent's *7 read from DTMF events on a call in payivr's bridge."""

from __future__ import annotations

from payivr.calls.agent_keys import AgentKeys, AgentRequest


def keyed(keys: AgentKeys, digits: str) -> list[AgentRequest]:
    return [request for digit in digits if (request := keys.key(digit)) is not None]


def test_code_amount_and_hash_ask_for_that_amount() -> None:
    assert keyed(AgentKeys(), "*71999#") == [AgentRequest(1999)]


def test_code_and_hash_or_the_timeout_ask_without_an_amount() -> None:
    keys = AgentKeys()
    assert keyed(keys, "*7#") == [AgentRequest(None)]
    assert keyed(keys, "*7") == [] and keys.reading_amount
    assert keys.expired() == AgentRequest(None)
    assert keys.expired() is None and not keys.reading_amount


def test_the_timeout_takes_the_digits_keyed_so_far() -> None:
    keys = AgentKeys()
    keyed(keys, "*725")
    assert keys.expired() == AgentRequest(25)


def test_other_keys_are_no_request() -> None:
    keys = AgentKeys()
    assert keyed(keys, "1237*8#7#") == []
    assert not keys.reading_amount
    assert keyed(keys, "**7#") == [AgentRequest(None)]  # a stray * before the code


def test_star_while_keying_the_amount_starts_over_and_long_amounts_stop_at_nine_keys() -> None:
    keys = AgentKeys()
    assert keyed(keys, "*712*7500#") == [AgentRequest(500)]
    assert keyed(keys, "*7" + "1" * 12 + "#") == [AgentRequest(111111111)]
    assert keyed(keys, "*70#") == [AgentRequest(None)]  # zero is no amount
