"""``payivr agent``: console accounts (agents, supervisors) and their API tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta

from payivr.cli import fail, open_database
from payivr.config import Config, ConfigError
from payivr.console.accounts import AccountError, Accounts, add_agent
from payivr.store import Database


def read_password() -> str:
    """From the terminal (asked twice) or, when piped, the first line of standard input."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Again: ") != first:
        return ""
    return first


async def agent(args: argparse.Namespace, config: Config, password: str | None) -> int:
    if password == "":
        return fail("no password given (or the two did not match)")
    try:
        config.validate(("database",))
    except ConfigError as error:
        return fail(error)
    db = await open_database(config)
    try:
        print(await agent_command(args, db, password))
    except AccountError as error:
        return fail(error)
    finally:
        await db.close()
    return 0


async def agent_command(args: argparse.Namespace, db: Database, password: str | None) -> str:
    """What ``payivr agent ACTION`` did, for the terminal; AccountError when it cannot."""
    accounts = Accounts(db)
    command = args.agent_command
    if command == "add":
        assert password is not None
        first, *more = args.endpoint or [None]
        await add_agent(db, args.name, first, args.role, password, more)
        phones = f" on {', '.join(args.endpoint)}" if args.endpoint else ""
        return f"{args.role} {args.name} added{phones}"
    if command == "password":
        assert password is not None
        await accounts.set_password(args.name, password)
        return f"password of {args.name} set; its sessions ended and failed sign-ins forgotten"
    if command == "token":
        if args.revoke:
            revoked = await accounts.revoke_tokens(args.name, args.label)
            return f"{revoked} API token(s) of {args.name} revoked"
        label = args.label or "api"
        token = await accounts.issue_token(args.name, label, timedelta(days=args.days))
        return (
            f"{token}\n(an API token for {args.name}, label {label!r}, valid {args.days}"
            " days: send it as 'Authorization: Bearer <token>'; it is not shown again)"
        )
    if command == "disable":
        await accounts.disable(args.name)
        return f"{args.name} is disabled: signed out, its API tokens no longer work"
    if command == "unlock":
        forgotten = await accounts.unlock(args.name)
        return f"{forgotten} failed sign-in(s) on {args.name} forgotten"
    lines = [
        f"{s.account.name:24} {s.account.role.value:10} {s.account.endpoint or '-':16}"
        f" {'disabled' if s.disabled else 'active':8} failed sign-ins (24 h): {s.recent_failures:<4}"
        f" API tokens: {s.api_tokens}"
        for s in await accounts.statuses()
    ]
    return "\n".join(lines) or "no accounts"
