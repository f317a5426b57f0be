"""The sandbox card gateway for the compose demo: keys and TLS on first start, then serve.

``--setup-only`` makes the RSA key pair, the request-signing secret and a test CA plus a
certificate for the host name ``gateway`` in ``--dir`` (kept when already there) and exits;
payivr's container reads the public key, the secret and the CA from the same volume.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from payivr.gateway.pki import write_test_tls
from payivr.gateway.sandbox import SANDBOX_NOT_ACKNOWLEDGED, keygen, read_secret, run_sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/var/lib/payivr/gateway"))
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--setup-only", action="store_true")
    parser.add_argument("--sandbox", action="store_true", help="required to serve")
    args = parser.parse_args()
    if not (args.dir / "gateway-private.pem").exists():
        keygen(args.dir)
    tls = write_test_tls(args.dir / "tls", hostnames=("gateway", "localhost"))
    if args.setup_only:
        return
    if not args.sandbox:
        raise SystemExit(SANDBOX_NOT_ACKNOWLEDGED)
    asyncio.run(
        run_sandbox(
            "0.0.0.0",  # noqa: S104 - inside its container, reached as https://gateway:8443
            args.port,
            args.dir / "gateway-private.pem",
            signing_secret=read_secret(args.dir / "signing-secret"),
            tls=tls,
        )
    )


if __name__ == "__main__":
    main()
