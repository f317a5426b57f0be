"""Console accounts: agents and supervisors, their passwords, sessions and API tokens.

Passwords are hashed (:mod:`payivr.console.passwords`) outside any database transaction.

Failed sign-ins never lock an account (that was a weapon: anyone could lock any agent out).
They slow down the address that made them, per name (kept in the database, so every instance
and a restart honour it): after :data:`FREE_FAILURES` failures that address waits 30 s, then
1, 2, 4... minutes (at most :data:`MAX_BACKOFF`) before it may try that name again, while the agent
signs in from their own desk as usual; when a name collects :data:`NAME_FAILURES_PER_WINDOW`
failures within a minute from many addresses, every address that failed on it waits out the
minute. An unknown name is treated exactly like a known one.
``payivr agent unlock NAME`` forgets a name's failures.

Session and API tokens are 256-bit random values, kept as their digest. API tokens expire
(90 days unless told) and can be revoked.
"""

from __future__ import annotations

import enum
import math
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from payivr.console.passwords import (
    UNKNOWN_ACCOUNT_HASH,
    HashingSlots,
    LoginBusy,
    hash_password,
    needs_rehash,
    password_problem,
    token_digest,
    verify_password,
)
from payivr.core.errors import PayivrError
from payivr.core.redact import has_digit_run
from payivr.store.database import Database
from payivr.store.models import Clock, utc_now

FREE_FAILURES = 5  # failed sign-ins of one name from one address before it has to wait
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=15)
# Failures on one name from all addresses within NAME_WINDOW past which every address that
# has failed on it waits out the window (one made-up guess per fresh address, then wait).
NAME_FAILURES_PER_WINDOW = 30
NAME_WINDOW = timedelta(minutes=1)
FAILURES_KEPT = timedelta(days=1)  # a (name, address) quiet this long starts afresh
API_TOKEN_LIFETIME = timedelta(days=90)
MAX_API_TOKEN_LIFETIME = timedelta(days=366)
SESSION_IDLE = timedelta(minutes=15)  # PCI DSS 8.2.8: re-authenticate after 15 idle minutes
SESSION_LIFETIME = timedelta(hours=12)
API_TOKEN_PREFIX = "pivr_"  # noqa: S105 (a marker, not a secret)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 ._'-]{0,63}$")
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+-]{1,64}$")


class Role(enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class AccountError(PayivrError, ValueError):
    """An account cannot be created or changed as asked; the message says why."""


class LoginRefused(PayivrError):
    """Not signed in. ``retry_after`` (seconds) is set when this address must wait before it
    tries this name again; otherwise the name or the password was wrong (or the account is
    disabled: the same answer, so names cannot be told apart)."""

    def __init__(self, retry_after: int | None = None) -> None:
        super().__init__("wait before trying again" if retry_after else "wrong name or password")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    endpoint: str | None
    role: Role

    @property
    def is_supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR

    @property
    def labels(self) -> frozenset[str]:
        """How call control may name this agent in events: login name or endpoint."""
        return frozenset(label for label in (self.name, self.endpoint) if label)


@dataclass(frozen=True)
class Session:
    """A signed-in browser. ``token`` is only known right after login (for the cookie)."""

    account: Account
    csrf_token: str
    token: str = ""

    def __repr__(self) -> str:
        return f"Session(account={self.account.name!r}, <tokens hidden>)"


@dataclass(frozen=True)
class AccountStatus:
    """One line of ``payivr agent list``."""

    account: Account
    disabled: bool
    recent_failures: int
    api_tokens: int


def check_password(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise AccountError(problem)


def backoff(failures: int) -> timedelta:
    """How long an address waits after its ``failures``-th failure on one name: nothing,
    then :data:`FIRST_BACKOFF` from the :data:`FREE_FAILURES`-th on, doubling each time."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    doubled: timedelta = FIRST_BACKOFF * 2 ** min(failures - FREE_FAILURES, 16)
    return min(doubled, MAX_BACKOFF)


# ------------------------------------------------------------------ the store


def _account(row: dict[str, Any]) -> Account:
    return Account(row["id"], row["name"], row["endpoint"], Role(row["role"]))


class Accounts:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utc_now,
        session_idle: timedelta = SESSION_IDLE,
        session_lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self._db = db
        self._clock = clock
        self._session_idle = session_idle
        self._session_lifetime = session_lifetime
        self._hashing = HashingSlots()

    async def add(
        self,
        name: str,
        endpoint: str | None,
        role: Role,
        password: str,
        more_endpoints: Sequence[str] = (),
    ) -> Account:
        """Create an account; raises :class:`AccountError` with a reason for bad input.

        ``endpoint`` is the agent's softphone; ``more_endpoints`` are other phones whose
        calls are theirs too (see :meth:`agent_on_endpoint`).
        """
        check_name(name)
        endpoints = [e for e in (endpoint, *more_endpoints) if e is not None]
        for each in endpoints:
            if not _ENDPOINT.match(each):
                raise AccountError(f"{each!r} is not a softphone endpoint like PJSIP/1001")
        if len(set(endpoints)) != len(endpoints):
            raise AccountError("an endpoint is named twice")
        if endpoint is None and endpoints:
            raise AccountError("more endpoints need a first one (--endpoint)")
        if role is Role.AGENT and endpoint is None:
            raise AccountError("an agent needs a softphone endpoint (e.g. PJSIP/1001)")
        check_password(password)
        encoded = await self._hashing.run(hash_password, password)
        now = self._clock()
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            try:
                await cursor.execute(
                    "INSERT INTO console_accounts (name, endpoint, role, password_hash,"
                    " created_at, password_set_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                    (name, endpoint, role.value, encoded, now, now),
                )
                row = await cursor.fetchone()
                assert row is not None
                # The first one is listed by the database (console_accounts_first_endpoint).
                await cursor.executemany(
                    "INSERT INTO console_account_endpoints (endpoint, account_id) VALUES (%s, %s)",
                    [(each, row["id"]) for each in more_endpoints],
                )
            except psycopg.errors.UniqueViolation as error:
                field = "name" if "name" in (error.diag.constraint_name or "") else "endpoint"
                raise AccountError(f"an account with this {field} exists already") from None
        return _account(row)

    async def endpoints_of(self, account: Account) -> list[str]:
        """Every endpoint of ``account``, its first (``account.endpoint``) first."""
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT endpoint FROM console_account_endpoints WHERE account_id = %s"
                " ORDER BY endpoint <> %s, endpoint",
                (account.id, account.endpoint or ""),
            )
            return [str(row[0]) for row in await cursor.fetchall()]

    async def set_password(self, name: str, password: str) -> None:
        """New password; forgets failed sign-ins on the name and ends its sessions."""
        check_password(password)
        encoded = await self._hashing.run(hash_password, password)
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE console_accounts SET password_hash = %s, password_set_at = %s,"
                " failed_logins = 0 WHERE name = %s RETURNING id",
                (encoded, self._clock(), name),
            )
            row = await cursor.fetchone()
            if row is None:
                raise AccountError(f"no account named {name!r}")
            await conn.execute("DELETE FROM console_sessions WHERE account_id = %s", (row[0],))
            await conn.execute("DELETE FROM console_login_failures WHERE name = %s", (name,))

    async def get(self, name: str) -> Account | None:
        row = await self._db.row(
            "SELECT * FROM console_accounts WHERE name = %s AND NOT disabled", (name,)
        )
        return _account(row) if row else None

    async def agent_on_endpoint(self, endpoint: str) -> str | None:
        """The name of the enabled account one of whose softphones is ``endpoint`` (``*7``
        checks that a request comes from an agent's phone; payments are filed under it), an
        exact match, or None."""
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT a.name FROM console_account_endpoints e JOIN console_accounts a"
                " ON a.id = e.account_id WHERE e.endpoint = %s AND NOT a.disabled",
                (endpoint,),
            )
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def statuses(self) -> list[AccountStatus]:
        """Every account, disabled ones too, with recent failed sign-ins and live API tokens."""
        now = self._clock()
        rows = await self._db.rows(
            "SELECT a.*,"
            " (SELECT coalesce(sum(f.failures), 0) FROM console_login_failures f"
            "  WHERE f.name = a.name AND f.last_failed_at > %(since)s) AS recent_failures,"
            " (SELECT count(*) FROM console_api_tokens t WHERE t.account_id = a.id"
            "  AND t.revoked_at IS NULL AND t.expires_at > %(now)s) AS api_tokens"
            " FROM console_accounts a ORDER BY a.name",
            {"now": now, "since": now - FAILURES_KEPT},
        )
        return [
            AccountStatus(
                _account(row), row["disabled"], int(row["recent_failures"]), int(row["api_tokens"])
            )
            for row in rows
        ]

    async def disable(self, name: str) -> None:
        """No more sign-ins, sessions or API tokens for ``name`` (its payments stay)."""
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "UPDATE console_accounts SET disabled = true WHERE name = %s RETURNING id", (name,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise AccountError(f"no account named {name!r}")
            await conn.execute("DELETE FROM console_sessions WHERE account_id = %s", (row[0],))

    async def unlock(self, name: str) -> int:
        """Forget the failed sign-ins on ``name`` from every address; returns how many."""
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "DELETE FROM console_login_failures WHERE name = %s RETURNING failures", (name,)
            )
            forgotten = sum(int(row[0]) for row in await cursor.fetchall())
            cursor = await conn.execute(
                "UPDATE console_accounts SET failed_logins = 0 WHERE name = %s", (name,)
            )
            if cursor.rowcount == 0:
                raise AccountError(f"no account named {name!r}")
        return forgotten

    # -------------------------------------------------------------- login and sessions

    async def login(self, name: str, password: str, address: str) -> Session:
        """Check the password and open a session; raises :class:`LoginRefused`.

        Nothing holds a database connection while scrypt runs: the account and this
        address's failures are read, the connection goes back, the password is hashed in a
        thread (see :class:`~payivr.console.passwords.HashingSlots`), then a short transaction records
        the outcome. Raises :class:`LoginBusy` instead of queueing without end.
        """
        now = self._clock()
        async with self._db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                "SELECT next_allowed_at FROM console_login_failures"
                " WHERE name = %s AND address = %s",
                (name, address),
            )
            failures = await cursor.fetchone()
            if failures is not None:
                wait = failures["next_allowed_at"] - now
                if wait <= timedelta(0) and await self._name_under_attack(conn, name, now):
                    wait = NAME_WINDOW
                if wait > timedelta(0):
                    raise LoginRefused(retry_after=math.ceil(wait.total_seconds()))
            await cursor.execute(
                "SELECT * FROM console_accounts WHERE name = %s AND NOT disabled", (name,)
            )
            row = await cursor.fetchone()
        encoded = row["password_hash"] if row else UNKNOWN_ACCOUNT_HASH
        session = None
        if await self._hashing.run(verify_password, password, encoded) and row is not None:
            session = Session(_account(row), secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        now = self._clock()
        async with self._db.pool.connection() as conn, conn.transaction():
            if session is None:
                await self._record_failure(conn, name, address, now)
            elif not await self._open_session(conn, session, encoded, address, now):
                session = None
        if session is None:
            raise LoginRefused()
        if needs_rehash(encoded):
            await self._rehash(session.account.id, encoded, password)
        return session

    @staticmethod
    async def _name_under_attack(
        conn: psycopg.AsyncConnection[Any], name: str, now: datetime
    ) -> bool:
        """Many addresses failing on one name: those that failed wait (see module doc)."""
        cursor = await conn.execute(
            "SELECT coalesce(sum(failures), 0) FROM console_login_failures"
            " WHERE name = %s AND last_failed_at > %s",
            (name, now - NAME_WINDOW),
        )
        row = await cursor.fetchone()
        return row is not None and int(row[0]) >= NAME_FAILURES_PER_WINDOW

    async def _rehash(self, account_id: int, old: str, password: str) -> None:
        """The password at today's cost (only if it was not changed meanwhile)."""
        try:
            encoded = await self._hashing.run(hash_password, password)
        except LoginBusy:
            return  # next time
        async with self._db.pool.connection() as conn:
            await conn.execute(
                "UPDATE console_accounts SET password_hash = %s"
                " WHERE id = %s AND password_hash = %s",
                (encoded, account_id, old),
            )

    async def _record_failure(
        self, conn: psycopg.AsyncConnection[Any], name: str, address: str, now: datetime
    ) -> None:
        cursor = await conn.execute(
            "INSERT INTO console_login_failures AS f (name, address, failures, last_failed_at,"
            " next_allowed_at) VALUES (%(name)s, %(address)s, 1, %(now)s, %(now)s)"
            " ON CONFLICT (name, address) DO UPDATE SET failures = CASE"
            " WHEN f.last_failed_at < %(stale)s THEN 1 ELSE f.failures + 1 END,"
            " last_failed_at = %(now)s RETURNING failures",
            {"name": name, "address": address, "now": now, "stale": now - FAILURES_KEPT},
        )
        row = await cursor.fetchone()
        assert row is not None
        await conn.execute(
            "UPDATE console_login_failures SET next_allowed_at = %s"
            " WHERE name = %s AND address = %s",
            (now + backoff(row[0]), name, address),
        )
        await conn.execute(
            "UPDATE console_accounts SET failed_logins = failed_logins + 1 WHERE name = %s",
            (name,),
        )
        # Old rows go as new ones come, so a flood of made-up names cannot grow the table.
        await conn.execute(
            "DELETE FROM console_login_failures WHERE last_failed_at < %s", (now - FAILURES_KEPT,)
        )

    async def _open_session(
        self,
        conn: psycopg.AsyncConnection[Any],
        session: Session,
        encoded: str,
        address: str,
        now: datetime,
    ) -> bool:
        """The session row, unless the account changed while its password was hashed."""
        cursor = await conn.execute(
            "UPDATE console_accounts SET failed_logins = 0"
            " WHERE id = %s AND password_hash = %s AND NOT disabled",
            (session.account.id, encoded),
        )
        if cursor.rowcount != 1:
            return False
        await conn.execute(
            "DELETE FROM console_login_failures WHERE name = %s AND address = %s",
            (session.account.name, address),
        )
        await conn.execute(
            "INSERT INTO console_sessions (token_hash, account_id, csrf_token, origin,"
            " created_at, last_seen_at, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                token_digest(session.token),
                session.account.id,
                session.csrf_token,
                address,
                now,
                now,
                now + self._session_lifetime,
            ),
        )
        return True

    async def session(self, token: str, *, activity: bool = True) -> Session | None:
        """The live session for a cookie value, or None.

        ``activity``: a person did something, so the idle timer starts again. Requests a
        page makes on its own (polling) pass False, so an unattended console still signs
        out after :data:`SESSION_IDLE`.
        """
        now = self._clock()
        row = await self._db.row(
            "UPDATE console_sessions s SET last_seen_at = CASE WHEN %(activity)s"
            " THEN %(now)s ELSE s.last_seen_at END FROM console_accounts a"
            " WHERE s.token_hash = %(digest)s AND a.id = s.account_id AND NOT a.disabled"
            " AND s.expires_at > %(now)s AND s.last_seen_at > %(idle_since)s"
            " RETURNING a.*, s.csrf_token",
            {
                "now": now,
                "activity": activity,
                "digest": token_digest(token),
                "idle_since": now - self._session_idle,
            },
        )
        return Session(_account(row), row["csrf_token"]) if row else None

    async def ended(self, digests: Iterable[bytes]) -> set[bytes]:
        """Which of these session or API token digests no longer let anyone in (signed
        out, idle too long, password changed, revoked, expired, account disabled)."""
        digests = list(digests)
        if not digests:
            return set()
        now = self._clock()
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT s.token_hash FROM console_sessions s JOIN console_accounts a"
                " ON a.id = s.account_id WHERE s.token_hash = ANY(%(digests)s)"
                " AND NOT a.disabled AND s.expires_at > %(now)s"
                " AND s.last_seen_at > %(idle_since)s"
                " UNION ALL SELECT t.token_hash FROM console_api_tokens t JOIN console_accounts a"
                " ON a.id = t.account_id WHERE t.token_hash = ANY(%(digests)s)"
                " AND NOT a.disabled AND t.revoked_at IS NULL AND t.expires_at > %(now)s",
                {"digests": digests, "now": now, "idle_since": now - self._session_idle},
            )
            live = {bytes(row[0]) for row in await cursor.fetchall()}
        return set(digests) - live

    async def logout(self, token: str) -> None:
        async with self._db.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM console_sessions WHERE token_hash = %s OR expires_at < %s",
                (token_digest(token), self._clock()),
            )

    # -------------------------------------------------------------- API tokens

    async def issue_token(
        self, name: str, label: str, lifetime: timedelta = API_TOKEN_LIFETIME
    ) -> str:
        """A new API token acting as ``name`` for ``lifetime``; shown once, stored as a digest."""
        if not label.strip() or len(label) > 100 or has_digit_run(label):
            raise AccountError("the token label must be 1-100 characters without long numbers")
        if not timedelta(0) < lifetime <= MAX_API_TOKEN_LIFETIME:
            raise AccountError(f"a token lives from 1 to {MAX_API_TOKEN_LIFETIME.days} days")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO console_api_tokens (token_hash, account_id, label, created_at,"
                " expires_at) SELECT %s, id, %s, %s, %s FROM console_accounts"
                " WHERE name = %s AND NOT disabled RETURNING id",
                (token_digest(token), label, now, now + lifetime, name),
            )
            if await cursor.fetchone() is None:
                raise AccountError(f"no account named {name!r} (or it is disabled)")
        return token

    async def revoke_token(self, token: str) -> bool:
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE console_api_tokens SET revoked_at = %s"
                " WHERE token_hash = %s AND revoked_at IS NULL",
                (self._clock(), token_digest(token)),
            )
            return cursor.rowcount == 1

    async def revoke_tokens(self, name: str, label: str | None = None) -> int:
        """Revoke ``name``'s live API tokens (those labelled ``label``, or all); how many."""
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE console_api_tokens t SET revoked_at = %(now)s FROM console_accounts a"
                " WHERE a.id = t.account_id AND a.name = %(name)s AND t.revoked_at IS NULL"
                " AND t.expires_at > %(now)s AND (%(label)s::text IS NULL OR t.label = %(label)s)",
                {"now": self._clock(), "name": name, "label": label},
            )
            return cursor.rowcount

    async def account_for_token(self, token: str) -> Account | None:
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        now = self._clock()
        row = await self._db.row(
            "UPDATE console_api_tokens t SET last_used_at = %s FROM console_accounts a"
            " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s"
            " AND a.id = t.account_id AND NOT a.disabled RETURNING a.*",
            (now, token_digest(token), now),
        )
        return _account(row) if row else None


def check_name(name: str) -> None:
    if not _NAME.match(name) or has_digit_run(name):
        raise AccountError(
            "the name must start with a letter and use at most 64 letters, digits, spaces"
            " and . _ ' - (no long numbers: names appear on payments and in the CRM)"
        )


# ------------------------------------------------------------------ for the CLI


async def add_agent(
    db: Database,
    name: str,
    endpoint: str | None,
    role: str,
    password: str,
    more_endpoints: Sequence[str] = (),
) -> Account:
    """``payivr agent add NAME --endpoint PJSIP/1001 [--endpoint ...] --role agent|supervisor``.

    Raises :class:`AccountError` with a message for the person at the terminal.
    """
    try:
        parsed = Role(role)
    except ValueError:
        raise AccountError("the role must be 'agent' or 'supervisor'") from None
    return await Accounts(db).add(name, endpoint, parsed, password, more_endpoints)


async def add_api_token(
    db: Database, name: str, label: str, lifetime: timedelta = API_TOKEN_LIFETIME
) -> str:
    """``payivr agent token NAME --label crm [--days 90]``: a Bearer token acting as that
    account until it expires or is revoked."""
    return await Accounts(db).issue_token(name, label, lifetime)


async def set_agent_password(db: Database, name: str, password: str) -> None:
    """``payivr agent password NAME``: also forgets failed sign-ins and signs it out."""
    await Accounts(db).set_password(name, password)

