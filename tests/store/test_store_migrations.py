import asyncio

import psycopg

from payivr.store import Database, migrate, shipped_migrations


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def _recorded(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(int(v), str(n)) for v, n in rows.fetchall()]


async def test_migrations_apply_from_empty_then_rerun_does_nothing(empty_database_url):
    applied = await migrate(empty_database_url)

    shipped = shipped_migrations()
    versions = [m.version for m in shipped]
    assert versions == list(range(1, len(shipped) + 1)), "migrations are numbered 1, 2, 3..."
    assert [m.version for m in applied] == versions
    assert {"payments", "audit_events", "crm_endpoints", "crm_outbox", "schema_migrations"} <= (
        _tables(empty_database_url)
    )
    assert await migrate(empty_database_url) == []
    assert _recorded(empty_database_url) == [(m.version, m.name) for m in shipped]


async def test_two_instances_starting_together_apply_each_migration_once(empty_database_url):
    first, second = await asyncio.gather(
        Database.connect(empty_database_url), Database.connect(empty_database_url)
    )
    await first.close()
    await second.close()

    assert _recorded(empty_database_url) == [(m.version, m.name) for m in shipped_migrations()]


async def test_many_concurrent_migrate_calls_apply_once(empty_database_url):
    results = await asyncio.gather(*(migrate(empty_database_url) for _ in range(5)))

    assert sorted(len(applied) for applied in results) == [0, 0, 0, 0, len(shipped_migrations())]
