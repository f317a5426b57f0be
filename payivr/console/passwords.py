"""Console passwords and tokens as the database keeps them.

Passwords are hashed with scrypt at OWASP's current minimum (N=2**17, r=8, p=1: 128 MiB,
per-account salt), off the event loop and at most :data:`HASHING_SLOTS` at a time; a hash
made with a lower cost is redone at the next sign-in. Passwords follow PCI DSS 8.3.6: at
least 12 characters, letters and digits. Session and API tokens are kept as their SHA-256
only, so a copy of the database lets no one sign in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from payivr.core.errors import PayivrError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
HASHING_SLOTS = 1  # scrypt runs at once: each takes 128 MiB and a core for ~0.3 s
MAX_WAITING_TO_HASH = 32  # sign-ins queued for a slot before more are turned away

SCRYPT_N = 2**17  # OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1 at least
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAXMEM = 256 * 1024 * 1024
_T = TypeVar("_T")


class LoginBusy(PayivrError):
    """Too many sign-ins are waiting for a hashing slot; this one is turned away unhashed."""


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64); each call picks a new 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest))
    )


def needs_rehash(encoded: str) -> bool:
    """True when ``encoded`` was made with a lower scrypt cost than today's."""
    try:
        _, n, r, p, _, _ = encoded.split("$")
        return int(n) < SCRYPT_N or int(r) < SCRYPT_R or int(p) < SCRYPT_P
    except ValueError:
        return True


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        digest = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused (PCI DSS 8.3.6: at least 12 characters, with both
    letters and digits), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password must have at most {MAX_PASSWORD_LENGTH} characters"
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        return "the password must have both letters and digits"
    return None


def generate_password() -> str:
    """A random password with no :func:`password_problem` (for the demo's accounts)."""
    while True:
        password = secrets.token_urlsafe(12)
        if password_problem(password) is None:  # about one in fifteen has no digit
            return password


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# What an unknown name's password is checked against, so the answer takes as long: today's
# scrypt cost with a random digest that no password hashes to (made without hashing anything).
UNKNOWN_ACCOUNT_HASH = "$".join(
    (
        "scrypt",
        str(SCRYPT_N),
        str(SCRYPT_R),
        str(SCRYPT_P),
        _b64(bytes(16)),
        _b64(secrets.token_bytes(32)),
    )
)


class HashingSlots:
    """Where scrypt runs: in a thread, at most :data:`HASHING_SLOTS` at once; past
    :data:`MAX_WAITING_TO_HASH` waiting, :class:`LoginBusy` instead of queueing without end."""

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(HASHING_SLOTS)
        self._waiting = 0

    async def run(self, work: Callable[..., _T], *args: Any) -> _T:
        if self._waiting >= MAX_WAITING_TO_HASH:
            raise LoginBusy()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.to_thread(work, *args)
        finally:
            self._slots.release()
