"""The ``payivr`` command line: its commands, their arguments and help."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from pathlib import Path

DESCRIPTION = "The ``payivr`` command: the one place where payivr's parts are wired together."


def _amount_minor(text: str) -> int:
    """``12.34`` → 1234 (two decimals at most; positive)."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount like 12.34") from None
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise argparse.ArgumentTypeError("the amount must be positive with at most 2 decimals")
    return int(amount * 100)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="payivr", description=DESCRIPTION)
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="run payivr on one machine with simulators")
    demo.add_argument("--terminal", action="store_true", help="rehearse the caller's side")
    demo.add_argument("--amount", type=_amount_minor, default=13742, help="e.g. 137.42")
    demo.add_argument("--item", default="Annual storage plan")
    demo.add_argument("--currency", default="USD")
    demo.add_argument(
        "--no-input-timeout", type=float, default=60.0, help="seconds of silence that fail"
    )
    demo.add_argument("--console-listen", default="127.0.0.1:8080", help="HOST:PORT")
    demo.add_argument("--phones-listen", default="127.0.0.1:8081", help="HOST:PORT")
    demo.add_argument(
        "--ready-file", type=Path, help="write the URLs and logins here (JSON) once started"
    )

    commands.add_parser("flow-diagram", help="print the payment flow's state diagram (Mermaid)")
    commands.add_parser("serve", help="run payivr against a real Asterisk (ARI + AMI)")
    commands.add_parser("migrate", help="apply the database migrations and exit")

    keygen = commands.add_parser("keygen", help="make a gateway key pair and signing secret")
    keygen.add_argument("directory", type=Path)
    keygen.add_argument("--overwrite", action="store_true")

    sandbox = commands.add_parser("sandbox-gateway", help="run the sandbox payment gateway")
    sandbox.add_argument("--listen", default="127.0.0.1:8443", help="HOST:PORT")
    sandbox.add_argument("--keys", type=Path, required=True, help="directory made by keygen")
    sandbox.add_argument(
        "--tls-dir", type=Path, help="where its test CA and certificate go (default: --keys)"
    )
    sandbox.add_argument(
        "--sandbox",
        action="store_true",
        help="required: says you know it approves test cards and charges nothing",
    )

    agent = commands.add_parser("agent", help="console accounts")
    agent_commands = agent.add_subparsers(dest="agent_command", required=True, metavar="ACTION")
    agent_add = agent_commands.add_parser("add", help="add an agent or a supervisor")
    agent_add.add_argument("name")
    agent_add.add_argument(
        "--endpoint",
        action="append",
        default=[],
        help="the agent's softphone, e.g. PJSIP/1001 (repeat for each phone that is theirs)",
    )
    agent_add.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    agent_password = agent_commands.add_parser(
        "password", help="set a password (signs the account out, forgets failed sign-ins)"
    )
    agent_password.add_argument("name")
    agent_token = agent_commands.add_parser(
        "token", help="an API token acting as the account (or --revoke its tokens)"
    )
    agent_token.add_argument("name")
    agent_token.add_argument("--label", help="what the token is for, e.g. crm (default: api)")
    agent_token.add_argument("--days", type=int, default=90, help="days until it expires")
    agent_token.add_argument(
        "--revoke", action="store_true", help="revoke the account's tokens (with --label: those)"
    )
    agent_commands.add_parser("list", help="every account, its failed sign-ins and tokens")
    agent_disable = agent_commands.add_parser(
        "disable", help="no more sign-ins, sessions or tokens for the account"
    )
    agent_disable.add_argument("name")
    agent_unlock = agent_commands.add_parser(
        "unlock", help="forget the failed sign-ins that slow down sign-ins to the account"
    )
    agent_unlock.add_argument("name")

    sms = commands.add_parser("sms", help="pay by text and payment reminders")
    sms_commands = sms.add_subparsers(dest="sms_command", required=True, metavar="ACTION")
    remind = sms_commands.add_parser("remind", help="schedule reminders from a CSV file")
    remind.add_argument("file", type=Path, help="customer,phone,amount,due_date[,...] rows")
    remind.add_argument("--agent", required=True, help="whose reminders they are")
    remind.add_argument("--currency", default=None)

    crm = commands.add_parser("crm", help="CRM activity outbox")
    crm_commands = crm.add_subparsers(dest="crm_command", required=True, metavar="ACTION")
    crm_list = crm_commands.add_parser("list", help="show queued, failed and dead activities")
    crm_list.add_argument("--failed", action="store_true", help="only failed or dead ones")
    crm_list.add_argument("--limit", type=int, default=50)
    replay = crm_commands.add_parser("replay", help="send activities again")
    replay.add_argument("ids", nargs="*", help="outbox ids (default: every dead one)")
    return parser
