"""Layers: production code loads no simulator.

``payivr.sim`` (the ARI, AMI and SMS simulators) is for tests, ``payivr demo`` and the
bench; what ``payivr serve`` runs must work without it on the import path.
"""

from __future__ import annotations

import subprocess
import sys

SERVE_WITHOUT_SIMULATORS = """
import asyncio, importlib, socket, sys
from pathlib import Path

import payivr
from payivr.cli import StartupProblem, running_payivr
from payivr.config import load_config

with socket.socket() as closed:  # a port nothing listens on: the gateway check fails there
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
config = load_config(environ={
    "PAYIVR_GATEWAY_KIND": "stripe",
    "PAYIVR_GATEWAY_STRIPE_SECRET_KEY": "sk_test_layers",
    "PAYIVR_GATEWAY_STRIPE_API_BASE": f"http://127.0.0.1:{port}",
    "PAYIVR_SMS_ENABLED": "true",
    "PAYIVR_SMS_PROVIDER": "http",
    "PAYIVR_OUTBOUND_ENABLED": "true",
    "PAYIVR_FASTAGI_ENABLED": "true",
})

async def serve_until_the_first_connection() -> None:
    try:
        async with running_payivr(config):
            raise AssertionError("payivr started without a gateway")
    except StartupProblem:
        pass

asyncio.run(serve_until_the_first_connection())
loaded = sorted(name for name in sys.modules if name.startswith("payivr."))
assert "payivr.calls.stasis" in loaded, loaded
assert not [name for name in loaded if name.startswith("payivr.sim")], loaded

# Every production module, not only those serve's start reaches before connecting.
root = Path(payivr.__file__).parent
for path in sorted(root.rglob("*.py")):
    name = ".".join(("payivr", *path.relative_to(root).with_suffix("").parts))
    name = name.removesuffix(".__init__")
    if not name.startswith(("payivr.sim", "payivr.demo")) and not name.endswith("__main__"):
        importlib.import_module(name)
print(sorted(name for name in sys.modules if name.startswith("payivr.sim")))
"""


def test_serve_and_every_production_module_load_no_simulator() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_SIMULATORS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

