"""Building the SMS service from settings, and the reminder CSV import, for ``payivr.cli``.

The CLI's configuration has its ``[sms]`` section as :class:`payivr.config.SmsOptions`;
:func:`open_sms` returns the service (give it to ``create_console_app(sms=...)``) and
the worker to run; :func:`remind_from_csv` backs ``payivr sms remind FILE``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

from payivr.config import SmsOptions
from payivr.gateway.interface import Gateway
from payivr.sms.http import HttpSmsProvider, WebhookVerifier
from payivr.sms.provider import SmsProvider
from payivr.sms.replies import Texts
from payivr.sms.service import ImportReport, SmsService, SmsSettings
from payivr.sms.store import SmsStore
from payivr.sms.worker import SmsWorker
from payivr.store.cards_on_file import CardsOnFile
from payivr.store.database import Database
from payivr.store.models import Origin
from payivr.store.payments import PaymentStore


def service_settings(options: SmsOptions) -> SmsSettings:
    """What the ``[sms]`` settings mean for the service."""
    return SmsSettings(
        texts=Texts(options.business_name),
        request_ttl=timedelta(minutes=options.request_ttl_minutes),
        reminders=options.policy(),
    )


def open_sms(
    db: Database,
    gateway: Gateway,
    payments: PaymentStore,
    options: SmsOptions,
    *,
    max_amount_minor: int,
    provider: SmsProvider | None = None,
) -> tuple[SmsService, SmsWorker]:
    """The service and its worker. ``payments`` is the process's store (with the CRM
    endpoints); ``max_amount_minor`` is flow.max_amount_minor, the cap of every payment.
    ``provider`` overrides ``options.provider`` (the demo passes its carrier).
    With the simulator, a carrier is made and connected directly to the service."""
    problems = options.problems()
    if problems:
        raise ValueError("; ".join(problems))
    chosen: SmsProvider
    carrier = None
    if provider is not None:
        chosen = provider
    elif options.provider == "http":
        chosen = HttpSmsProvider(options.url, options.token, sender=options.sender or None)
    else:
        from payivr.sim.sms import SimulatedCarrier  # only for provider = "simulator"

        chosen = carrier = SimulatedCarrier(number=options.sender or "+15550000000")
    verifier = (
        WebhookVerifier(options.webhook_secret, tolerance=options.webhook_tolerance_seconds)
        if options.webhook_secret
        else None
    )
    service = SmsService(
        SmsStore(db),
        chosen,
        gateway,
        payments,
        CardsOnFile(db),
        settings=dataclasses.replace(service_settings(options), max_amount_minor=max_amount_minor),
        verifier=verifier,
    )
    if carrier is not None:
        carrier.connect(service.handle_event)
    return service, SmsWorker(service, poll_interval=options.poll_seconds)


async def remind_from_csv(
    service: SmsService, path: Path, *, agent: str, currency: str
) -> ImportReport:
    """``payivr sms remind FILE --agent NAME``: schedule a reminder per CSV row."""
    text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
    return await service.import_reminders(
        text, agent=agent, currency=currency, origin=Origin.system("cli")
    )


def describe_import(report: ImportReport) -> str:
    """The CLI's summary of an import (no phone numbers: they are personal data)."""
    lines = [
        f"{len(report.scheduled)} reminders scheduled, {report.already_scheduled} already"
        f" scheduled, {len(report.refused)} refused"
    ]
    by_day: dict[str, int] = {}
    for reminder in report.scheduled:
        by_day[reminder.send_on.isoformat()] = by_day.get(reminder.send_on.isoformat(), 0) + 1
    lines.extend(f"  {day}: {count}" for day, count in sorted(by_day.items()))
    lines.extend(f"  line {line}: {reason}" for line, reason in report.refused)
    return "\n".join(lines)
