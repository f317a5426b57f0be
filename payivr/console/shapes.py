"""The JSON the API answers with for calls, payments and their refunds and voids."""

from __future__ import annotations

import contextlib
from typing import Any

from payivr.calls.views import CallInfo
from payivr.console.live import EventHub
from payivr.core.amounts import format_minor
from payivr.core.cards import Brand, MaskedCard
from payivr.store.models import Payment
from payivr.store.reversals import Reversal, ReversalKind, ReversalStatus


def call_json(info: CallInfo) -> dict[str, Any]:
    return {
        "call": info.call_key,
        "agent_endpoint": info.agent_endpoint,
        "caller_number": info.caller_number,
        "started_at": info.started_at.isoformat(),
        "payment": info.payment_id,
    }


def payment_json(
    payment: Payment, reversals: list[Reversal], hub: EventHub | None = None
) -> dict[str, Any]:
    live = hub.live_payment(str(payment.id)) if hub is not None else None
    steps: dict[str, dict[str, Any]] = {}
    for step, status in payment.steps.items():
        shown: dict[str, Any] = {"status": status.value, "digits_entered": 0, "detail": None}
        if live is not None and step.value in live.steps:
            shown = {
                key: live.steps[step.value][key] for key in ("status", "digits_entered", "detail")
            }
        steps[step.value] = shown
    card = None
    if payment.brand and payment.last_four:
        with contextlib.suppress(ValueError):
            card = str(MaskedCard(Brand(payment.brand), payment.last_four))
    account = None
    if payment.bank_account_type and payment.bank_account_last_two:
        account = (payment.bank_account_type.value, payment.bank_account_last_two)
    return {
        "id": str(payment.id),
        "call": payment.call_id,
        "agent": payment.agent,
        "item": payment.item_name,
        "amount_minor": payment.amount_minor,
        "amount": format_minor(payment.amount_minor, payment.currency),
        "currency": payment.currency,
        "privacy_mode": payment.privacy_mode.value,
        "state": payment.state.value,
        "steps": steps,
        "method": payment.payment_method.value,
        "card": card,
        "bank_account": f"{account[0]} account ending {account[1]}" if account else None,
        "paid_with": card or (f"{account[0]} ending {account[1]}" if account else None),
        "outcome": payment.outcome.value if payment.outcome else None,
        "succeeded": payment.outcome.succeeded if payment.outcome else None,
        "reason": payment.reason,
        "transaction_id": payment.gateway_reference,
        "needs_reconciliation": payment.needs_reconciliation,
        "created_at": payment.created_at.isoformat(),
        "finished_at": payment.finished_at.isoformat() if payment.finished_at else None,
        **reversals_summary(payment, reversals),
    }


def reversal_json(reversal: Reversal, currency: str) -> dict[str, Any]:
    return {
        "id": str(reversal.id),
        "kind": reversal.kind.value,
        "amount_minor": reversal.amount_minor,
        "amount": format_minor(reversal.amount_minor, currency),
        "status": reversal.status.value,
        "by": reversal.actor,
        "reason": reversal.reason,
        "transaction_id": reversal.gateway_reference,
        "created_at": reversal.created_at.isoformat(),
        "finished_at": reversal.finished_at.isoformat() if reversal.finished_at else None,
    }


def reversals_summary(payment: Payment, reversals: list[Reversal]) -> dict[str, Any]:
    """What a payment's JSON says of its refunds and voids."""
    given_back = sum(
        r.amount_minor for r in reversals if r.status is ReversalStatus.APPROVED
    )
    return {
        "reversals": [reversal_json(r, payment.currency) for r in reversals],
        "refunded_minor": given_back,
        "voided": any(
            r.kind is ReversalKind.VOID and r.status is ReversalStatus.APPROVED for r in reversals
        ),
    }
