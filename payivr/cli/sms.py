"""``payivr sms remind``: reminders scheduled from a CSV file."""

from __future__ import annotations

import argparse

from payivr.cli import fail, open_database
from payivr.config import Config, ConfigError
from payivr.gateway.inprocess import InProcessGateway
from payivr.sms.service import SmsRefused
from payivr.sms.setup import describe_import, open_sms, remind_from_csv
from payivr.store import PaymentStore


async def remind(args: argparse.Namespace, config: Config) -> int:
    """Schedules reminders; the running payivr's SMS worker sends them when they are due."""
    if not config.sms.enabled:
        return fail("SMS is off: set sms.enabled (PAYIVR_SMS_ENABLED) and its provider first")
    try:
        config.validate(("database", "sms"))
    except ConfigError as error:
        return fail(error)
    if not args.file.is_file():
        return fail(f"no file at {args.file}")
    db = await open_database(config)
    try:
        # Scheduling charges nothing: the gateway is only needed when a customer replies PAY,
        # which the running payivr handles.
        service, _ = open_sms(
            db,
            InProcessGateway(),
            PaymentStore(db),
            config.sms,
            max_amount_minor=config.flow.max_amount_minor,
        )
        try:
            report = await remind_from_csv(
                service, args.file, agent=args.agent, currency=args.currency or config.flow.currency
            )
        except SmsRefused as refused:
            return fail(f"{args.file}: {refused}")
        print(describe_import(report))
    finally:
        await db.close()
    return 0
