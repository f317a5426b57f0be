"""The in-process sandbox, the shared decision table, key lifetime and the CLI helpers."""

import asyncio
import json
from datetime import date

import pytest
from _gateway_helpers import SECRET, Pki, buffers, card

from payivr.calls.charging import gateway_authorizer
from payivr.core.cards import Brand
from payivr.core.events import (
    Authorize,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
)
from payivr.gateway import (
    Approved,
    Declined,
    Error,
    Faults,
    HttpGateway,
    HttpGatewayConfig,
    InProcessGateway,
    RequestNotFound,
    Unknown,
    to_flow_event,
)
from payivr.gateway.jwe import DecryptionKeys, EncryptionKey, encrypt_card
from payivr.gateway.pki import write_test_tls
from payivr.gateway.processor import SandboxProcessor
from payivr.gateway.sandbox import keygen, read_secret, run_sandbox
from payivr.gateway.testcards import DECLINE_CARDS, SUCCESS_CARDS, Approval, Decline, decide


@pytest.fixture(scope="module")
def in_process_key(keys):
    return keys.private


async def test_in_process_sandbox_answers_like_the_http_one(in_process_key):
    gateway = InProcessGateway(private_key=in_process_key)
    for number, brand in SUCCESS_CARDS.items():
        details = card(number)
        result = await gateway.sale(details, 100, "GBP", f"ip-{number}")
        assert isinstance(result, Approved) and result.brand is brand
        assert all(buffer.wiped for buffer in buffers(details))
    for number, code in DECLINE_CARDS.items():
        assert await gateway.sale(card(number), 100, "GBP", f"ip-{number}") == Declined(
            code.value, code.message
        )
    again = await gateway.sale(card("4242424242424242"), 100, "GBP", "ip-4242424242424242")
    assert isinstance(again, Approved)
    assert gateway.processor.ledger.charges() == len(SUCCESS_CARDS)
    assert await gateway.status("ip-none") == RequestNotFound()


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


async def test_in_process_faults_and_card_on_file(in_process_key):
    gateway = InProcessGateway(
        private_key=in_process_key, faults=Faults(drop_responses=1), sleep=no_wait
    )
    dropped = await gateway.sale(card("4242424242424242"), 100, "GBP", "ip-drop")
    assert isinstance(dropped, Approved)
    assert gateway.processor.ledger.charges("ip-drop") == 1

    stored = await gateway.tokenize(card("5555555555554444"), "ip-cof")
    assert isinstance(stored, Approved) and stored.token
    charged = await gateway.sale_with_token(stored.token, 300, "GBP", "ip-cof-sale")
    assert isinstance(charged, Approved) and charged.last_four == "4444"
    refund = await gateway.refund(charged.reference, 300, "ip-refund")
    assert isinstance(refund, Approved)

    gateway.faults.decline_all = True
    assert isinstance(await gateway.sale(card("4242424242424242"), 1, "GBP", "ip-x"), Declined)
    gateway.faults.update({"decline_all": False, "server_errors": 9})
    assert await gateway.sale(card("4242424242424242"), 1, "GBP", "ip-y") == Error(
        "the payment service failed (500)", retryable=True
    )


async def test_authorize_command_is_served_with_one_sale(in_process_key):
    gateway = InProcessGateway(private_key=in_process_key)
    details = card("2223003122003222")
    command = Authorize(details, 1250, "GBP", "payment-42")
    event = await gateway_authorizer(gateway)(command)
    assert isinstance(event, GatewayApproval)
    assert (event.brand, event.last_four) == (Brand.MASTERCARD, "3222")
    assert all(buffer.wiped for buffer in buffers(details))
    assert gateway.processor.ledger.charges("payment-42") == 1


def test_results_map_to_flow_events():
    assert to_flow_event(Approved("ch_1", Brand.VISA, "4242")) == GatewayApproval(
        "ch_1", Brand.VISA, "4242"
    )
    assert to_flow_event(Declined("lost_card", "lost")) == GatewayDecline("lost_card", "lost")
    assert to_flow_event(Error("down", True)) == GatewayFailure("down")
    assert to_flow_event(Unknown("no answer")) == GatewayOutcomeUnknown("no answer")
    assert isinstance(to_flow_event(RequestNotFound()), GatewayFailure)


def test_decision_table():
    today = date(2026, 11, 21)
    assert decide("4242424242424242", 12, 2030, today) == Approval(Brand.VISA, "4242")
    assert decide("36227206271667", 1, 2027, today) == Approval(Brand.DINERS, "1667")
    assert decide("4000000000000069", 12, 2030, today) == Decline(DECLINE_CARDS["4000000000000069"])
    assert decide("4242424242424242", 10, 2026, today).code.value == "expired_card"  # type: ignore[union-attr]
    assert decide("4242424242424241", 12, 2030, today).code.value == "incorrect_number"  # type: ignore[union-attr]
    assert decide("4000000000009995", 12, 2030, today, storing_only=True) == Approval(
        Brand.VISA, "9995"
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_keys_are_kept_24_hours(keys):
    clock = FakeClock()
    processor = SandboxProcessor(DecryptionKeys([(keys.kid, keys.private)]), clock=clock)
    key = EncryptionKey(keys.kid, keys.private.public_key())

    def body() -> dict[str, object]:
        token = encrypt_card(card("4242424242424242"), key)
        return json.loads(json.dumps({"amount_minor": 5, "currency": "GBP", "card": token}))

    first = await processor.handle("POST", "/v1/sales", "day-key", body())
    clock.now += 24 * 3600 - 1
    assert (await processor.handle("POST", "/v1/sales", "day-key", body())).body == first.body
    assert processor.ledger.charges("day-key") == 1
    clock.now += 2
    assert (await processor.handle("GET", "/v1/requests/day-key", None, None)).status == 404
    later = await processor.handle("POST", "/v1/sales", "day-key", body())
    assert later.body["reference"] != first.body["reference"]
    assert processor.ledger.charges("day-key") == 2


def test_fault_switch_validation():
    faults = Faults()
    faults.update({"latency": 1, "server_errors": 2, "decline_all": True})
    assert faults.as_dict()["latency"] == 1.0
    for bad in ({"latency": -1}, {"server_errors": 1.5}, {"decline_all": 1}, {"nope": 1}):
        with pytest.raises(ValueError):
            faults.update(bad)


async def test_keygen_and_run_sandbox_work_together(tmp_path, pki: Pki):
    files = keygen(tmp_path / "keys", bits=2048)
    assert oct(files.private_key.stat().st_mode & 0o777) == "0o600"
    assert json.loads(files.public_jwk.read_text())["kid"] == files.kid
    with pytest.raises(FileExistsError):
        keygen(tmp_path / "keys")

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = read_secret(files.signing_secret)
    tls = write_test_tls(tmp_path / "tls")  # what run_sandbox would make; the client needs ca.pem
    server = asyncio.create_task(
        run_sandbox(
            "127.0.0.1", port, files.private_key, signing_secret=secret, tls=tmp_path / "tls"
        )
    )
    config = HttpGatewayConfig.from_values(
        url=f"https://localhost:{port}",
        public_key=files.public_key_pem,
        signing_secret=secret,
        ca_bundle=tls.ca_file,
    )
    try:
        async with HttpGateway(config) as client:
            while await client.check() is not None:
                assert not server.done(), server
                await asyncio.sleep(0.02)
            result = await client.sale(card("3566002020360505"), 100, "JPY", "cli-1")
            assert isinstance(result, Approved) and result.brand is Brand.JCB
    finally:
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
    assert secret != SECRET
