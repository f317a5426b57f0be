"""The Stripe adapter's settings: which API, which key, and its timeouts and retries."""

from __future__ import annotations

from dataclasses import dataclass, field

from payivr.config.checks import api_base_problem, secret_key_problem
from payivr.gateway.client import GatewayConfigError, RetryPolicy
from payivr.gateway.transport import Timeouts

API_BASE = "https://api.stripe.com"
API_VERSION = "2025-03-31.basil"
"""Pinned, so Stripe's answers keep the shape this adapter reads."""


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str = field(repr=False)
    api_base: str = API_BASE
    api_version: str = API_VERSION
    moto: bool = False
    """Flag card sales and stored cards as MOTO (telephone orders, out of scope for SCA).
    Stripe enables this per account; without it Stripe refuses the flag."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    search_lag: float = 120.0
    """Seconds after sending a request during which a search that does not find it means
    "not indexed yet" rather than "not there" (Stripe: searchable in under a minute)."""

    def __post_init__(self) -> None:
        problem = secret_key_problem(self.secret_key) or api_base_problem(self.api_base)
        if problem:
            raise GatewayConfigError(problem)
        if not self.api_version.strip():
            raise GatewayConfigError("the Stripe API version must not be empty")
        if self.search_lag < 0:
            raise GatewayConfigError("the Stripe search lag must not be negative")

    @classmethod
    def from_values(
        cls,
        *,
        secret_key: str,
        api_base: str = API_BASE,
        api_version: str = API_VERSION,
        moto: bool = False,
        connect_timeout: float = 5.0,
        send_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> StripeConfig:
        return cls(
            secret_key=secret_key.strip(),
            api_base=api_base,
            api_version=api_version,
            moto=moto,
            timeouts=Timeouts(connect_timeout, send_timeout, read_timeout),
            retry=retry or RetryPolicy(),
        )
