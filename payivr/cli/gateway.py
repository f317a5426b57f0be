"""``payivr keygen`` and ``payivr sandbox-gateway``: the sandbox gateway's keys and server."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from payivr.cli import fail
from payivr.gateway.sandbox import SANDBOX_NOT_ACKNOWLEDGED, read_secret, start_sandbox
from payivr.gateway.sandbox import keygen as make_keys
from payivr.log import configure_logging


def keygen(args: argparse.Namespace) -> int:
    try:
        files = make_keys(args.directory, overwrite=args.overwrite)
    except FileExistsError as error:
        return fail(f"{error} (use --overwrite to replace)")
    print(f"gateway private key (keep it with the gateway): {files.private_key}")
    print(f"payivr: gateway.public_key = {files.public_key_pem} (or {files.public_jwk})")
    print(f"payivr: gateway.signing_secret from {files.signing_secret}")
    return 0


async def sandbox_gateway(args: argparse.Namespace) -> int:
    configure_logging("INFO", json=False)
    if not args.sandbox:
        return fail(SANDBOX_NOT_ACKNOWLEDGED)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        return fail(f"--listen {args.listen!r} is not HOST:PORT")
    keys: Path = args.keys
    if not (keys / "gateway-private.pem").is_file():
        return fail(f"no gateway-private.pem in {keys}: run 'payivr keygen {keys}' first")
    sandbox = await start_sandbox(
        host,
        int(port),
        keys / "gateway-private.pem",
        signing_secret=read_secret(keys / "signing-secret"),
        tls=args.tls_dir or keys,
    )
    print(
        f"sandbox gateway on {sandbox.url}; payivr trusts it with gateway.ca_bundle = "
        f"{sandbox.ca_file}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.close()
    return 0
