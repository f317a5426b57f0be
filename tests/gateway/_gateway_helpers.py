"""Helpers shared by the gateway tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.core.cards import SecretDigits, identify_brand
from payivr.core.events import CardDetails
from payivr.gateway import signing
from payivr.gateway.client import HttpGateway, RetryPolicy
from payivr.gateway.jwe import EncryptionKey
from payivr.gateway.pki import Issued, TlsFiles
from payivr.gateway.sandbox import RunningSandbox
from payivr.gateway.testcards import DECLINE_CARDS, SUCCESS_CARDS

SECRET = "whsec_dGVzdC1zaWduaW5nLXNlY3JldC1mb3ItcGF5aXZyLWdhdGV3YXk="
FAST_RETRY = RetryPolicy(
    attempts=4, backoff=0.01, max_backoff=0.05, status_queries=3, status_interval=0.05
)
MakeClient = Callable[..., HttpGateway]
TEST_PANS = [*SUCCESS_CARDS, *DECLINE_CARDS, "4242424242424241"]


@dataclass(frozen=True)
class Keys:
    private: rsa.RSAPrivateKey
    private_pem: Path
    public_pem: Path
    public_jwk: Path
    kid: str

    @property
    def encryption_key(self) -> EncryptionKey:
        return EncryptionKey(self.kid, self.private.public_key())


@dataclass(frozen=True)
class Pki:
    ca: Issued
    ca_file: Path
    good: TlsFiles
    expired: TlsFiles
    wrong_host: TlsFiles
    untrusted: TlsFiles
    client_cert: Path
    client_key: Path


def card(
    number: str, expiry: str = "1230", cvc: str | None = None, postal: str | None = "94107"
) -> CardDetails:
    digits = SecretDigits(number)
    iin = identify_brand(digits)
    assert iin is not None
    if cvc is None:
        cvc = "1234" if iin.brand.security_code_length == 4 else "123"
    return CardDetails(digits, SecretDigits(expiry), SecretDigits(cvc), postal, iin.brand)


def buffers(details: CardDetails) -> list[SecretDigits]:
    assert details.security_code is not None
    return [details.number, details.expiry, details.security_code]


async def signed_request(
    sandbox: RunningSandbox,
    pki: Pki,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    key: str | None = None,
    timestamp_offset: float = 0.0,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """A raw request to the sandbox, signed the way the client signs."""
    signer = signing.Signer(signing.decode_secret(secret), lambda: time.time() + timestamp_offset)
    all_headers = {"Content-Type": "application/json", **signer.headers(body)}
    if key is not None:
        all_headers["Idempotency-Key"] = key
    all_headers.update(headers or {})
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, sandbox.url + path, data=body, headers=all_headers, ssl=context
        ) as response,
    ):
        return response.status, dict(response.headers), await response.json()


async def until(condition: Callable[[], bool], step: float = 0.005) -> None:
    """Wait for something another task does at the sandbox (no hook to wait on there)."""
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(step)
