"""The audit trail against payivr's own database connection (issue 13, hardening).

payivr serves as a runtime role the owner grants INSERT and SELECT on ``audit_events``,
nothing more: each way to rewrite or silence the audit trail is tried through the pool
``Database.connect_runtime`` opens (the one ``payivr serve`` uses) and fails with a
permission error, and the rows stay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from payivr.store import Database, DatabaseSetupError, Origin, PaymentStore, migrate
from payivr.store.embedded import OWNER_ROLE, RUNTIME_ROLE

ATTACKS = {
    "update": "UPDATE audit_events SET detail = 'nothing happened'",
    "delete": "DELETE FROM audit_events",
    "truncate": "TRUNCATE audit_events",
    "alter table": "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_or_delete",
    "drop trigger": "DROP TRIGGER audit_events_no_update_or_delete ON audit_events",
    "drop table": "DROP TABLE audit_events",
    "take the table": f"ALTER TABLE audit_events OWNER TO {RUNTIME_ROLE}",
    "become the owner": "SET ROLE postgres",
    "become payivr_owner": f"SET ROLE {OWNER_ROLE}",
    "triggers off for the session": "SET session_replication_role = replica",
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION audit_events_refuse_change() RETURNS trigger"
        " LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$"
    ),
    "a trigger that drops new rows": (
        "CREATE TRIGGER swallow BEFORE INSERT ON audit_events"
        " FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()"
    ),
}


@pytest.fixture
async def served(database_url: str, runtime_database_url: str) -> AsyncIterator[Database]:
    """The database as ``payivr serve`` opens it: runtime role, owner migrates first."""
    database = await Database.connect_runtime(runtime_database_url, owner_conninfo=database_url)
    try:
        yield database
    finally:
        await database.close()


async def _audit_rows(url: str) -> list[tuple[int, str | None]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT id, detail FROM audit_events ORDER BY id")
        return list(await cursor.fetchall())


@pytest.mark.parametrize("attack", ATTACKS)
async def test_payivr_connection_cannot_alter_the_audit_trail(
    served: Database, database_url: str, attack: str
) -> None:
    store = PaymentStore(served)
    await store.append_audit(
        actor="alice",
        action="payment.requested",
        success=True,
        origin=Origin.ip("192.0.2.7"),
        resource="payment",
        detail="kept",
    )
    before = await _audit_rows(database_url)

    async with served.pool.connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(ATTACKS[attack])

    assert await _audit_rows(database_url) == before == [(before[0][0], "kept")]
    async with served.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT current_user, count(*) FROM pg_trigger"
            " WHERE tgrelid = 'audit_events'::regclass AND tgenabled = 'O'"
        )
        assert await cursor.fetchone() == (RUNTIME_ROLE, 2)


async def test_payivr_refuses_to_serve_as_a_superuser(database_url: str) -> None:
    with pytest.raises(DatabaseSetupError, match="postgres is a superuser"):
        await Database.connect_runtime(database_url, owner_conninfo=None)


async def test_payivr_refuses_to_serve_as_the_role_that_migrates(database_url: str) -> None:
    """An older deployment's single database.url, now given as both."""
    with pytest.raises(DatabaseSetupError, match=r"runtime role \(postgres\) is the role that"):
        await Database.connect_runtime(database_url, owner_conninfo=database_url)


@pytest.mark.parametrize(
    ("grant", "problem"),
    [
        (f"GRANT UPDATE, DELETE ON audit_events TO {RUNTIME_ROLE}", "UPDATE, DELETE on"),
        (f"GRANT TRUNCATE ON audit_events TO {RUNTIME_ROLE}", "TRUNCATE on audit_events"),
        (f"GRANT pg_write_all_data TO {RUNTIME_ROLE}", "UPDATE, DELETE on audit_events"),
        (f"ALTER TABLE audit_events OWNER TO {RUNTIME_ROLE}", "owns audit_events"),
        (
            f"ALTER FUNCTION audit_events_refuse_change() OWNER TO {RUNTIME_ROLE}",
            "owns a function audit_events' triggers run",
        ),
        ("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_truncate", "disabled"),
    ],
)
async def test_payivr_refuses_a_runtime_role_that_could_alter_the_audit_trail(
    database_url: str, runtime_database_url: str, grant: str, problem: str
) -> None:
    """What an operator's hand could give the runtime role; ``payivr serve`` without the
    owner's connection then refuses to start."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(grant.encode())
    try:
        with pytest.raises(DatabaseSetupError, match=problem):
            await Database.connect_runtime(runtime_database_url, owner_conninfo=None)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"REVOKE pg_write_all_data FROM {RUNTIME_ROLE}".encode())


async def test_payivr_refuses_a_runtime_role_that_can_become_the_owner(
    database_url: str, runtime_database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE audit_events OWNER TO {OWNER_ROLE}".encode())
        conn.execute(f"GRANT {OWNER_ROLE} TO {RUNTIME_ROLE}".encode())
    try:
        with pytest.raises(DatabaseSetupError, match="can SET ROLE to its owner payivr_owner"):
            await Database.connect_runtime(runtime_database_url, owner_conninfo=None)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"REVOKE {OWNER_ROLE} FROM {RUNTIME_ROLE}".encode())


async def test_without_the_owner_payivr_refuses_a_database_with_pending_migrations(
    empty_database_url: str,
) -> None:
    runtime = make_conninfo(empty_database_url, user=RUNTIME_ROLE)
    with pytest.raises(DatabaseSetupError, match=r"lacks .* migration.*run `payivr migrate`"):
        await Database.connect_runtime(runtime, owner_conninfo=None)


async def test_an_older_payivr_database_moves_to_the_owner_once(
    empty_database_url: str,
) -> None:
    """Before the roles, payivr migrated and served as one role (here ``old_payivr``):
    migrating as the owner takes its tables and functions and grants the runtime role;
    migrating again changes nothing."""
    old_role = sql.Identifier("old_payivr")
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(old_role))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(old_role))
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(old_role))
    old_url = make_conninfo(empty_database_url, user="old_payivr")
    await migrate(old_url)
    runtime_url = make_conninfo(empty_database_url, user=RUNTIME_ROLE)

    await migrate(empty_database_url, RUNTIME_ROLE)
    owners_after_first = _owners(empty_database_url)
    await migrate(empty_database_url, RUNTIME_ROLE)

    assert owners_after_first == _owners(empty_database_url) == {"postgres"}
    database = await Database.connect_runtime(runtime_url, owner_conninfo=None)
    await database.close()
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(old_role))
        conn.execute(sql.SQL("DROP ROLE {}").format(old_role))


def _owners(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
            " UNION SELECT pg_get_userbyid(p.proowner) FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}
