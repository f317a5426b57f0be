"""Accounts, signed-in clients and waiting helpers shared by the console tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from _console_calls import RehearsalCalls
from aiohttp.test_utils import TestServer

from payivr.calls.notifier import Notifier
from payivr.console import Metrics, create_console_app
from payivr.console.accounts import Accounts, Role
from payivr.store.database import Database
from payivr.store.models import Clock, utc_now
from payivr.store.payments import PaymentStore

ALICE = "Alice Agent"
BOB = "Bob Agent"
SAM = "Sam Supervisor"
PASSWORD = "correct horse battery 42"
METRICS_TOKEN = "console-tests-metrics-token-0123456789"

# The caller's keys for a successful payment: accept the amount, Visa test card, expiry
# 12/30, security code, postal code, each confirmed with 1.
GOOD_KEYS = "1" + "4242424242424242#" + "1" + "1230" + "1" + "737" + "1" + "94105#" + "1"


@dataclass
class Console:
    db: Database
    accounts: Accounts
    calls: RehearsalCalls
    notifier: Notifier
    metrics: Metrics
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("/"))

    def client(self, **headers: str) -> Client:
        """A browser-like client: its own cookie jar, not signed in."""
        return Client.plain(self.url, **headers)

    async def signed_in(self, name: str, password: str = PASSWORD) -> Client:
        client = self.client()
        response = await client.post("/api/v1/login", json={"name": name, "password": password})
        assert response.status == 200, await response.text()
        client.csrf = (await response.json())["csrf_token"]
        return client


class Client:
    """An HTTP session that, once signed in, sends its CSRF token with :meth:`send`."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.csrf = ""

    @classmethod
    def plain(cls, url: str, **headers: str) -> Client:
        jar = aiohttp.CookieJar(unsafe=True)
        return cls(aiohttp.ClientSession(base_url=url, cookie_jar=jar, headers=headers))

    async def get(self, path: str, **options: Any) -> aiohttp.ClientResponse:
        return await self.session.get(path, **options)

    async def post(self, path: str, **options: Any) -> aiohttp.ClientResponse:
        return await self.session.post(path, **options)

    async def send(self, path: str, body: Any = None) -> aiohttp.ClientResponse:
        """POST with the CSRF token, as the console page does."""
        headers = {"X-CSRF-Token": self.csrf}
        if body is None:
            return await self.post(path, headers=headers)
        return await self.post(path, json=body, headers=headers)

    async def json(self, path: str, status: int = 200) -> Any:
        response = await self.get(path)
        assert response.status == status, await response.text()
        return await response.json()

    def ws(self, path: str = "/api/v1/events", **options: Any) -> Any:
        return self.session.ws_connect(path, **options)

    async def close(self) -> None:
        await self.session.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _add_accounts(db: Database, password_hash: str) -> None:
    async with db.pool.connection() as conn:
        for name, endpoint, role in (
            (ALICE, "PJSIP/1001", Role.AGENT),
            (BOB, "PJSIP/1002", Role.AGENT),
            (SAM, None, Role.SUPERVISOR),
        ):
            await conn.execute(
                "INSERT INTO console_accounts (name, endpoint, role, password_hash, created_at,"
                " password_set_at) VALUES (%s, %s, %s, %s, now(), now())",
                (name, endpoint, role.value, password_hash),
            )


@contextlib.asynccontextmanager
async def running_console(
    db: Database, password_hash: str, clock: Clock = utc_now
) -> AsyncIterator[Console]:
    """A console with Alice and Bob (agents on PJSIP/1001 and 1002) and Sam (supervisor).

    ``password_hash`` is PASSWORD's hash, computed once per session (the accounts are
    inserted directly; ``Accounts.add`` is tested on its own).
    """
    await _add_accounts(db, password_hash)
    notifier = Notifier()
    calls = RehearsalCalls(PaymentStore(db, crm_endpoints=["crm"]), notifier)
    metrics = Metrics()
    app = create_console_app(
        db=db,
        calls=calls,
        notifier=notifier,
        metrics=metrics,
        max_amount_minor=1_000_000,
        gateway=calls.gateway,
        crm_endpoints=["crm"],
        clock=clock,
        metrics_token=METRICS_TOKEN,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Console(db, Accounts(db, clock=clock), calls, notifier, metrics, server)
    finally:
        for key in list(calls.calls):
            await calls.hang_up(key)
        await server.close()
