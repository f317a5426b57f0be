"""Building the SMS service from settings, and the reminder CSV import, for ``payivr.cli``.

The CLI's configuration maps its ``[sms]`` section onto :class:`SmsOptions`;
:func:`open_sms` returns the service (give it to ``create_console_app(sms=...)``) and
the worker to run; :func:`remind_from_csv` backs ``payivr sms remind FILE``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path

from payivr.gateway.interface import Gateway
from payivr.sms.http import HttpSmsProvider, WebhookVerifier
from payivr.sms.provider import SmsProvider
from payivr.sms.replies import Texts
from payivr.sms.schedule import ReminderPolicy
from payivr.sms.service import ImportReport, SmsService, SmsSettings
from payivr.sms.simulator import SimulatedCarrier
from payivr.sms.store import SmsStore
from payivr.sms.worker import SmsWorker
from payivr.store.cards_on_file import CardsOnFile
from payivr.store.database import Database
from payivr.store.models import Origin
from payivr.store.payments import PaymentStore

PROVIDERS = ("http", "simulator")


@dataclass
class SmsOptions:
    """Everything ``[sms]`` configures (defaults are the shipped ones). Not frozen: the
    configuration loader fills it in setting by setting."""

    provider: str = "simulator"
    url: str = ""
    token: str = ""
    sender: str = ""
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 300
    business_name: str = ""
    request_ttl_minutes: int = 1440
    reminder_window_days: int = 7
    reminder_lead_days: int = 1
    reminder_daily_cap: int = 1000
    send_from: str = "09:00"
    send_until: str = "20:00"
    time_zone: str = "UTC"
    poll_seconds: float = 5.0

    def problems(self) -> list[str]:
        """What is wrong, in words for whoever edits the configuration."""
        found = []
        if self.provider not in PROVIDERS:
            found.append(f"sms.provider must be one of {', '.join(PROVIDERS)}")
        if self.provider == "http":
            if not self.url.startswith(("https://", "http://")):
                found.append("sms.url must be the provider's https:// URL for sending")
            if not self.token:
                found.append("sms.token (the provider's API token) is required")
            if not self.webhook_secret.startswith("whsec_"):
                found.append(
                    "sms.webhook_secret must be the whsec_ secret the provider signs webhooks with"
                )
        if not 60 <= self.webhook_tolerance_seconds <= 3600:
            found.append("sms.webhook_tolerance_seconds must be 60 to 3600")
        if not 5 <= self.request_ttl_minutes <= 7 * 1440:
            found.append("sms.request_ttl_minutes must be 5 to 10080 (a week)")
        if len(self.business_name) > 40:
            found.append("sms.business_name must be at most 40 characters")
        try:
            self.policy()
        except ValueError as error:
            found.append(f"sms reminders: {error}")
        return found

    def policy(self) -> ReminderPolicy:
        try:
            send_from, send_until = (
                time.fromisoformat(self.send_from),
                time.fromisoformat(self.send_until),
            )
        except ValueError:
            raise ValueError("send_from and send_until must be times like 09:00") from None
        return ReminderPolicy(
            window_days=self.reminder_window_days,
            lead_days=self.reminder_lead_days,
            daily_cap=self.reminder_daily_cap,
            send_from=send_from,
            send_until=send_until,
            time_zone=self.time_zone,
        )

    def settings(self) -> SmsSettings:
        return SmsSettings(
            texts=Texts(self.business_name),
            request_ttl=timedelta(minutes=self.request_ttl_minutes),
            reminders=self.policy(),
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
    if provider is not None:
        chosen = provider
    elif options.provider == "http":
        chosen = HttpSmsProvider(options.url, options.token, sender=options.sender or None)
    else:
        chosen = SimulatedCarrier(number=options.sender or "+15550000000")
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
        settings=dataclasses.replace(options.settings(), max_amount_minor=max_amount_minor),
        verifier=verifier,
    )
    if isinstance(chosen, SimulatedCarrier) and provider is None:
        chosen.connect(service.handle_event)
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
