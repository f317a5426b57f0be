"""Stripe settings are checked at start, with messages that say what to fix."""

import pytest
from _fake_stripe import SECRET_KEY

from payivr.gateway.client import GatewayConfigError
from payivr.gateway.stripe_config import API_BASE, API_VERSION, StripeConfig


def test_defaults_from_values():
    config = StripeConfig.from_values(secret_key=f"  {SECRET_KEY}\n", read_timeout=12.0)

    assert config.secret_key == SECRET_KEY
    assert (config.api_base, config.api_version, config.moto) == (API_BASE, API_VERSION, False)
    assert config.timeouts.read == 12.0
    assert API_BASE == "https://api.stripe.com"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "the Stripe secret key is required"),
        ("pk_test_123", "publishable key"),
        ("whsec_abc", "must start with sk_test_, sk_live_, rk_test_ or rk_live_"),
        ("sk_test_has space", "characters a key cannot have"),
    ],
)
def test_unusable_secret_keys(key: str, message: str):
    with pytest.raises(GatewayConfigError, match=message):
        StripeConfig(secret_key=key)


@pytest.mark.parametrize("key", ["sk_live_abc", "rk_test_abc", "rk_live_abc", SECRET_KEY])
def test_secret_and_restricted_keys_are_accepted(key: str):
    assert StripeConfig(secret_key=key).secret_key == key


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("http://api.stripe.com", "must start with https://"),
        ("http://10.0.0.5:12111", "must start with https://"),
        ("https://api.stripe.com/v1", "has no path"),
        ("https://api.stripe.com?x=1", "must be https://host"),
        ("api.stripe.com", "must be https://host"),
    ],
)
def test_unusable_api_bases(base: str, message: str):
    with pytest.raises(GatewayConfigError, match=message):
        StripeConfig(secret_key=SECRET_KEY, api_base=base)


@pytest.mark.parametrize(
    "base", ["https://api.stripe.com", "http://127.0.0.1:12111", "http://localhost:12111/"]
)
def test_https_anywhere_and_http_only_on_this_machine(base: str):
    assert StripeConfig(secret_key=SECRET_KEY, api_base=base).api_base == base


def test_an_empty_api_version_is_refused():
    with pytest.raises(GatewayConfigError, match="API version"):
        StripeConfig(secret_key=SECRET_KEY, api_version=" ")
