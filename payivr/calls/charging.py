"""The flow's ``Authorize`` command served by a payment gateway adapter."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from payivr.calls.driver import Authorizer
from payivr.core.events import Authorize, GatewayAnswer, GatewayApproval
from payivr.gateway.interface import Approved, Gateway, send_authorization, to_flow_event
from payivr.store.cards_on_file import CardsOnFile, GatewayToken

log = structlog.get_logger(__name__)

CardKeeper = Callable[[str, GatewayToken], Awaitable[None]]
"""Keeps the token of a card the caller chose to keep, for the payment with this id."""


def gateway_authorizer(
    gateway: Gateway,
    observe_latency: Callable[[float], None] | None = None,
    keep_card: CardKeeper | None = None,
) -> Authorizer:
    """Charge once per Authorize, keyed by its idempotency key (the payment id, then a try number).

    When the caller chose to keep the card (``Authorize.store_card``) and the approval
    carries the gateway's token, ``keep_card`` stores it and the caller hears that the card
    was kept. A token that cannot be kept is logged, never turned into a failed payment:
    the money has moved.
    """

    async def authorize(command: Authorize) -> GatewayAnswer:
        started = time.monotonic()
        try:
            result = await send_authorization(gateway, command)
        finally:
            if observe_latency is not None:
                observe_latency(time.monotonic() - started)
        answer = to_flow_event(result)
        if command.store_card and isinstance(result, Approved) and keep_card is not None:
            token = _token_of(result)
            if token is None:
                log.warning("card_on_file_not_returned", payment_id=command.payment_id)
            else:
                try:
                    await keep_card(command.payment_id, token)
                except Exception as error:
                    log.warning(
                        "card_on_file_not_kept",
                        payment_id=command.payment_id,
                        error=type(error).__name__,
                    )
                else:
                    assert isinstance(answer, GatewayApproval)
                    answer = dataclasses.replace(answer, card_stored=True)
        return answer

    return authorize


def _token_of(approved: Approved) -> GatewayToken | None:
    if approved.token is None or approved.brand is None or approved.last_four is None:
        return None
    try:
        return GatewayToken(
            approved.token,
            approved.brand,
            approved.last_four,
            approved.token_expiry_month,
            approved.token_expiry_year,
        )
    except ValueError:  # the gateway's last four or expiry is malformed
        return None


def keep_cards_in(cards: CardsOnFile) -> CardKeeper:
    """A :data:`CardKeeper` that files the card under the payment's customer."""

    async def keep(payment_id: str, token: GatewayToken) -> None:
        await cards.save_for_payment(uuid.UUID(payment_id), token)

    return keep
