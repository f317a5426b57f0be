"""Keys, a test CA and a TLS sandbox, all made at test time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _gateway_helpers import FAST_RETRY, SECRET, Keys, MakeClient, Pki
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.gateway.client import HttpGateway, HttpGatewayConfig
from payivr.gateway.jwe import jwk_thumbprint, public_jwk
from payivr.gateway.pki import Issued, TlsFiles, issue, make_ca
from payivr.gateway.sandbox import RunningSandbox, start_sandbox


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = directory / "private.pem"
    private_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_pem = directory / "public.pem"
    public_pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    jwk = directory / "public.jwk"
    jwk.write_text(json.dumps(public_jwk(key.public_key())))
    return Keys(key, private_pem, public_pem, jwk, jwk_thumbprint(key.public_key()))


def _write(directory: Path, name: str, issued: Issued, ca_file: Path) -> TlsFiles:
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    return TlsFiles(cert, key, ca_file)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    stranger = make_ca("someone else's CA")
    stranger_file = directory / "stranger-ca.pem"
    stranger_file.write_bytes(stranger.cert_pem)
    now = datetime.now(UTC)
    hosts = ["localhost", "127.0.0.1"]
    client = _write(directory, "client", issue(ca, ["payivr-client"], client=True), ca_file)
    expired = issue(
        ca, hosts, not_before=now - timedelta(days=60), not_after=now - timedelta(days=1)
    )
    return Pki(
        ca=ca,
        ca_file=ca_file,
        good=_write(directory, "good", issue(ca, hosts), ca_file),
        expired=_write(directory, "expired", expired, ca_file),
        wrong_host=_write(directory, "wrong-host", issue(ca, ["gateway.example.com"]), ca_file),
        untrusted=_write(directory, "untrusted", issue(stranger, hosts), stranger_file),
        client_cert=client.cert_file,
        client_key=client.key_file,
    )


@pytest.fixture
async def sandbox(keys: Keys, pki: Pki) -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox(
        "127.0.0.1", 0, keys.private_pem, signing_secret=SECRET, tls=pki.good
    )
    yield running
    await running.close()


@pytest.fixture
async def make_client(sandbox: RunningSandbox, keys: Keys, pki: Pki) -> AsyncIterator[MakeClient]:
    """New clients for the sandbox (each one is like a fresh payivr process)."""
    clients: list[HttpGateway] = []

    def make(**overrides: Any) -> HttpGateway:
        values: dict[str, Any] = {
            "url": sandbox.url,
            "public_key": keys.public_jwk,
            "signing_secret": SECRET,
            "ca_bundle": pki.ca_file,
            "connect_timeout": 2.0,
            "send_timeout": 2.0,
            "read_timeout": 2.0,
            "retry": FAST_RETRY,
        }
        extras = {name: overrides.pop(name) for name in ("sleep", "clock") if name in overrides}
        values.update(overrides)
        client = HttpGateway(HttpGatewayConfig.from_values(**values), **extras)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
