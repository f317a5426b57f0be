"""The SMS worker: sends queued texts and due reminders, expires and reconciles requests.

Restart-safe and shareable like the CRM outbox worker: every piece of work is claimed
with ``FOR UPDATE SKIP LOCKED`` (or a conditional UPDATE), so several workers or payivr
instances never send one reminder or text twice, and whatever a crash interrupts is
picked up by the next round.
"""

from __future__ import annotations

import asyncio

import psycopg
import structlog
from psycopg_pool import PoolTimeout

from payivr.sms.service import SmsService, WorkDone

logger = structlog.get_logger(__name__)


class SmsWorker:
    def __init__(self, service: SmsService, *, poll_interval: float = 5.0) -> None:
        self._service = service
        self._poll_interval = poll_interval

    async def run_once(self) -> WorkDone:
        return await self._service.run_once()

    async def run(self) -> None:
        """Work until cancelled; survives database outages (backs off and tries again)."""
        logger.info("sms_worker_started", poll_interval=self._poll_interval)
        backoff = 1.0
        while True:
            try:
                work = await self._service.run_once()
            except (psycopg.OperationalError, PoolTimeout) as error:
                logger.warning(
                    "sms_worker_database_error", error=type(error).__name__, retry_in=backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max(self._poll_interval, 1.0) * 6)
                continue
            except Exception:  # one bad row must not stop reminders for everyone
                logger.exception("sms_worker_round_failed")
                work = WorkDone()
            backoff = 1.0
            if work.total:
                logger.info("sms_worker_round", **vars(work))
            await asyncio.sleep(self._poll_interval)
