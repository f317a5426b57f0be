"""Issue 13, hardening: payivr serves as a role that cannot alter its audit trail.

A payment requested in the console of the running payivr is audited by the runtime role;
through that same pool, deleting them or switching the append-only triggers off is refused.
Given a role that could alter the audit trail, payivr does not start.
"""

from __future__ import annotations

import psycopg
import pytest

from payivr.config import Config, DatabaseSettings
from payivr.core.events import Outcome
from payivr.gateway.sandbox import KeyFiles
from payivr.store import DatabaseSetupError
from payivr.store.embedded import RUNTIME_ROLE
from tests.e2e.console_client import signed_in_agent
from tests.e2e.harness import CrmInbox, System, key_card, system_with
from tests.e2e.targets import Target


async def test_a_payment_is_audited_by_a_role_that_cannot_unwrite_it(system: System) -> None:
    caller, agent = system.phones()
    alice = await signed_in_agent(system, "alice", agent.endpoint)
    try:
        await system.target.connect(caller, agent)
        await agent.press("*7")
        await alice.event(lambda e: e["type"] == "request_form")
        body = {"call": "current", "item": "Annual plan", "amount": "42.00"}
        status, answer = await alice.call("POST", "/api/v1/payments", body)
        assert status == 201, answer
        await key_card(caller)
        finished = await system.finished()
        assert finished["outcome"] == Outcome.APPROVED.value
        await system.wait_bridged(caller, agent)
    finally:
        await alice.close()
    await system.hang_up_all(caller, agent)

    database = system.running.database
    async with database.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT current_user, array_agg((action, payment_id::text) ORDER BY id)"
            " FROM audit_events WHERE actor = 'alice'"
        )
        role, audited = await cursor.fetchone() or (None, None)
    assert role == RUNTIME_ROLE
    assert {("login.ok", None), ("payment.requested", finished["payment"])} <= set(audited)
    for attack in (
        "DELETE FROM audit_events",
        "UPDATE audit_events SET success = NOT success",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
    ):
        async with database.pool.connection() as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(attack.encode())
    assert system.config.database.migrate_url is not None
    async with await psycopg.AsyncConnection.connect(system.config.database.migrate_url) as owner:
        cursor = await owner.execute(
            "SELECT array_agg((action, payment_id::text) ORDER BY id) FROM audit_events"
            " WHERE actor = 'alice'"
        )
        assert await cursor.fetchone() == (audited,)


async def test_payivr_serve_refuses_a_role_that_could_alter_the_audit_trail(
    target: Target, database_url: str, gateway_keys: KeyFiles, crm_inbox: CrmInbox
) -> None:
    """An older deployment's one database.url, the superuser: payivr does not start."""

    def as_superuser(config: Config) -> None:
        config.database = DatabaseSettings(url=database_url)

    with pytest.raises(DatabaseSetupError, match="postgres is a superuser"):
        async with system_with(target, database_url, gateway_keys, crm_inbox, as_superuser):
            pass
