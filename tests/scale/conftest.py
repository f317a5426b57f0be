"""Several PBXs: two simulated Asterisks, three ``payivr serve`` processes, one PostgreSQL.

``a1`` and ``a2`` serve the first Asterisk (active and standby: whichever holds its lease
runs its calls), ``b`` the second. Each Asterisk has a caller and an agent; alice works on
the first, bob on the second. The processes are real (as in tests/e2e/test_restarts.py):
they are killed with SIGKILL and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg.rows import dict_row

from payivr.console.accounts import add_agent
from payivr.gateway.sandbox import KeyFiles, RunningSandbox
from payivr.store import Database
from tests.e2e.conftest import crm_inbox, gateway_keys
from tests.e2e.harness import CrmInbox, start_test_sandbox, system_environment
from tests.e2e.phones import Phone
from tests.e2e.targets import SimulatorTarget
from tests.e2e.test_restarts import PASSWORD, PayivrProcess, eventually, free_port

__all__ = ["crm_inbox", "gateway_keys"]

FIRST_ASTERISK = "02:fc:00:00:00:01"
SECOND_ASTERISK = "02:fc:00:00:00:02"


class AgentConsole:
    """An agent signed in to one instance's console: HTTP and the live WebSocket."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.session = aiohttp.ClientSession(
            base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self.csrf = ""
        self.events: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None

    async def sign_in(self) -> None:
        async with self.session.post(
            "/api/v1/login", json={"name": self.name, "password": PASSWORD}
        ) as login:
            assert login.status == 200, await login.text()
            self.csrf = (await login.json())["csrf_token"]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(
            method, path, json=body, headers={"X-CSRF-Token": self.csrf}
        ) as answer:
            return answer.status, await answer.json()

    async def follow(self) -> None:
        """Open the live events WebSocket; events land in :attr:`events`."""
        socket = await self.session.ws_connect("/api/v1/events", headers={"Origin": self.url})
        hello = await socket.receive_json()
        assert hello["type"] == "hello"

        async def read() -> None:
            async for message in socket:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.events.append(json.loads(message.data))

        self._reader = asyncio.create_task(read())

    async def event(self, check: Any, within: float = 15) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            return next((e for e in self.events if check(e)), None)

        return await eventually(found, within)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self.session.close()


@dataclass
class Pbx:
    """One simulated Asterisk, its caller and agent phones and its agent's name."""

    target: SimulatorTarget
    caller: Phone
    agent_phone: Phone
    agent: str


@dataclass
class Cluster:
    first: Pbx
    second: Pbx
    a1: PayivrProcess
    a2: PayivrProcess
    b: PayivrProcess
    sandbox: RunningSandbox
    database_url: str
    crm: CrmInbox

    async def payment(self, payment_id: str) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute("SELECT * FROM payments WHERE id = %s", (payment_id,))
            row = await cursor.fetchone()
        assert row is not None
        return row

    async def finished(self, payment_id: str, within: float = 20) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            row = await self.payment(payment_id)
            return row if row["state"] == "finished" else None

        return await eventually(done, within)

    async def audit(self, payment_id: str) -> list[str]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cursor = await conn.execute(
                "SELECT action FROM audit_events WHERE payment_id = %s ORDER BY id", (payment_id,)
            )
            return [row[0] for row in await cursor.fetchall()]

    def charges(self, payment_id: str) -> int:
        return self.sandbox.processor.ledger.charges(payment_id)

    async def talking(self, pbx: Pbx, within: float = 15) -> float:
        """Wait until caller and agent are in one payivr bridge again, the agent's music
        and mute gone; returns when (``time.monotonic()``)."""

        async def check() -> float | None:
            caller, agent = pbx.caller.leg, pbx.agent_phone.leg
            if caller is None or agent is None:
                return None
            for bridge in await pbx.target.bridges():
                if {caller, agent} <= bridge.channels and bridge.id.startswith("payivr-"):
                    channel = pbx.target.sim.channels.get(agent)
                    if channel is not None and channel.moh_class is None and not (
                        channel.silence or channel.muted_in or channel.muted_out
                    ):
                        return time.monotonic()
            return None

        return await eventually(check, within)


def _environment(
    name: str,
    target: SimulatorTarget,
    database_url: str,
    sandbox: RunningSandbox,
    keys: KeyFiles,
    crm: CrmInbox,
) -> dict[str, str]:
    environment = system_environment(target.access, database_url, sandbox, keys, crm)
    environment.update(
        PAYIVR_INSTANCE_NAME=name,
        PAYIVR_CONSOLE_LISTEN=f"127.0.0.1:{free_port()}",
        PAYIVR_LOG_LEVEL="INFO",
        PAYIVR_CALLS_RECONCILE_INTERVAL="0.5",
    )
    return environment


@pytest.fixture
async def cluster(
    database_url: str, gateway_keys: KeyFiles, crm_inbox: CrmInbox, tmp_path: Path
) -> AsyncIterator[Cluster]:
    targets = [SimulatorTarget(FIRST_ASTERISK), SimulatorTarget(SECOND_ASTERISK)]
    sandbox = await start_test_sandbox(gateway_keys)
    processes: list[PayivrProcess] = []
    try:
        for target in targets:
            await target.start()
        first = Pbx(
            targets[0],
            targets[0].caller_phone("caller-1", "1102"),
            targets[0].agent_phone("agent-1", "1101"),
            "alice",
        )
        second = Pbx(
            targets[1],
            targets[1].caller_phone("caller-2", "1202"),
            targets[1].agent_phone("agent-2", "1201"),
            "bob",
        )
        db = await Database.connect(database_url, max_size=1, migrate=False)
        try:
            for pbx in (first, second):
                await add_agent(db, pbx.agent, pbx.agent_phone.endpoint, "agent", PASSWORD)
        finally:
            await db.close()
        for name, target in (("a1", targets[0]), ("a2", targets[0]), ("b", targets[1])):
            environment = _environment(
                name, target, database_url, sandbox, gateway_keys, crm_inbox
            )
            process = PayivrProcess(environment, tmp_path / f"{name}.log")
            await process.start()  # a1 first: it takes the first Asterisk, a2 waits
            processes.append(process)
        a1, a2, b = processes
        yield Cluster(first, second, a1, a2, b, sandbox, database_url, crm_inbox)
    finally:
        for process in processes:
            await process.stop()
        await sandbox.close()
        for target in targets:
            await target.close()
