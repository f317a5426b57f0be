"""How a payment and an audit event map to and from their rows, and the checks every
value passes on its way into them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
import structlog
from psycopg import sql

from payivr.core.bank import AccountType
from payivr.core.events import Outcome, PaymentMethod, StepStatus
from payivr.core.redact import has_digit_run, has_pan, redact_card_data
from payivr.core.request import EntryKind, PrivacyMode
from payivr.store.errors import CardDataRefused
from payivr.store.models import (
    STEP_COLUMNS,
    AuditEntry,
    AuditEvent,
    Origin,
    OriginKind,
    Payment,
    PaymentState,
    Progress,
)

logger = structlog.get_logger(__name__)


# The privacy_mode column's spelling (its CHECK constraint predates the enum's).
PRIVACY_COLUMN = {PrivacyMode.HOLD: "hold", PrivacyMode.TALK_THROUGH: "talk_through"}
PRIVACY_OF_COLUMN = {column: mode for mode, column in PRIVACY_COLUMN.items()}


def mask_digit_runs(reason: str | None) -> str | None:
    """A reason comes from gateways and code paths we do not control: rather than lose an
    outcome over it, digit runs that could be card data are removed before storing."""
    if not has_digit_run(reason):
        return reason
    assert reason is not None
    logger.warning("reason_digits_removed")
    return redact_card_data(reason)


def refuse_card_data(free_text: dict[str, str | None], identifiers: dict[str, str | None]) -> None:
    for field, value in free_text.items():
        if has_digit_run(value):
            raise CardDataRefused(field)
    for field, value in identifiers.items():
        if has_pan(value):
            raise CardDataRefused(field)


def with_progress(
    assignments: sql.Composable | None, params: dict[str, Any], progress: Progress | None
) -> tuple[sql.Composable, dict[str, Any]]:
    """``assignments`` and ``params`` with the columns of ``progress`` (what it knows) too.

    Brand and last four, bank account type and last two, are checked here: whoever stores
    them, nothing else of a card or account can go into those columns."""
    parts = [] if assignments is None else [assignments]
    values = dict(params)
    if progress is None:
        return sql.SQL(", ").join(parts), values
    for step, status in progress.steps.items():
        column = STEP_COLUMNS[step]
        parts.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
        values[column] = status.value
    if progress.last_four is not None:
        if len(progress.last_four) != 4 or not progress.last_four.isdigit():
            raise ValueError("last_four must be exactly four digits")
        parts.append(sql.SQL("brand = %(brand)s, last_four = %(last_four)s"))
        values.update(brand=progress.brand, last_four=progress.last_four)
    if progress.bank_account_last_two is not None:
        if len(progress.bank_account_last_two) != 2 or not progress.bank_account_last_two.isdigit():
            raise ValueError("last_two must be exactly two digits")
        assert progress.bank_account_type is not None
        parts.append(
            sql.SQL("bank_account_type = %(account_type)s, bank_account_last_two = %(last_two)s")
        )
        values.update(
            account_type=progress.bank_account_type.value, last_two=progress.bank_account_last_two
        )
    return sql.SQL(", ").join(parts), values


def payment_from_row(row: dict[str, Any]) -> Payment:
    return Payment(
        id=row["id"],
        call_id=row["call_id"],
        agent_channel=row["agent_channel"],
        agent=row["agent"],
        item_name=row["item_name"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        privacy_mode=PRIVACY_OF_COLUMN[row["privacy_mode"]],
        entry_kind=EntryKind(row["entry_kind"]),
        state=PaymentState(row["state"]),
        # A step that is not part of the payment's method has no status.
        steps={
            step: StepStatus(row[column])
            for step, column in STEP_COLUMNS.items()
            if row[column] is not None
        },
        brand=row["brand"],
        last_four=row["last_four"],
        gateway_reference=row["gateway_reference"],
        idempotency_key=row["idempotency_key"],
        outcome=Outcome(row["outcome"]) if row["outcome"] is not None else None,
        reason=row["reason"],
        needs_reconciliation=row["needs_reconciliation"],
        crm_record_id=row["crm_record_id"],
        caller_number=row["caller_number"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        payment_method=PaymentMethod(row["payment_method"]),
        bank_account_type=(
            AccountType(row["bank_account_type"]) if row["bank_account_type"] else None
        ),
        bank_account_last_two=row["bank_account_last_two"],
        instance=row["instance"],
        asterisk_id=row["asterisk_id"],
    )


AUDIT_INSERT = (
    "INSERT INTO audit_events (occurred_at, actor, action, success, origin_kind, origin,"
    " resource, payment_id, detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def audit_values(occurred_at: datetime, entry: AuditEntry) -> tuple[object, ...]:
    """The parameters of :data:`AUDIT_INSERT`, in its order."""
    origin = entry.origin
    return (
        occurred_at, entry.actor, entry.action, entry.success, origin.kind.value, origin.value,
        entry.resource, entry.payment_id, entry.detail,
    )  # fmt: skip


def audit_from_row(row: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        action=row["action"],
        success=row["success"],
        origin=Origin(OriginKind(row["origin_kind"]), row["origin"]),
        resource=row["resource"],
        payment_id=row["payment_id"],
        detail=row["detail"],
    )


LISTED = (
    "WHERE (%(agent)s::text IS NULL OR agent = %(agent)s)"
    " AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s)"
    " AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)"
    " AND (%(outcomes)s::text[] IS NULL OR coalesce(outcome, 'in_progress') = ANY(%(outcomes)s))"
)


def listed_params(
    agent: str | None,
    since: datetime | None,
    until: datetime | None,
    outcomes: Sequence[str] | None,
) -> dict[str, Any]:
    return {
        "agent": agent,
        "since": since,
        "until": until,
        "outcomes": list(outcomes) if outcomes is not None else None,
    }


ON_ASTERISK = "AND (%(asterisk_id)s::text IS NULL OR coalesce(asterisk_id, %(asterisk_id)s) = %(asterisk_id)s)"


def card_data_refused(error: psycopg.errors.CheckViolation) -> Exception:
    """Replace a CHECK failure with an error that does not carry the failing row."""
    constraint = error.diag.constraint_name or ""
    if constraint.endswith(("_no_pan", "_no_digits")):
        return CardDataRefused(constraint)
    return ValueError(f"value refused by constraint {constraint}")
