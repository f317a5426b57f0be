"""Console accounts: agents and supervisors, their passwords, sessions and API tokens.

Passwords are hashed with scrypt (per-account salt, N=2**14, r=8, p=1) off the event loop.
Ten wrong passwords in a row lock the account for 30 minutes (kept in the database, so every
instance and a restart honour it). Session and API tokens are 256-bit random values; the
database keeps only their SHA-256, so a copy of it lets no one sign in.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from payivr.core.redact import has_digit_run
from payivr.store.database import Database
from payivr.store.models import Clock, utc_now

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=30)
SESSION_IDLE = timedelta(minutes=15)  # PCI DSS 8.2.8: re-authenticate after 15 idle minutes
SESSION_LIFETIME = timedelta(hours=12)
API_TOKEN_PREFIX = "pivr_"  # noqa: S105 (a marker, not a secret)

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 ._'-]{0,63}$")
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_.@+-]{1,64}$")


class Role(enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


class LoginRefused(Exception):
    """Wrong name or password, or the account is locked (``locked`` says which)."""

    def __init__(self, locked: bool) -> None:
        super().__init__("account locked" if locked else "wrong name or password")
        self.locked = locked


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


# ------------------------------------------------------------------ passwords


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64); each call picks a new 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest))
    )


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# A hash to check against when the name is unknown, so the answer takes as long.
_UNKNOWN_ACCOUNT_HASH = hash_password(secrets.token_urlsafe(16))


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

    async def add(self, name: str, endpoint: str | None, role: Role, password: str) -> Account:
        """Create an account; raises :class:`AccountError` with a reason for bad input."""
        check_name(name)
        if endpoint is not None and not _ENDPOINT.match(endpoint):
            raise AccountError(f"{endpoint!r} is not a softphone endpoint like PJSIP/1001")
        if role is Role.AGENT and endpoint is None:
            raise AccountError("an agent needs a softphone endpoint (e.g. PJSIP/1001)")
        check_password(password)
        encoded = await asyncio.to_thread(hash_password, password)
        now = self._clock()
        async with self._db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            try:
                await cursor.execute(
                    "INSERT INTO console_accounts (name, endpoint, role, password_hash,"
                    " created_at, password_set_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                    (name, endpoint, role.value, encoded, now, now),
                )
            except psycopg.errors.UniqueViolation as error:
                field = "name" if "name" in (error.diag.constraint_name or "") else "endpoint"
                raise AccountError(f"an account with this {field} exists already") from None
            row = await cursor.fetchone()
        assert row is not None
        return _account(row)

    async def set_password(self, name: str, password: str) -> None:
        """New password; unlocks the account and ends its sessions."""
        check_password(password)
        encoded = await asyncio.to_thread(hash_password, password)
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE console_accounts SET password_hash = %s, password_set_at = %s,"
                " failed_logins = 0, locked_until = NULL WHERE name = %s RETURNING id",
                (encoded, self._clock(), name),
            )
            row = await cursor.fetchone()
            if row is None:
                raise AccountError(f"no account named {name!r}")
            await conn.execute("DELETE FROM console_sessions WHERE account_id = %s", (row[0],))

    async def get(self, name: str) -> Account | None:
        async with self._db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                "SELECT * FROM console_accounts WHERE name = %s AND NOT disabled", (name,)
            )
            row = await cursor.fetchone()
        return _account(row) if row else None

    async def list_accounts(self) -> list[Account]:
        async with self._db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute("SELECT * FROM console_accounts WHERE NOT disabled ORDER BY name")
            return [_account(row) for row in await cursor.fetchall()]

    # -------------------------------------------------------------- login and sessions

    async def login(self, name: str, password: str, origin: str) -> Session:
        """Check the password and open a session; raises :class:`LoginRefused`."""
        now = self._clock()
        refused: LoginRefused | None = None
        async with self._db.pool.connection() as conn, conn.transaction():
            # The refusal is raised after the transaction commits, so the count is kept.
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                "SELECT * FROM console_accounts WHERE name = %s AND NOT disabled FOR UPDATE",
                (name,),
            )
            row = await cursor.fetchone()
            if row is None:
                await asyncio.to_thread(verify_password, password, _UNKNOWN_ACCOUNT_HASH)
                refused = LoginRefused(locked=False)
            elif row["locked_until"] is not None and row["locked_until"] > now:
                refused = LoginRefused(locked=True)
            elif not await asyncio.to_thread(verify_password, password, row["password_hash"]):
                failures = row["failed_logins"] + 1
                locked_until = now + LOCKOUT if failures >= MAX_FAILED_LOGINS else None
                await conn.execute(
                    "UPDATE console_accounts SET failed_logins = %s, locked_until = %s"
                    " WHERE id = %s",
                    (0 if locked_until else failures, locked_until, row["id"]),
                )
                refused = LoginRefused(locked=locked_until is not None)
            else:
                token = secrets.token_urlsafe(32)
                csrf = secrets.token_urlsafe(32)
                await conn.execute(
                    "UPDATE console_accounts SET failed_logins = 0, locked_until = NULL"
                    " WHERE id = %s",
                    (row["id"],),
                )
                await conn.execute(
                    "INSERT INTO console_sessions (token_hash, account_id, csrf_token, origin,"
                    " created_at, last_seen_at, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (
                        token_digest(token),
                        row["id"],
                        csrf,
                        origin,
                        now,
                        now,
                        now + self._session_lifetime,
                    ),
                )
        if refused is not None:
            raise refused
        assert row is not None
        return Session(_account(row), csrf, token)

    async def session(self, token: str, *, activity: bool = True) -> Session | None:
        """The live session for a cookie value, or None.

        ``activity``: a person did something, so the idle timer starts again. Requests a
        page makes on its own (polling) pass False, so an unattended console still signs
        out after :data:`SESSION_IDLE`.
        """
        now = self._clock()
        async with self._db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
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
            row = await cursor.fetchone()
        return Session(_account(row), row["csrf_token"]) if row else None

    async def logout(self, token: str) -> None:
        async with self._db.pool.connection() as conn:
            await conn.execute(
                "DELETE FROM console_sessions WHERE token_hash = %s OR expires_at < %s",
                (token_digest(token), self._clock()),
            )

    # -------------------------------------------------------------- API tokens

    async def issue_token(self, name: str, label: str) -> str:
        """A new API token acting as ``name``; shown once, stored as a digest."""
        if not label.strip() or len(label) > 100 or has_digit_run(label):
            raise AccountError("the token label must be 1-100 characters without long numbers")
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO console_api_tokens (token_hash, account_id, label, created_at)"
                " SELECT %s, id, %s, %s FROM console_accounts WHERE name = %s RETURNING id",
                (token_digest(token), label, self._clock(), name),
            )
            if await cursor.fetchone() is None:
                raise AccountError(f"no account named {name!r}")
        return token

    async def revoke_token(self, token: str) -> bool:
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "UPDATE console_api_tokens SET revoked_at = %s"
                " WHERE token_hash = %s AND revoked_at IS NULL",
                (self._clock(), token_digest(token)),
            )
            return cursor.rowcount == 1

    async def account_for_token(self, token: str) -> Account | None:
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        async with self._db.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                "UPDATE console_api_tokens t SET last_used_at = %s FROM console_accounts a"
                " WHERE t.token_hash = %s AND t.revoked_at IS NULL AND a.id = t.account_id"
                " AND NOT a.disabled RETURNING a.*",
                (self._clock(), token_digest(token)),
            )
            row = await cursor.fetchone()
        return _account(row) if row else None

    async def locked_until(self, name: str) -> datetime | None:
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT locked_until FROM console_accounts WHERE name = %s", (name,)
            )
            row = await cursor.fetchone()
        return row[0] if row else None


def check_name(name: str) -> None:
    if not _NAME.match(name) or has_digit_run(name):
        raise AccountError(
            "the name must start with a letter and use at most 64 letters, digits, spaces"
            " and . _ ' - (no long numbers: names appear on payments and in the CRM)"
        )


# ------------------------------------------------------------------ for the CLI


async def add_agent(
    db: Database, name: str, endpoint: str | None, role: str, password: str
) -> Account:
    """``payivr agent add NAME --endpoint PJSIP/1001 --role agent|supervisor``.

    Raises :class:`AccountError` with a message for the person at the terminal.
    """
    try:
        parsed = Role(role)
    except ValueError:
        raise AccountError("the role must be 'agent' or 'supervisor'") from None
    return await Accounts(db).add(name, endpoint, parsed, password)


async def add_api_token(db: Database, name: str, label: str) -> str:
    """``payivr agent token NAME --label crm``: a Bearer token acting as that account."""
    return await Accounts(db).issue_token(name, label)


async def set_agent_password(db: Database, name: str, password: str) -> None:
    """``payivr agent password NAME``: also unlocks the account and signs it out."""
    await Accounts(db).set_password(name, password)
