"""The client's retry and settle rules over an injected transport: a plain object that
scripts each exchange, no server and no socket."""

from __future__ import annotations

import json

from _gateway_helpers import FAST_RETRY, SECRET, card

from payivr.core.cards import Brand
from payivr.gateway import Approved, Error, HttpGateway, HttpGatewayConfig
from payivr.gateway.inprocess import InProcessGateway
from payivr.gateway.jwe import EncryptionKey
from payivr.gateway.signing import decode_secret, verify
from payivr.gateway.transport import Exchange, Lost, NotSent, Refused, Reply, Request


class ScriptedTransport:
    """Answers each request with the next scripted exchange and keeps what was sent."""

    def __init__(self, *script: Exchange) -> None:
        self.script = list(script)
        self.sent: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Exchange:
        self.sent.append(request)
        return self.script.pop(0)

    async def close(self) -> None:
        self.closed = True


APPROVAL = {"outcome": "approved", "reference": "ch_1", "brand": "visa", "last_four": "4242"}


def json_reply(status: int, body: dict[str, object]) -> Reply:
    return Reply(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


def approved_reply() -> Reply:
    return json_reply(200, APPROVAL)


def scripted_gateway(keys, transport: ScriptedTransport) -> HttpGateway:
    config = HttpGatewayConfig(
        url="https://gateway.example",
        encryption_key=EncryptionKey(keys.kid, keys.private.public_key()),
        signing_secret=SECRET,
        retry=FAST_RETRY,
    )
    return HttpGateway(config, transport=transport)


async def test_a_lost_charge_is_settled_by_status_and_never_sent_again(keys):
    transport = ScriptedTransport(
        Lost("connection reset after sending"),
        json_reply(200, {"state": "completed", "http_status": 200, "response": APPROVAL}),
    )
    gateway = scripted_gateway(keys, transport)
    result = await gateway.sale(card("4242424242424242"), 500, "GBP", "pay-lost-1")
    assert result == Approved("ch_1", Brand.VISA, "4242")
    assert [(r.method, r.path) for r in transport.sent] == [
        ("POST", "/v1/sales"),
        ("GET", "/v1/requests/pay-lost-1"),
    ]
    post = transport.sent[0]
    assert post.body is not None and b"4242424242424242" not in post.body
    now = float(post.headers["webhook-timestamp"])
    assert verify(decode_secret(SECRET), post.headers, post.body, now) == post.headers["webhook-id"]
    await gateway.close()
    assert transport.closed


async def test_a_request_never_sent_is_retried_and_a_refused_tls_is_final(keys):
    transport = ScriptedTransport(NotSent("no route"), approved_reply())
    result = await scripted_gateway(keys, transport).sale(card("4242424242424242"), 5, "GBP", "k-2")
    assert isinstance(result, Approved) and len(transport.sent) == 2

    refused = ScriptedTransport(Refused("certificate not trusted"))
    result = await scripted_gateway(keys, refused).sale(card("4242424242424242"), 5, "GBP", "k-3")
    assert result == Error("certificate not trusted", retryable=False)
    assert len(refused.sent) == 1


async def test_the_in_process_gateway_is_the_http_client_over_the_sandbox_endpoint():
    gateway = InProcessGateway()
    assert isinstance(gateway, HttpGateway)
    result = await gateway.sale(card("4242424242424242"), 100, "GBP", "ip-seam")
    assert isinstance(result, Approved)
    assert gateway.processor.ledger.charges("ip-seam") == 1
