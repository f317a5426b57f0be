"""The one place a running payivr's gateway is built from its settings."""

from __future__ import annotations

from payivr.config import GatewaySettings
from payivr.gateway.client import HttpGateway, HttpGatewayConfig
from payivr.gateway.stripe import StripeGateway
from payivr.gateway.stripe_config import StripeConfig


def open_gateway(settings: GatewaySettings) -> HttpGateway | StripeGateway:
    """Stripe PaymentIntents when ``kind`` is ``stripe``, else the encrypted HTTP connector.

    Raises ``GatewayConfigError`` (or Stripe's) for unusable settings; call ``check()``
    on the result before taking calls, and ``close()`` when done.
    """
    if settings.kind == "stripe":
        return StripeGateway(
            StripeConfig.from_values(
                secret_key=settings.stripe_secret_key,
                api_base=settings.stripe_api_base,
                api_version=settings.stripe_api_version,
                moto=settings.stripe_moto,
                connect_timeout=settings.connect_timeout,
                read_timeout=settings.read_timeout,
            )
        )
    return HttpGateway(
        HttpGatewayConfig.from_values(
            url=settings.url,
            public_key=settings.public_key,
            signing_secret=settings.signing_secret,
            kid=settings.key_id or None,
            ca_bundle=settings.ca_bundle,
            client_cert=settings.client_cert,
            client_key=settings.client_key,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
        )
    )


def gateway_location(settings: GatewaySettings) -> str:
    """Where the gateway is, for an operator reading a start-up error."""
    return "Stripe" if settings.kind == "stripe" else settings.url
