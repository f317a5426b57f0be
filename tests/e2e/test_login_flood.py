"""Issue 13 #6: a sign-in flood on the console does not starve payments.

The attack: 200 bogus sign-ins at once. Each held a database connection of the pool payments
are written on while scrypt ran, so payment writes waited 5.9 s instead of 1 ms. Now the
console has its own connections, scrypt runs with none held (one at a time; a queue longer
than 32 is turned away with 503), and each address may try 20 times a minute. Here the flood
comes from ten addresses while a caller keys the card: the payment is approved, and the
sign-ins took none of the payment pool's connections.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from payivr.calls.requests import PaymentRequest
from payivr.console.throttle import ATTEMPTS_PER_ADDRESS
from payivr.core.request import PrivacyMode
from tests.e2e.harness import System, key_card

FLOOD_ADDRESSES = 10


async def _bogus_sign_ins(console_url: str, address: str, attempts: int) -> list[int]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=attempts)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(number: int) -> int:
            body = {"name": f"guess{chr(97 + number % 26)}", "password": "not it 12345678"}
            async with session.post(f"{console_url}/api/v1/login", json=body) as response:
                return response.status

        return list(await asyncio.gather(*(one(n) for n in range(attempts))))


async def test_a_sign_in_flood_takes_no_payment_connection(system: System) -> None:
    running = system.running
    caller, agent = system.phones()
    request = PaymentRequest("Annual plan", 13742, "USD", "alice", privacy_mode=PrivacyMode.HOLD)
    await system.takeover(caller, agent, request)
    running.database.pool.pop_stats()
    flood = asyncio.gather(
        *(
            _bogus_sign_ins(running.console_url, f"127.0.0.{10 + index}", ATTEMPTS_PER_ADDRESS)
            for index in range(FLOOD_ADDRESSES)
        )
    )
    await key_card(caller)
    finished = await system.finished()
    answers = Counter(status for statuses in await flood for status in statuses)
    assert finished["outcome"] == "approved"
    assert sum(answers.values()) == FLOOD_ADDRESSES * ATTEMPTS_PER_ADDRESS == 200
    assert set(answers) <= {401, 503}, answers  # wrong, or turned away unhashed
    assert 0 < answers[503] < 200, answers  # at most MAX_WAITING_TO_HASH queue to be hashed
    # Each sign-in asks for a connection two or three times (read, record, audit): had any
    # gone to the payment pool, it would have served 400+ requests, not the payment's few.
    stats = running.database.pool.get_stats()
    assert 0 < stats["requests_num"] < 200, stats
    await system.hang_up_all(caller, agent)
