"""Two database roles: the owner that migrates, and the runtime role payivr serves as.

The owner owns every payivr table and function. The runtime role may read and write the
operational tables but on ``audit_events`` only INSERT and SELECT: it cannot update,
delete or truncate audit rows, nor alter the table or drop its append-only triggers
(only an owner can). :func:`grant_runtime_role` runs as the owner after the migrations,
on every ``payivr migrate``: it takes ownership of objects another role still owns (an
older payivr ran as the owner) and sets the runtime role's grants; running it again
changes nothing. :func:`runtime_role_problems` is the check ``payivr serve`` makes on
its own connection before it starts.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from payivr.core.errors import PayivrError

AUDIT_TABLE = "audit_events"
MIGRATIONS_TABLE = "schema_migrations"


class DatabaseSetupError(PayivrError):
    """The database is not set up for payivr to serve on: roles that could alter the
    audit trail, or migrations the owner has not applied yet."""


TAKE_OWNERSHIP = """
DO $$
DECLARE
    owner text := current_setting('payivr.new_owner');
    object record;
BEGIN
    FOR object IN
        SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
               c.oid::regclass::text AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> owner
          -- a sequence that belongs to a table (identity, serial) follows its table
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
        UNION ALL
        SELECT 'ROUTINE', p.oid::regprocedure::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> owner
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO %I', object.kind, object.name, owner);
    END LOOP;
END
$$
"""


async def take_ownership(conn: psycopg.AsyncConnection[Any], owner: str) -> None:
    """Make ``owner`` the owner of every table, view, sequence and function in ``public``
    it does not own yet. The connected role must be able to act as the old and the new
    owner (a superuser, or a member of both)."""
    async with conn.transaction():
        await conn.execute("SELECT set_config('payivr.new_owner', %s, true)", (owner,))
        await conn.execute(TAKE_OWNERSHIP)


async def grant_runtime_role(conn: psycopg.AsyncConnection[Any], runtime_role: str) -> None:
    """As the owner: own every payivr object, then grant ``runtime_role`` what it needs."""
    cursor = await conn.execute("SELECT current_user::text")
    owner = (await cursor.fetchone() or ("",))[0]
    if runtime_role == owner:
        raise DatabaseSetupError(
            f"payivr's runtime role ({runtime_role}) is the role that migrates: give payivr"
            " (database.url) a role of its own (README, Security: database roles)"
        )
    try:
        await take_ownership(conn, owner)
    except psycopg.errors.InsufficientPrivilege as error:
        raise DatabaseSetupError(
            f"{owner} cannot take ownership of payivr's tables ({error.diag.message_primary});"
            " as a superuser run: REASSIGN OWNED BY <old owner> TO " + owner
        ) from error
    role = sql.Identifier(runtime_role)
    for statement in (
        "GRANT USAGE ON SCHEMA public TO {role}",
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        "REVOKE UPDATE, DELETE ON {audit} FROM {role}",
        "REVOKE INSERT, UPDATE, DELETE ON {migrations} FROM {role}",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ):
        await conn.execute(
            sql.SQL(statement).format(
                role=role,
                audit=sql.Identifier(AUDIT_TABLE),
                migrations=sql.Identifier(MIGRATIONS_TABLE),
            )
        )


_AUDIT_POWERS = """
SELECT r.rolsuper,
       r.rolcreaterole,
       EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolsuper AND pg_has_role(s.oid, 'MEMBER')),
       pg_has_role(c.relowner, 'MEMBER'),
       EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
               WHERE t.tgrelid = c.oid AND pg_has_role(p.proowner, 'MEMBER')),
       ARRAY(SELECT privilege FROM unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER'])
             AS privilege WHERE has_table_privilege(c.oid, privilege)),
       (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgenabled <> 'D'
        AND t.tgname IN ('audit_events_no_update_or_delete', 'audit_events_no_truncate')),
       current_user::text,
       pg_get_userbyid(c.relowner)::text
FROM pg_roles r, pg_class c
WHERE r.rolname = current_user AND c.oid = to_regclass('public.audit_events')
"""


async def runtime_role_problems(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """What would let the role ``conn`` runs as alter the audit trail (empty: nothing)."""
    cursor = await conn.execute(_AUDIT_POWERS)
    row = await cursor.fetchone()
    if row is None:
        return ["the database has no audit_events table: run payivr migrate as its owner"]
    (superuser, create_role, superuser_member, owner, trigger_owner, privileges, triggers,
     role, owner_role) = row  # fmt: skip
    found = []
    if superuser:
        found.append(f"{role} is a superuser")
    elif superuser_member:
        found.append(f"{role} can SET ROLE to a superuser")
    if create_role:
        found.append(f"{role} has CREATEROLE")
    if owner:
        found.append(f"{role} owns audit_events, or can SET ROLE to its owner {owner_role}")
    elif trigger_owner:
        found.append(f"{role} owns a function audit_events' triggers run")
    if privileges:
        found.append(f"{role} has {', '.join(privileges)} on audit_events")
    if triggers < 2:
        found.append("audit_events' append-only triggers are missing or disabled")
    return found


async def check_runtime_role(conn: psycopg.AsyncConnection[Any]) -> None:
    """Refuse (:class:`DatabaseSetupError`) a role that could alter the audit trail."""
    problems = await runtime_role_problems(conn)
    if problems:
        raise DatabaseSetupError(
            "payivr will not run as a database role that can alter its audit trail: "
            + "; ".join(problems)
            + ". Set database.url to payivr's runtime role and database.migrate_url to the"
            " owner (README, Security: database roles)"
        )


async def role_of(conninfo: str) -> str:
    """The role a connection to ``conninfo`` runs as (the user libpq picks when unnamed)."""
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cursor = await conn.execute("SELECT current_user::text")
        row = await cursor.fetchone()
    assert row is not None
    return str(row[0])
