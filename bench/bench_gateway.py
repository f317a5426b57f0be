"""Gateway client cost: card encryption alone, and sales through the TLS sandbox.

Runs the sandbox in this process on 127.0.0.1 (so the numbers include both sides' CPU on
one machine): sequential sales (latency per sale, p50/p95) and N concurrent sales
(sales/s). Every sale is a fresh key and a fresh JWE.

    .venv/bin/python bench/bench_gateway.py --sales 200 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

import structlog

from payivr.core.cards import Brand, SecretDigits
from payivr.core.events import CardDetails
from payivr.gateway import Approved, HttpGateway, HttpGatewayConfig
from payivr.gateway.jwe import EncryptionKey, encrypt_card
from payivr.gateway.sandbox import keygen, read_secret, start_sandbox


def visa() -> CardDetails:
    return CardDetails(
        SecretDigits("4242424242424242"),
        SecretDigits("1230"),
        SecretDigits("123"),
        None,
        Brand.VISA,
    )


def bench_encryption(key: EncryptionKey, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        encrypt_card(visa(), key)
    return (time.perf_counter() - started) / rounds


async def main(sales: int, concurrency: int, bits: int) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as directory:
        files = keygen(Path(directory) / "keys", bits=bits)
        secret = read_secret(files.signing_secret)
        sandbox = await start_sandbox(
            "127.0.0.1", 0, files.private_key, signing_secret=secret, tls=Path(directory) / "tls"
        )
        config = HttpGatewayConfig.from_values(
            url=sandbox.url,
            public_key=files.public_jwk,
            signing_secret=secret,
            ca_bundle=sandbox.ca_file,
        )
        per_encryption = bench_encryption(config.encryption_key, 200)
        print(f"RSA-{bits}: encrypt_card {per_encryption * 1e3:.2f} ms")
        async with HttpGateway(config) as client:
            latencies = []
            for index in range(sales):
                started = time.perf_counter()
                result = await client.sale(visa(), 100, "GBP", f"seq-{index}")
                latencies.append(time.perf_counter() - started)
                assert isinstance(result, Approved)
            latencies.sort()
            print(
                f"sequential: {sales} sales, p50 {statistics.median(latencies) * 1e3:.1f} ms, "
                f"p95 {latencies[int(0.95 * len(latencies))] * 1e3:.1f} ms"
            )

            semaphore = asyncio.Semaphore(concurrency)

            async def one(index: int) -> None:
                async with semaphore:
                    result = await client.sale(visa(), 100, "GBP", f"par-{index}")
                    assert isinstance(result, Approved)

            started = time.perf_counter()
            await asyncio.gather(*(one(index) for index in range(sales)))
            elapsed = time.perf_counter() - started
            print(f"concurrent ({concurrency}): {sales / elapsed:.0f} sales/s")
        assert sandbox.processor.ledger.charges() == 2 * sales
        await sandbox.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--bits", type=int, default=3072)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.sales, arguments.concurrency, arguments.bits))
