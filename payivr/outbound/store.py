"""The ``outbound_calls`` table (migration 0008): each call payivr placed and its outcome."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, LiteralString
from uuid import UUID

from psycopg.rows import dict_row

from payivr.store.database import Database


class Status(enum.Enum):
    RINGING_AGENT = "ringing-agent"
    RINGING_CUSTOMER = "ringing-customer"
    DETECTING = "detecting"  # answered; AMD() listens for a person or a machine
    CONNECTED = "connected"  # customer and agent bridged: payments as on any call
    ENDED = "ended"


class CallOutcome(enum.Enum):
    """How an outbound call ended (a payment on it has its own :class:`~payivr.core.events.Outcome`)."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    UNREACHABLE = "unreachable"
    VOICEMAIL = "voicemail"
    AGENT_UNAVAILABLE = "agent-unavailable"  # the agent's own phone did not answer
    CANCELLED = "cancelled"  # the agent hung up or cancelled before the customer answered
    OUTSIDE_HOURS = "outside-hours"  # the window closed while the agent's phone rang
    FAILED = "failed"  # Asterisk refused the call (configuration) or payivr lost it


@dataclass(frozen=True)
class OutboundCall:
    id: UUID
    call_key: str
    agent: str
    agent_endpoint: str
    campaign: str
    caller_id: str
    phone: str
    time_zone: str
    item_name: str | None
    amount_minor: int | None
    currency: str
    status: Status
    outcome: CallOutcome | None
    hangup_cause: int | None
    dial_status: str | None
    amd_status: str | None
    amd_cause: str | None
    detail: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None

    @property
    def masked_phone(self) -> str:
        """For logs: the last four digits only."""
        return f"…{self.phone[-4:]}"


_COLUMNS = tuple(f.name for f in fields(OutboundCall))


def _row(row: dict[str, Any]) -> OutboundCall:
    values = {name: row[name] for name in _COLUMNS}
    values["status"] = Status(row["status"])
    values["outcome"] = CallOutcome(row["outcome"]) if row["outcome"] else None
    values["currency"] = str(row["currency"]).strip()
    return OutboundCall(**values)


class OutboundCalls:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self,
        *,
        agent: str,
        agent_endpoint: str,
        campaign: str,
        caller_id: str,
        phone: str,
        time_zone: str,
        item_name: str | None,
        amount_minor: int | None,
        currency: str,
        now: datetime,
    ) -> OutboundCall:
        call_id = uuid.uuid4()
        call = OutboundCall(
            id=call_id,
            call_key=f"outbound-{call_id.hex}",
            agent=agent,
            agent_endpoint=agent_endpoint,
            campaign=campaign,
            caller_id=caller_id,
            phone=phone,
            time_zone=time_zone,
            item_name=item_name,
            amount_minor=amount_minor,
            currency=currency,
            status=Status.RINGING_AGENT,
            outcome=None,
            hangup_cause=None,
            dial_status=None,
            amd_status=None,
            amd_cause=None,
            detail=None,
            created_at=now,
            answered_at=None,
            ended_at=None,
        )
        async with self.db.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO outbound_calls (id, call_key, agent, agent_endpoint, campaign,"
                " caller_id, phone, time_zone, item_name, amount_minor, currency, status,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    call.id,
                    call.call_key,
                    agent,
                    agent_endpoint,
                    campaign,
                    caller_id,
                    phone,
                    time_zone,
                    item_name,
                    amount_minor,
                    currency,
                    call.status.value,
                    now,
                ),
            )
        return call

    async def save(self, call: OutboundCall) -> None:
        """Write the call's progress (status, outcome and what explains it)."""
        async with self.db.pool.connection() as conn:
            await conn.execute(
                "UPDATE outbound_calls SET status = %s, outcome = %s, hangup_cause = %s,"
                " dial_status = %s, amd_status = %s, amd_cause = %s, detail = %s,"
                " answered_at = %s, ended_at = %s WHERE id = %s",
                (
                    call.status.value,
                    call.outcome.value if call.outcome else None,
                    call.hangup_cause,
                    call.dial_status,
                    call.amd_status,
                    call.amd_cause,
                    call.detail,
                    call.answered_at,
                    call.ended_at,
                    call.id,
                ),
            )

    async def get(self, call_id: UUID) -> OutboundCall | None:
        rows = await self._select("WHERE id = %s", (call_id,))
        return rows[0] if rows else None

    async def latest(self, *, agent: str | None, limit: int) -> list[OutboundCall]:
        """Newest first; one agent's or (None) everyone's."""
        return await self._select(
            "WHERE (%s::text IS NULL OR agent = %s) ORDER BY seq DESC LIMIT %s",
            (agent, agent, limit),
        )

    async def payments_on(self, call_key: str) -> list[str]:
        """Ids of the payments taken on the call, oldest first."""
        async with self.db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id FROM payments WHERE call_id = %s ORDER BY created_at", (call_key,)
            )
            return [str(row[0]) for row in await cursor.fetchall()]

    async def open_calls(self) -> list[OutboundCall]:
        return await self._select("WHERE status <> 'ended' ORDER BY seq", ())

    async def _select(self, where: LiteralString, params: tuple[Any, ...]) -> list[OutboundCall]:
        async with self.db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            # where is a literal of this module (LiteralString); values go as parameters
            await cursor.execute("SELECT * FROM outbound_calls " + where, params)  # noqa: S608
            return [_row(row) for row in await cursor.fetchall()]


__all__ = ["CallOutcome", "OutboundCall", "OutboundCalls", "Status"]
