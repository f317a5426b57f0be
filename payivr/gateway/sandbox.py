"""The sandbox gateway: an HTTPS server that behaves like a real card gateway.

It checks each request's signature and timestamp, decrypts the card with its private key,
answers from the test-card table and keeps idempotency and a ledger (see
:mod:`payivr.gateway.processor`). Fault switches are set at start or at run time through
``PUT /admin/faults`` (signed like every request) or ``sandbox.processor.faults``.

Entry points for the CLI: :func:`keygen` (``payivr keygen``) and :func:`run_sandbox`
(``payivr sandbox-gateway``).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.gateway import signing, wire
from payivr.gateway.jwe import DecryptionKeys, jwk_thumbprint, public_jwk
from payivr.gateway.pki import TlsFiles, write_test_tls
from payivr.gateway.processor import Answer, Faults, SandboxProcessor
from payivr.standard_webhooks import new_secret

log = structlog.get_logger(__name__)

PROCESSOR_KEY = web.AppKey("processor", SandboxProcessor)
ADMIN_PREFIX = "/admin/"


@dataclass(frozen=True)
class KeyFiles:
    """What :func:`keygen` wrote. The private key and the secret stay with the gateway."""

    private_key: Path
    public_key_pem: Path
    public_jwk: Path
    signing_secret: Path
    kid: str


def keygen(out_dir: str | Path, *, bits: int = 3072, overwrite: bool = False) -> KeyFiles:
    """An RSA key pair for card encryption plus a request-signing secret, written to files.

    ``gateway-private.pem`` (0600) is the sandbox's; payivr is configured with
    ``gateway-public.pem`` or ``gateway-public.jwk`` and ``signing-secret`` (0600).
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    files = KeyFiles(
        directory / "gateway-private.pem",
        directory / "gateway-public.pem",
        directory / "gateway-public.jwk",
        directory / "signing-secret",
        "",
    )
    existing = [
        p
        for p in (files.private_key, files.public_key_pem, files.public_jwk, files.signing_secret)
        if p.exists()
    ]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} exists; refusing to overwrite keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    kid = jwk_thumbprint(key.public_key())

    def write(path: Path, data: bytes, mode: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, mode)

    write(
        files.private_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    write(
        files.public_key_pem,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        0o644,
    )
    write(files.public_jwk, json.dumps(public_jwk(key.public_key(), kid), indent=2).encode(), 0o644)
    write(files.signing_secret, (new_secret() + "\n").encode(), 0o600)
    return KeyFiles(
        files.private_key, files.public_key_pem, files.public_jwk, files.signing_secret, kid
    )


def read_secret(source: str | Path) -> str:
    """A signing secret given inline (``whsec_...``) or as a file path."""
    text = str(source)
    if text.startswith("whsec_"):
        return text
    return Path(source).read_text(encoding="ascii").strip()


class _SeenIds:
    """Message ids seen within the signature tolerance: a replayed request is refused."""

    def __init__(self, tolerance: float) -> None:
        self._tolerance = tolerance
        self._expiry: dict[str, float] = {}

    def first_time(self, message_id: str, now: float) -> bool:
        if len(self._expiry) > 10_000:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
        if self._expiry.get(message_id, 0.0) > now:
            return False
        self._expiry[message_id] = now + 2 * self._tolerance
        return True


class SandboxEndpoint:
    """The sandbox's answer to one raw request, signature and replay checks included: what
    the HTTPS server serves, and what :mod:`payivr.gateway.inprocess` calls without a
    network."""

    def __init__(
        self,
        processor: SandboxProcessor,
        signing_secret: str | bytes,
        *,
        tolerance: float = signing.DEFAULT_TOLERANCE_SECONDS,
    ) -> None:
        self.processor = processor
        self._key = signing.decode_secret(signing_secret)
        self._tolerance = tolerance
        self._seen = _SeenIds(tolerance)

    async def answer(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> Answer:
        now = self.processor.clock()
        try:
            message_id = signing.verify(self._key, headers, raw, now, self._tolerance)
        except signing.SignatureError as exc:
            log.warning("sandbox.bad_signature", path=path, problem=str(exc))
            return Answer(401, {"error": "bad_signature", "message": str(exc)})
        if not self._seen.first_time(message_id, now):
            log.warning("sandbox.replayed_message", path=path)
            return Answer(401, {"error": "replayed", "message": "message id reused"})
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return Answer(400, {"error": "invalid_json", "message": "the body is not JSON"})
        if path.startswith(ADMIN_PREFIX):
            return _admin(self.processor, method, path, body)
        return await self.processor.handle(method, path, headers.get(wire.IDEMPOTENCY_HEADER), body)


def create_app(
    processor: SandboxProcessor,
    signing_secret: str | bytes,
    *,
    tolerance: float = signing.DEFAULT_TOLERANCE_SECONDS,
) -> web.Application:
    endpoint = SandboxEndpoint(processor, signing_secret, tolerance=tolerance)

    async def handle(request: web.Request) -> web.StreamResponse:
        answer = await endpoint.answer(
            request.method, request.path, request.headers, await request.read()
        )
        if answer.drop:
            # The charge is made and stored; the client hears nothing back.
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def mark_sandbox(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[wire.SANDBOX_HEADER] = "test cards only, nothing is charged"

    app = web.Application(client_max_size=64 * 1024)
    app.on_response_prepare.append(mark_sandbox)
    app[PROCESSOR_KEY] = processor
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _admin(processor: SandboxProcessor, method: str, path: str, body: Any) -> Answer:
    if path == "/admin/faults" and method == "GET":
        return Answer(200, processor.faults.as_dict())
    if path == "/admin/faults" and method == "PUT":
        if not isinstance(body, dict):
            return Answer(400, {"error": "invalid_request", "message": "an object of switches"})
        try:
            processor.faults.update(body)
        except ValueError as exc:
            return Answer(400, {"error": "invalid_request", "message": str(exc)})
        log.info("sandbox.faults_set", **processor.faults.as_dict())
        return Answer(200, processor.faults.as_dict())
    if path == "/admin/ledger" and method == "GET":
        return Answer(
            200,
            {
                "entries": processor.ledger.as_list(),
                "charges_by_key": dict(processor.ledger.by_key()),
            },
        )
    return Answer(404, {"error": "not_found", "message": "unknown admin path"})


def server_ssl_context(tls: TlsFiles, *, client_ca_file: Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+; with ``client_ca_file`` a client certificate is required (mTLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if client_ca_file is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca_file)
    return context


@dataclass
class RunningSandbox:
    url: str
    processor: SandboxProcessor
    runner: web.AppRunner
    ca_file: Path | None

    @property
    def faults(self) -> Faults:
        return self.processor.faults

    async def close(self) -> None:
        await self.runner.cleanup()


SANDBOX_NOT_ACKNOWLEDGED = (
    "this is payivr's sandbox gateway: it approves test cards and charges nothing. Start it"
    " with --sandbox to say you know; never point a payivr taking real payments at it"
)


async def start_sandbox(
    host: str,
    port: int,
    private_key_path: str | Path | Sequence[str | Path],
    *,
    signing_secret: str,
    tls: TlsFiles | str | Path | None,
    client_ca_file: str | Path | None = None,
    faults: Faults | None = None,
    processor: SandboxProcessor | None = None,
) -> RunningSandbox:
    """Start serving; ``port=0`` picks a free port (see ``RunningSandbox.url``).

    ``tls``: server files, or a directory where a test CA and certificate are made (its
    ``ca.pem`` is the bundle payivr trusts). ``None`` serves plain HTTP, which payivr's
    client refuses: only for showing that refusal.
    """
    if processor is None:
        paths = (
            [private_key_path]
            if isinstance(private_key_path, str | Path)
            else list(private_key_path)
        )
        processor = SandboxProcessor(DecryptionKeys.from_pem_files(paths), faults=faults)
    tls_files = write_test_tls(tls) if isinstance(tls, str | Path) else tls
    context = None
    if tls_files is not None:
        context = server_ssl_context(
            tls_files, client_ca_file=Path(client_ca_file) if client_ca_file else None
        )
    runner = web.AppRunner(create_app(processor, signing_secret), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context)
    await site.start()
    bound_port = runner.addresses[0][1]
    scheme = "https" if context else "http"
    url = f"{scheme}://{'localhost' if host in ('127.0.0.1', 'localhost') else host}:{bound_port}"
    log.info("sandbox.started", url=url, kids=sorted(processor.keys.kids))
    return RunningSandbox(url, processor, runner, tls_files.ca_file if tls_files else None)


async def run_sandbox(
    host: str,
    port: int,
    private_key_path: str | Path | Sequence[str | Path],
    *,
    signing_secret: str,
    tls: TlsFiles | str | Path,
    client_ca_file: str | Path | None = None,
    faults: Faults | None = None,
) -> None:
    """Serve until cancelled (``payivr sandbox-gateway``)."""
    sandbox = await start_sandbox(
        host,
        port,
        private_key_path,
        signing_secret=signing_secret,
        tls=tls,
        client_ca_file=client_ca_file,
        faults=faults,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.close()


async def set_faults(
    url: str, signing_secret: str, ca_file: str | Path | None, **switches: Any
) -> dict[str, Any]:
    """Change the fault switches of a running sandbox (for the demo and scripts)."""
    body = json.dumps(switches).encode()
    signer = signing.Signer(signing.decode_secret(signing_secret), time.time)
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            url.rstrip("/") + "/admin/faults",
            data=body,
            headers={"Content-Type": "application/json", **signer.headers(body)},
            ssl=context,
        ) as response,
    ):
        result: dict[str, Any] = await response.json()
        if response.status != 200:
            raise ValueError(result.get("message", "the sandbox refused the switches"))
        return result
