"""The ``payivr`` command: the one place where payivr's parts are wired together."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from payivr.config import Config, ConfigError, load_config


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
    parser = argparse.ArgumentParser(prog="payivr", description=__doc__)
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

    commands.add_parser("flow-diagram", help="print the payment flow's state diagram (Mermaid)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, os.environ)
    except ConfigError as error:
        print(f"payivr: {error}", file=sys.stderr)
        return 2
    if args.command == "flow-diagram":
        from payivr.core.flow import mermaid_diagram

        print(mermaid_diagram())
        return 0
    if args.command == "demo":
        if args.terminal:
            return asyncio.run(_terminal_demo(args, config))
        print("payivr: the full simulated demo is not built yet: use --terminal", file=sys.stderr)
        return 2
    raise AssertionError(args.command)


async def _terminal_demo(args: argparse.Namespace, config: Config) -> int:
    import dataclasses

    from payivr.calls.charging import gateway_authorizer
    from payivr.demo.terminal import run_terminal_rehearsal
    from payivr.gateway.inprocess import InProcessGateway
    from payivr.log import configure_logging

    configure_logging("WARNING", json=False)
    try:
        config.validate(("flow",))
        flow_config = dataclasses.replace(
            config.flow.flow_config(), no_input_timeout=args.no_input_timeout
        )
    except (ConfigError, ValueError) as error:
        print(f"payivr: {error}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def next_line() -> str:
        return (await reader.readline()).decode("utf-8", "replace")

    await run_terminal_rehearsal(
        lambda: asyncio.ensure_future(next_line()),
        sys.stdout,
        gateway_authorizer(InProcessGateway()),
        flow_config,
        args.amount,
        args.currency,
        args.item,
        datetime.now(UTC).date(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
