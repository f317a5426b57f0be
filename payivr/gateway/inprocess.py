"""The sandbox gateway without a network, for the terminal demo and fast tests of callers.

:class:`InProcessGateway` is the real :class:`~payivr.gateway.client.HttpGateway` (JWE
encryption, signing, retries, settling an unknown outcome by status) over
:class:`InProcessTransport`, which hands each signed request to the same
:class:`~payivr.gateway.sandbox.SandboxEndpoint` the HTTPS sandbox serves: same signature
checks, decision table, idempotency, ledger and fault switches; only the sockets are missing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.gateway.client import HttpGateway, HttpGatewayConfig, RetryPolicy
from payivr.gateway.jwe import DecryptionKeys, EncryptionKey, jwk_thumbprint
from payivr.gateway.processor import Faults, SandboxProcessor
from payivr.gateway.sandbox import SandboxEndpoint
from payivr.gateway.transport import Exchange, Lost, Reply, Request
from payivr.standard_webhooks import new_secret

IN_PROCESS_URL = "https://sandbox.in-process.invalid"
"""Never dialled: the in-process transport has no network, the client only logs the url."""

IN_PROCESS_RETRY = RetryPolicy(backoff=0.1, max_backoff=0.4, status_interval=0.05)
"""Short waits: a fault switch is the only thing that makes the in-process sandbox fail."""


class InProcessTransport:
    """A :class:`~payivr.gateway.transport.Transport` calling a sandbox endpoint directly."""

    def __init__(self, endpoint: SandboxEndpoint) -> None:
        self.endpoint = endpoint

    async def send(self, request: Request) -> Exchange:
        answer = await self.endpoint.answer(
            request.method, request.path, request.headers, bytes(request.body or b"")
        )
        if answer.drop:
            # The charge is made and stored; the client hears nothing back.
            return Lost("the connection dropped after the request was sent")
        # No sandbox mark: a warning meant for an operator pointing payivr at the HTTPS
        # sandbox would only be noise in the demo and the tests that use this one.
        headers = {**answer.headers, "Content-Type": "application/json"}
        return Reply(answer.status, headers, json.dumps(answer.body).encode())

    async def close(self) -> None:
        return None


class InProcessGateway(HttpGateway):
    """An :class:`HttpGateway` answering from an in-memory sandbox with a fresh key pair
    (or ``private_key``) and signing secret."""

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        private_key: rsa.RSAPrivateKey | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = jwk_thumbprint(key.public_key())
        secret = new_secret()
        self.processor = SandboxProcessor(
            DecryptionKeys([(kid, key)]), faults=faults, clock=clock, sleep=sleep
        )
        super().__init__(
            HttpGatewayConfig(
                url=IN_PROCESS_URL,
                encryption_key=EncryptionKey(kid, key.public_key()),
                signing_secret=secret,
                retry=IN_PROCESS_RETRY,
            ),
            transport=InProcessTransport(SandboxEndpoint(self.processor, secret)),
            clock=clock,
            sleep=sleep,
        )

    @property
    def faults(self) -> Faults:
        return self.processor.faults
