"""``calls.talk_through_unchecked_technologies``: read from the environment, checked at start."""

from __future__ import annotations

import pytest

from payivr.config import ConfigError, load_config


def test_unchecked_technologies_are_read_as_a_list() -> None:
    config = load_config(None, {"PAYIVR_CALLS_TALK_THROUGH_UNCHECKED_TECHNOLOGIES": "Local,IAX2"})
    assert config.calls.talk_through_unchecked_technologies == ("Local", "IAX2")
    assert load_config(None, {}).calls.talk_through_unchecked_technologies == ()


def test_a_channel_name_instead_of_a_technology_is_refused_at_start() -> None:
    config = load_config(
        None, {"PAYIVR_CALLS_TALK_THROUGH_UNCHECKED_TECHNOLOGIES": "Local/queue@from-queue"}
    )
    with pytest.raises(ConfigError, match="channel technologies such as Local"):
        config.validate()
