"""Which failures are retried (same key), how long the client waits, and when it stops."""

import asyncio
import socket
import time

import pytest
from _gateway_helpers import SECRET, Keys, MakeClient, Pki, buffers, card, signed_request, until

from payivr.gateway import Approved, Error, RetryPolicy, signing
from payivr.gateway.sandbox import RunningSandbox, set_faults


class RecordingSleep:
    """Records the waits the client asks for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def sale_posts(sandbox: RunningSandbox) -> int:
    return sum(1 for a in sandbox.processor.arrivals if a["method"] == "POST")


async def test_429_is_retried_after_the_retry_after_delay(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.update({"rate_limits": 2, "retry_after": 7})
    sleep = RecordingSleep()
    result = await make_client(sleep=sleep).sale(card("4242424242424242"), 100, "GBP", "p429")

    assert isinstance(result, Approved)
    assert sleep.waits == [7.0, 7.0]
    assert sale_posts(sandbox) == 3
    assert sandbox.processor.ledger.charges("p429") == 1


async def test_a_retry_after_beyond_the_limit_ends_the_retries(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.update({"rate_limits": 5, "retry_after": 3600})
    sleep = RecordingSleep()
    result = await make_client(sleep=sleep).sale(card("4242424242424242"), 100, "GBP", "p429b")

    assert result == Error("the payment service asked us to slow down", retryable=True)
    assert sleep.waits == [] and sale_posts(sandbox) == 1
    assert sandbox.processor.ledger.charges() == 0


async def test_5xx_then_success(make_client: MakeClient, sandbox: RunningSandbox):
    sandbox.faults.server_errors = 2
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts=4, backoff=0.1, max_backoff=1.0)
    result = await make_client(sleep=sleep, retry=policy).sale(
        card("4242424242424242"), 100, "GBP", "p500"
    )

    assert isinstance(result, Approved)
    assert sale_posts(sandbox) == 3
    assert sandbox.processor.ledger.charges("p500") == 1
    # Exponential backoff with jitter: about 0.1 then about 0.2.
    assert 0.05 <= sleep.waits[0] <= 0.1 and 0.1 <= sleep.waits[1] <= 0.2


async def test_5xx_every_time_asks_the_status_and_reports_no_charge(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.server_errors = 100
    sleep = RecordingSleep()
    result = await make_client(sleep=sleep).sale(card("4242424242424242"), 100, "GBP", "p500b")

    assert result == Error("the payment service failed (500)", retryable=True)
    assert sale_posts(sandbox) == 4  # the policy's attempts, all with the same key
    assert {a["idempotency_key"] for a in sandbox.processor.arrivals if a["method"] == "POST"} == {
        "p500b"
    }
    assert any(a["path"] == "/v1/requests/p500b" for a in sandbox.processor.arrivals)


async def test_409_in_flight_is_retried_until_the_stored_answer(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.latency = 0.1
    first = asyncio.create_task(make_client().sale(card("4242424242424242"), 100, "GBP", "p409"))
    await until(lambda: sale_posts(sandbox) > 0)
    second = await make_client(retry=RetryPolicy(attempts=20, backoff=0.02, max_backoff=0.02)).sale(
        card("4242424242424242"), 100, "GBP", "p409"
    )

    assert isinstance(second, Approved) and second == await first
    assert sale_posts(sandbox) >= 3
    assert sandbox.processor.ledger.charges("p409") == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connection_refused_is_retried_and_ends_as_retryable_error(
    keys: Keys, pki: Pki, make_client: MakeClient
):
    sleep = RecordingSleep()
    client = make_client(url=f"https://localhost:{_free_port()}", sleep=sleep)
    details = card("4242424242424242")
    result = await client.sale(details, 100, "GBP", "p-refused")

    assert result == Error("the payment service could not be reached", retryable=True)
    assert len(sleep.waits) == 3
    assert all(buffer.wiped for buffer in buffers(details))


async def test_refusals_are_not_retried(make_client: MakeClient, sandbox: RunningSandbox):
    wrong_secret = make_client(signing_secret="whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB")
    result = await wrong_secret.sale(card("4242424242424242"), 100, "GBP", "p401")
    assert result == Error("the payment service did not accept our signature", retryable=False)
    assert sandbox.processor.arrivals == []  # refused before anything was processed


async def test_bad_arguments_raise_and_still_wipe_the_card(make_client: MakeClient):
    client = make_client()
    for amount, currency, key in ((0, "GBP", "k"), (100, "POUNDS", "k"), (100, "GBP", "")):
        details = card("4242424242424242")
        with pytest.raises(ValueError):
            await client.sale(details, amount, currency, key)
        assert all(buffer.wiped for buffer in buffers(details))


async def test_signature_timestamp_and_replay_are_checked(sandbox: RunningSandbox, pki: Pki):
    status, _, body = await signed_request(
        sandbox, pki, "GET", "/v1/requests/x", timestamp_offset=-301
    )
    assert (status, body["error"]) == (401, "bad_signature")
    status, _, _ = await signed_request(
        sandbox, pki, "GET", "/v1/requests/x", timestamp_offset=-290
    )
    assert status == 404  # within the 5-minute tolerance
    status, _, _ = await signed_request(
        sandbox, pki, "GET", "/v1/requests/x", secret="whsec_" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJC"
    )
    assert status == 401
    once = signing.Signer(signing.decode_secret(SECRET), time.time).headers(b"")
    status, _, _ = await signed_request(sandbox, pki, "GET", "/v1/requests/x", headers=once)
    assert status == 404
    status, _, body = await signed_request(sandbox, pki, "GET", "/v1/requests/x", headers=once)
    assert (status, body["error"]) == (401, "replayed")


async def test_fault_switches_over_the_admin_endpoint(
    make_client: MakeClient, sandbox: RunningSandbox, pki: Pki
):
    switches = await set_faults(sandbox.url, SECRET, pki.ca_file, decline_all=True)
    assert switches["decline_all"] is True
    result = await make_client().sale(card("4242424242424242"), 100, "GBP", "p-admin")
    assert not isinstance(result, Approved)
    with pytest.raises(ValueError, match="unknown fault switch"):
        await set_faults(sandbox.url, SECRET, pki.ca_file, explode=True)
    status, _, ledger = await signed_request(sandbox, pki, "GET", "/admin/ledger")
    assert status == 200 and ledger["entries"] == []
