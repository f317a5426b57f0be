"""One console for every payivr instance (README "Running several PBXs").

Each instance records the calls it runs in the ``calls`` table (from its notifier's events),
so a console on any instance finds an agent's call wherever it runs; the live steps reach
every console over the :class:`~payivr.store.ConsoleBus` already. A request or a cancel for a
call this instance does not run goes to the instance running that call's Asterisk through
the ``call_commands`` table: inserted with a NOTIFY, taken and answered by that instance's
:meth:`CallCommands.serve`, polled for by the asker. No RPC layer besides the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import uuid
from datetime import datetime
from typing import Any

import psycopg
import psycopg_pool
import structlog
from psycopg.types.json import Jsonb

from payivr.calls.control import CallDesk
from payivr.calls.notifier import CallEnded, CallStarted, PaymentEvent
from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest, RequestRefused
from payivr.calls.stasis import UnknownCall
from payivr.calls.views import CallInfo
from payivr.core.events import PaymentMethod, Step
from payivr.core.request import PrivacyMode
from payivr.store.cluster import Identity
from payivr.store.database import Database

log = structlog.get_logger(__name__)

COMMANDS_CHANNEL = "payivr_call_commands"
ANSWER_SECONDS = 10.0
"""How long a console waits for the instance running a call to answer its command."""
POLL_SECONDS = 0.05
SERVE_POLL_SECONDS = 1.0  # commands whose NOTIFY was missed (a reconnect) are taken anyway


@dataclasses.dataclass(frozen=True)
class ListedCall:
    info: CallInfo
    asterisk_id: str | None


class CallDirectory:
    """The calls in progress on every instance (the ``calls`` table)."""

    RECORDED = (CallStarted, CallEnded)
    """The events :meth:`record` keeps (subscribe it with ``only=RECORDED``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, events: list[PaymentEvent]) -> None:
        """A batch of this instance's events (a notifier batch listener). While the database
        is away the batch is not recorded: other instances' consoles miss those calls (this
        one's console still has them)."""
        calls = [event for event in events if isinstance(event, self.RECORDED)]
        if not calls:
            return  # most batches are steps and digit counts: no connection taken for them
        try:
            await self._record(calls)
        except (OSError, psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            log.warning("calls_not_recorded", events=len(events), error=type(error).__name__)

    async def _record(self, events: list[CallStarted | CallEnded]) -> None:
        async with self._db.pool.connection() as conn, conn.pipeline():
            for event in events:
                if isinstance(event, CallStarted):
                    await conn.execute(
                        "INSERT INTO calls (call_key, agent, agent_endpoint, caller_number, entry,"
                        " started_at) VALUES (%s, %s, %s, %s, %s, now())"
                        " ON CONFLICT (call_key) DO UPDATE SET agent = EXCLUDED.agent,"
                        " agent_endpoint = EXCLUDED.agent_endpoint, ended_at = NULL,"
                        " instance = EXCLUDED.instance, asterisk_id = EXCLUDED.asterisk_id",
                        (
                            event.call_key,
                            event.agent,
                            event.agent_endpoint,
                            event.caller_number,
                            event.entry.value,
                        ),
                    )
                elif isinstance(event, CallEnded):
                    await conn.execute(
                        "UPDATE calls SET ended_at = now() WHERE call_key = %s", (event.call_key,)
                    )

    async def forget(self, asterisk_id: str) -> None:
        """End the rows of the calls an instance that stopped left on ``asterisk_id``: called
        before this one takes that Asterisk, which records again each call it takes back."""
        async with self._db.pool.connection() as conn:
            await conn.execute(
                "UPDATE calls SET ended_at = now() WHERE asterisk_id = %s AND ended_at IS NULL",
                (asterisk_id,),
            )

    async def running_payment(self, payment_id: str) -> str | None:
        """The entity id of the Asterisk running the unfinished payment, if any."""
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT asterisk_id FROM payments WHERE id = %s AND state <> 'finished'",
                (uuid.UUID(payment_id),),
            )
            row = await cursor.fetchone()
        return str(row[0]) if row is not None and row[0] is not None else None

    async def live(
        self, *, call_key: str | None = None, agent_endpoint: str | None = None
    ) -> list[ListedCall]:
        """Calls in progress, newest first; only ``call_key`` or ``agent_endpoint``'s if given."""
        rows = await self._db.rows(
            "SELECT c.*, (SELECT p.id FROM payments p WHERE p.call_id = c.call_key"
            "  AND p.state <> 'finished' ORDER BY p.created_at DESC LIMIT 1) AS payment_id"
            " FROM calls c WHERE c.ended_at IS NULL"
            " AND (%(key)s::text IS NULL OR c.call_key = %(key)s)"
            " AND (%(endpoint)s::text IS NULL OR c.agent_endpoint = %(endpoint)s)"
            " ORDER BY c.started_at DESC",
            {"key": call_key, "endpoint": agent_endpoint},
        )
        return [_listed(row) for row in rows]


def _listed(row: dict[str, Any]) -> ListedCall:
    started: datetime = row["started_at"]
    return ListedCall(
        CallInfo(
            call_key=row["call_key"],
            agent_endpoint=row["agent_endpoint"],
            caller_number=row["caller_number"],
            started_at=started,
            payment_id=str(row["payment_id"]) if row["payment_id"] else None,
        ),
        row["asterisk_id"],
    )


class CallCommands:
    """Requests and cancels for calls another instance runs, through ``call_commands``."""

    def __init__(self, db: Database, *, answer_seconds: float = ANSWER_SECONDS) -> None:
        self._db = db
        self._answer_seconds = answer_seconds

    async def request(self, asterisk_id: str, call_key: str, request: PaymentRequest) -> str:
        """Start ``request`` on the call; returns the payment id (errors as CallDesk's)."""
        answer = await self._send(
            asterisk_id, "request", call_key=call_key, request=_request_json(request)
        )
        return str(answer["payment"])

    async def cancel(self, asterisk_id: str, payment_id: str) -> bool:
        answer = await self._send(asterisk_id, "cancel", payment_id=payment_id)
        return bool(answer["cancelled"])

    async def _send(self, asterisk_id: str, kind: str, **fields: Any) -> dict[str, Any]:
        command_id = uuid.uuid4()
        request = fields.get("request")
        async with self._db.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO call_commands (id, asterisk_id, kind, call_key, payment_id, request,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s, now())",
                (
                    command_id,
                    asterisk_id,
                    kind,
                    fields.get("call_key"),
                    fields.get("payment_id"),
                    Jsonb(request) if request is not None else None,
                ),
            )
            await conn.execute("SELECT pg_notify(%s, %s)", (COMMANDS_CHANNEL, asterisk_id))
        answer = await self._answer(command_id)
        match answer.get("error"):
            case None:
                return answer
            case "refused":
                raise RequestRefused(answer["message"])
            case "unknown_call":
                raise UnknownCall(answer["message"])
            case _:
                raise PaymentRefused(answer["message"])

    async def _answer(self, command_id: uuid.UUID) -> dict[str, Any]:
        """The command's answer. If no instance took it in time it is withdrawn; if the one
        that took it does not answer in as long again (it stopped), none comes."""
        loop = asyncio.get_running_loop()
        withdraw_at = loop.time() + self._answer_seconds
        give_up_at = withdraw_at + self._answer_seconds
        while True:
            async with self._db.pool.connection() as conn:
                if loop.time() >= withdraw_at:
                    await conn.execute(
                        "UPDATE call_commands SET taken_at = now(), answered_at = now(),"
                        " answer = %s WHERE id = %s AND taken_at IS NULL",
                        (Jsonb(_NOT_ANSWERED), command_id),
                    )
                cursor = await conn.execute(
                    "SELECT answer FROM call_commands WHERE id = %s", (command_id,)
                )
                row = await cursor.fetchone()
            if row is not None and row[0] is not None:
                answer: dict[str, Any] = row[0]
                return answer
            if loop.time() >= give_up_at:
                return _NOT_ANSWERED
            await asyncio.sleep(POLL_SECONDS)

    async def serve(self, identity: Identity, desk: CallDesk) -> None:
        """Take and answer the commands for this instance's Asterisk, for ever (while it
        holds the Asterisk's lease). Reconnects when the database goes away."""
        while True:
            try:
                conn = await self._db.dedicated_connection()
                try:
                    await conn.execute(f"LISTEN {COMMANDS_CHANNEL}")
                    while True:
                        await self._take(identity, desk)
                        async for _ in conn.notifies(timeout=SERVE_POLL_SECONDS, stop_after=1):
                            pass
                finally:
                    await conn.close()
            except (OSError, psycopg.OperationalError) as error:
                log.warning("call_commands_unreachable", error=type(error).__name__)
                await asyncio.sleep(SERVE_POLL_SECONDS)

    async def _take(self, identity: Identity, desk: CallDesk) -> None:
        taken = await self._db.rows(
            "UPDATE call_commands SET taken_by = %(instance)s, taken_at = now()"
            " WHERE id IN (SELECT id FROM call_commands WHERE asterisk_id = %(asterisk)s"
            "  AND taken_at IS NULL ORDER BY created_at FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            {"instance": identity.instance, "asterisk": identity.asterisk_id},
        )
        await asyncio.gather(*(self._run(row, desk) for row in taken))

    async def _run(self, row: dict[str, Any], desk: CallDesk) -> None:
        answer: dict[str, Any]
        try:
            if row["kind"] == "request":
                request = _request_from_json(row["request"])
                payment_id = await desk.request_on_call(row["call_key"], request)
                answer = {"payment": payment_id}
            else:
                answer = {"cancelled": await desk.cancel_payment(str(row["payment_id"]))}
        except RequestRefused as refused:
            answer = {"error": "refused", "message": str(refused)}
        except LookupError as unknown:
            answer = {"error": "unknown_call", "message": str(unknown)}
        except PaymentRefused as refused:
            answer = {"error": "payment_refused", "message": str(refused)}
        log.info("call_command_answered", kind=row["kind"], command=str(row["id"]))
        async with self._db.pool.connection() as conn:
            await conn.execute(
                "UPDATE call_commands SET answer = %s, answered_at = now() WHERE id = %s",
                (Jsonb(answer), row["id"]),
            )


def _request_json(request: PaymentRequest) -> dict[str, Any]:
    fields = dataclasses.asdict(request)
    return {name: v.value if isinstance(v, enum.Enum) else v for name, v in fields.items()}


def _request_from_json(data: dict[str, Any]) -> PaymentRequest:
    return PaymentRequest(
        **{
            **data,
            "privacy_mode": PrivacyMode(data["privacy_mode"]),
            "method": PaymentMethod(data["method"]),
        }
    )


_NOT_ANSWERED = {
    "error": "not_answered",
    "message": "the payivr running this call did not answer; try again in a few seconds",
}


class ClusterDesk:
    """:class:`payivr.console.ports.CallControl` for one instance among several: this
    instance's calls through its own :class:`CallDesk` (``local``, set while it runs its
    Asterisk's calls), every other call through the database."""

    def __init__(self, directory: CallDirectory, commands: CallCommands) -> None:
        self.directory = directory
        self.commands = commands
        self.local: CallDesk | None = None

    async def current_call(self, agent_endpoint: str) -> CallInfo | None:
        if self.local is not None:
            info = await self.local.current_call(agent_endpoint)
            if info is not None:
                return info
        listed = await self.directory.live(agent_endpoint=agent_endpoint)
        return listed[0].info if listed else None

    async def call(self, call_key: str) -> CallInfo | None:
        if self.local is not None:
            info = await self.local.call(call_key)
            if info is not None:
                return info
        listed = await self.directory.live(call_key=call_key)
        return listed[0].info if listed else None

    async def active_calls(self) -> list[CallInfo]:
        here = await self.local.active_calls() if self.local is not None else []
        keys = {info.call_key for info in here}
        elsewhere = [c.info for c in await self.directory.live() if c.info.call_key not in keys]
        return [*here, *elsewhere]

    async def request_for_agent(self, agent_endpoint: str, request: PaymentRequest) -> str:
        if self.local is not None and await self.local.current_call(agent_endpoint) is not None:
            return await self.local.request_for_agent(agent_endpoint, request)
        listed = await self.directory.live(agent_endpoint=agent_endpoint)
        if not listed or listed[0].asterisk_id is None:
            raise UnknownCall(f"{agent_endpoint} is on no call payivr holds")
        return await self.commands.request(listed[0].asterisk_id, listed[0].info.call_key, request)

    async def request_on_call(self, call_key: str, request: PaymentRequest) -> str:
        if self.local is not None and await self.local.call(call_key) is not None:
            return await self.local.request_on_call(call_key, request)
        listed = await self.directory.live(call_key=call_key)
        if not listed or listed[0].asterisk_id is None:
            raise UnknownCall(f"the call {call_key} has ended or is not known")
        return await self.commands.request(listed[0].asterisk_id, call_key, request)

    async def cancel_payment(self, payment_id: str) -> bool:
        if self.local is not None and await self.local.cancel_payment(payment_id):
            return True
        asterisk_id = await self.directory.running_payment(payment_id)
        if asterisk_id is None:
            return False
        return await self.commands.cancel(asterisk_id, payment_id)

    async def reask_step(self, payment_id: str, step: Step) -> bool:
        """Only for a payment on this instance's Asterisk: call_commands carries requests
        and cancels, not re-asks (False otherwise, which the API answers as not possible)."""
        return self.local is not None and await self.local.reask_step(payment_id, step)

