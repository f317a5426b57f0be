"""The outbox: every text payivr sends is a queued ``sms_messages`` row first, sent with its
id as the provider's idempotency key, retried on the settings' delays, suppressed for a
number that opted out; a crash never loses or doubles a text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID

import structlog

from payivr.sms.provider import SendFailed
from payivr.sms.requests import SmsContext, redacted_reason
from payivr.sms.store import Connection, MessageKind, MessageStatus

logger = structlog.get_logger(__name__)

# Texts that still go to a number that opted out: the confirmation of the opt-out itself.
_ALWAYS_SENT = frozenset({MessageKind.OPTED_OUT, MessageKind.OPTED_IN, MessageKind.HELP})


class Outbox:
    """Sends queued texts. ``undelivered`` is told of a text payment whose question could
    not be sent for good (failed or suppressed)."""

    def __init__(self, ctx: SmsContext, undelivered: Callable[[UUID], Awaitable[None]]) -> None:
        self.ctx = ctx
        self._undelivered = undelivered

    async def say(self, phone: str, kind: MessageKind, body: str) -> None:
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            message_id = await self.ctx.store.queue(conn, self.ctx.clock(), phone, kind, body)
        await self.send(message_id)

    async def send(self, message_id: UUID | None = None) -> bool:
        """Send one queued message (this one, or the oldest due); False if none was free."""
        now = self.ctx.clock()
        undelivered_ask: UUID | None = None
        async with self.ctx.store.db.pool.connection() as conn, conn.transaction():
            message = await self.ctx.store.claim_queued(conn, now, message_id)
            if message is None:
                return False
            if message.kind not in _ALWAYS_SENT and await self.ctx.store.opted_out(
                conn, message.phone
            ):
                await self._settle(
                    conn,
                    now,
                    message.id,
                    MessageStatus.SUPPRESSED,
                    message.text_payment_id,
                    "opted out",
                )
                logger.info("sms_suppressed", message_id=str(message.id))
                if message.kind is MessageKind.ASK:
                    undelivered_ask = message.text_payment_id
            else:
                undelivered_ask = await self._attempt(
                    conn,
                    message.id,
                    message.phone,
                    message.body,
                    message.attempts,
                    message.kind,
                    message.text_payment_id,
                )
        if undelivered_ask is not None:
            await self._undelivered(undelivered_ask)
        return True

    async def _attempt(
        self,
        conn: Connection,
        message_id: UUID,
        phone: str,
        body: str,
        attempts: int,
        kind: MessageKind,
        text_payment_id: UUID | None,
    ) -> UUID | None:
        """One try at the provider; returns the text payment whose question failed for good."""
        try:
            provider_id = await self.ctx.provider.send(phone, body, str(message_id))
        except SendFailed as failed:
            error, retryable = failed.reason, failed.retryable
        except Exception as unexpected:  # a provider bug: try again later, as for an outage
            logger.exception("sms_provider_failed", message_id=str(message_id))
            error, retryable = f"provider error {type(unexpected).__name__}", True
        else:
            await self._settle(
                conn,
                self.ctx.clock(),
                message_id,
                MessageStatus.SENT,
                text_payment_id,
                kind.value,
                provider_message_id=provider_id,
            )
            logger.info("sms_sent", message_id=str(message_id), kind=kind.value)
            return None
        done = self.ctx.clock()
        delays = self.ctx.settings.retry_delays
        error = redacted_reason(error) or "send failed"
        if retryable and attempts < len(delays):
            await self.ctx.store.set_status(
                conn,
                message_id,
                MessageStatus.QUEUED,
                now=done,
                error=error,
                retry_at=done + delays[attempts],
            )
            logger.warning("sms_send_retry", message_id=str(message_id), error=error)
            return None
        await self._settle(
            conn, done, message_id, MessageStatus.FAILED, text_payment_id, error, error=error
        )
        logger.error("sms_send_failed", message_id=str(message_id), error=error)
        return text_payment_id if kind is MessageKind.ASK else None

    async def _settle(
        self,
        conn: Connection,
        now: datetime,
        message_id: UUID,
        status: MessageStatus,
        text_payment_id: UUID | None,
        detail: str,
        *,
        provider_message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """A message's last status (suppressed, sent, failed), audited as ``sms.<status>``."""
        await self.ctx.store.set_status(
            conn, message_id, status, now=now, provider_message_id=provider_message_id, error=error
        )
        await self.ctx.store.audit(
            conn,
            now,
            actor="payivr",
            action=f"sms.{status.value}",
            resource=f"sms_message:{message_id}",
            success=status is MessageStatus.SENT,
            payment_id=text_payment_id,
            detail=detail,
        )

    async def send_due_messages(self) -> int:
        sent = 0
        while await self.send():
            sent += 1
        return sent
