"""The sandbox gateway without HTTP, for the terminal demo and fast tests of callers.

Same decision table, idempotency, ledger and fault switches as the HTTP sandbox (it
drives the same :class:`SandboxProcessor`), and the card still goes through the real JWE
encryption: only the network is missing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.core.events import BankAccountDetails, CardDetails
from payivr.gateway import wire
from payivr.gateway.interface import Error, GatewayResult, NotFound, StatusResult, Unknown
from payivr.gateway.jwe import (
    DecryptionKeys,
    EncryptionKey,
    encrypt_bank_account,
    encrypt_card,
    jwk_thumbprint,
)
from payivr.gateway.processor import Faults, SandboxProcessor


class InProcessGateway:
    """A :class:`~payivr.gateway.interface.Gateway` answering from an in-memory sandbox."""

    def __init__(
        self,
        *,
        faults: Faults | None = None,
        private_key: rsa.RSAPrivateKey | None = None,
        attempts: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = jwk_thumbprint(key.public_key())
        self._key = EncryptionKey(kid, key.public_key())
        self.processor = SandboxProcessor(DecryptionKeys([(kid, key)]), faults=faults, sleep=sleep)
        self._attempts = attempts
        self._sleep = sleep

    @property
    def faults(self) -> Faults:
        return self.processor.faults

    async def sale(
        self,
        card: CardDetails,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        *,
        store_card: bool = False,
    ) -> GatewayResult:
        try:
            token = encrypt_card(card, self._key)
        finally:
            card.wipe()
        body: dict[str, Any] = {"amount_minor": amount_minor, "currency": currency, "card": token}
        if store_card:
            body["store_card"] = True
        return await self._post(wire.SALES_PATH, body, idempotency_key)

    async def debit_bank_account(
        self,
        account: BankAccountDetails,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> GatewayResult:
        try:
            encrypted = encrypt_bank_account(account, self._key)
        finally:
            account.wipe()
        body = {"amount_minor": amount_minor, "currency": currency, "bank_account": encrypted}
        return await self._post(wire.SALES_PATH, body, idempotency_key)

    async def sale_with_token(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        body = {"amount_minor": amount_minor, "currency": currency, "token": token}
        return await self._post(wire.SALES_PATH, body, idempotency_key)

    async def tokenize(self, card: CardDetails, idempotency_key: str) -> GatewayResult:
        try:
            token = encrypt_card(card, self._key)
        finally:
            card.wipe()
        return await self._post(wire.TOKENS_PATH, {"card": token}, idempotency_key)

    async def void(self, reference: str, idempotency_key: str) -> GatewayResult:
        return await self._post(wire.void_path(reference), {}, idempotency_key)

    async def refund(
        self, reference: str, amount_minor: int, idempotency_key: str
    ) -> GatewayResult:
        return await self._post(
            wire.refund_path(reference), {"amount_minor": amount_minor}, idempotency_key
        )

    async def status(self, idempotency_key: str) -> StatusResult:
        answer = await self.processor.handle("GET", wire.status_path(idempotency_key), None, None)
        result = wire.interpret_status(answer.status, answer.body)
        if isinstance(result, wire.Processing):
            return Unknown("the gateway is still processing this payment")
        if isinstance(result, wire.Retry):
            return Error(result.reason, retryable=True)
        return result

    async def close(self) -> None:
        return None

    async def _post(self, path: str, body: dict[str, Any], key: str) -> GatewayResult:
        wire.check_idempotency_key(key)
        # A JSON round trip, so the processor sees exactly what the HTTP sandbox would.
        payload = json.loads(json.dumps(body))
        reason = "the sandbox did not process the request"
        for attempt in range(self._attempts):
            if attempt:
                await self._sleep(0.05 * 2**attempt)
            answer = await self.processor.handle("POST", path, key, payload)
            if answer.drop:
                # The "connection" dropped after the charge: settle by status, as the client does.
                settled = await self.status(key)
                return settled if not isinstance(settled, NotFound) else Unknown()
            result = wire.interpret(answer.status, answer.body)
            if not isinstance(result, wire.Retry):
                return result
            reason = result.reason
        return Error(reason, retryable=True)
