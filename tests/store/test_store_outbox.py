import asyncio
from datetime import timedelta

import pytest
from _store_helpers import CrmReceiver, finished_payment

from payivr.core.events import Outcome
from payivr.store import (
    RETRY_SCHEDULE,
    Database,
    InvalidSignature,
    OutboxStatus,
    OutboxWorker,
    PaymentStore,
    WebhookAdapter,
    WebhookResponse,
    crm_endpoints,
    crm_list,
    crm_replay,
    verify,
)


async def test_activity_is_delivered_signed_with_stable_id(
    store, database, crm, adapter, secret, clock
):
    payment = await finished_payment(store)
    worker = OutboxWorker(database, [adapter], clock=clock)

    assert await worker.run_once() == 1

    [received] = crm.received
    [entry] = await crm_list(database)
    assert received.message_id == str(entry.id)
    assert received.activity == entry.activity
    assert received.activity["Payment ID"] == str(payment.id)
    verify(secret, received.headers, received.body, now=clock.now)
    assert received.headers["webhook-signature"].startswith("v1,")
    assert entry.status is OutboxStatus.DELIVERED
    assert entry.delivered_at == clock.now
    assert await worker.run_once() == 0


async def test_signature_fails_for_tampered_body_wrong_secret_or_old_timestamp(
    store, database, crm, adapter, secret, clock
):
    await finished_payment(store)
    await OutboxWorker(database, [adapter], clock=clock).run_once()
    [received] = crm.received

    with pytest.raises(InvalidSignature):
        verify(secret, received.headers, received.body.replace(b"12.34", b"99.99"), now=clock.now)
    with pytest.raises(InvalidSignature):
        verify("whsec_" + "QUJD" * 8, received.headers, received.body, now=clock.now)
    with pytest.raises(InvalidSignature):
        verify(secret, received.headers, received.body, now=clock.now + timedelta(minutes=10))


async def test_crash_between_commit_and_delivery_is_delivered_after_restart(
    database_url, crm, secret, clock
):
    # First instance: records the outcome, then dies before its worker sends anything.
    first = await Database.connect(database_url)
    payment = await finished_payment(PaymentStore(first, crm_endpoints=["crm"], clock=clock))
    await first.close()

    # Restarted instance: a new worker finds the row and delivers it.
    second = await Database.connect(database_url)
    try:
        adapter = WebhookAdapter("crm", "http://127.0.0.1:9/", secret, crm.send, clock=clock)
        await OutboxWorker(second, [adapter], clock=clock).run_once()
        assert [r.activity["Payment ID"] for r in crm.accepted] == [str(payment.id)]
    finally:
        await second.close()


async def test_worker_killed_mid_send_is_resent_with_the_same_webhook_id(
    store, database, secret, clock
):
    await finished_payment(store)
    seen: list[str] = []
    sent = asyncio.Event()
    hang = asyncio.Event()

    async def send_then_die(request):
        seen.append(request.headers["webhook-id"])
        sent.set()
        await hang.wait()  # the CRM got it, but the worker dies before recording that

    dying = OutboxWorker(
        database,
        [WebhookAdapter("crm", "http://x/", secret, send_then_die, clock=clock)],
        clock=clock,
    )
    task = asyncio.create_task(dying.run_once())
    await asyncio.wait_for(sent.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    crm = CrmReceiver()
    adapter = WebhookAdapter("crm", "http://x/", secret, crm.send, clock=clock)
    assert await OutboxWorker(database, [adapter], clock=clock).run_once() == 1
    assert [r.message_id for r in crm.received] == seen
    [entry] = await crm_list(database)
    assert entry.status is OutboxStatus.DELIVERED


async def test_replayed_delivery_carries_the_same_webhook_id(store, database, crm, adapter, clock):
    await finished_payment(store)
    worker = OutboxWorker(database, [adapter], clock=clock)
    await worker.run_once()
    [entry] = await crm_list(database)

    assert await crm_replay(database, ids=[entry.id], clock=clock) == 1
    await worker.run_once()

    assert [r.message_id for r in crm.received] == [str(entry.id)] * 2
    assert crm.received[0].body == crm.received[1].body


async def test_crm_down_for_a_day_then_everything_arrives_in_order(
    store, database, crm, adapter, clock
):
    crm.respond = lambda _: WebhookResponse(503)
    worker = OutboxWorker(database, [adapter], clock=clock, batch_size=7)
    created = []
    # Payments keep finishing every 40 minutes of the outage.
    for _ in range(36):
        created.append((await finished_payment(store)).id)
        await worker.run_once()
        clock.advance(minutes=40)
    assert crm.accepted == []
    head = (await crm_list(database, limit=1))[0]
    assert head.status is OutboxStatus.PENDING and head.attempts > 1

    clock.advance(minutes=20)  # the CRM comes back after 24 h
    crm.respond = lambda _: WebhookResponse(200)
    for _ in range(10):
        head = await crm_list(database, status=OutboxStatus.PENDING, limit=1)
        if not head:
            break
        clock.advance_to(head[0].next_attempt_at)
        await worker.run_once()

    assert [r.activity["Payment ID"] for r in crm.accepted] == [str(p) for p in created]
    entries = await crm_list(database)
    assert [str(e.id) for e in entries] == [r.message_id for r in crm.accepted]
    assert {e.status for e in entries} == {OutboxStatus.DELIVERED}
    # Every attempt of a row used that row's id.
    ids_by_payment = {e.activity["Payment ID"]: str(e.id) for e in entries}
    assert all(ids_by_payment[r.activity["Payment ID"]] == r.message_id for r in crm.received)


async def test_retry_schedule_then_dead_then_replay(store, database, crm, adapter, clock):
    crm.respond = lambda _: WebhookResponse(500)
    await finished_payment(store)
    worker = OutboxWorker(database, [adapter], clock=clock)
    start = clock.now
    attempt_times = []
    for _ in range(len(RETRY_SCHEDULE) + 2):
        [entry] = await crm_list(database)
        if entry.status is OutboxStatus.DEAD:
            break
        clock.advance_to(entry.next_attempt_at)
        attempt_times.append(clock.now - start)
        await worker.run_once()

    assert tuple(attempt_times) == RETRY_SCHEDULE
    [dead] = await crm_list(database, failed=True)
    assert dead.status is OutboxStatus.DEAD and dead.attempts == len(RETRY_SCHEDULE)
    assert dead.last_error == "http 500"

    crm.respond = lambda _: WebhookResponse(202)
    assert await crm_replay(database, clock=clock) == 1
    await worker.run_once()
    assert len(crm.accepted) == 1
    assert await crm_list(database, failed=True) == []


async def test_gone_endpoint_is_disabled_until_replayed(store, database, crm, adapter, clock):
    crm.respond = lambda _: WebhookResponse(410)
    await finished_payment(store)
    await finished_payment(store)
    worker = OutboxWorker(database, [adapter], clock=clock)

    assert await worker.run_once() == 1
    [endpoint] = await crm_endpoints(database)
    assert not endpoint.enabled and endpoint.disabled_reason == "http 410"
    clock.advance(hours=30)
    assert await worker.run_once() == 0
    assert len(crm.received) == 1

    crm.respond = lambda _: WebhookResponse(200)
    await crm_replay(database, endpoint="crm", clock=clock)
    assert await worker.run_once() == 2
    assert len(crm.accepted) == 2
    assert (await crm_endpoints(database))[0].enabled


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(store, database, crm, adapter, clock, status):
    crm.respond = lambda _: WebhookResponse(status, {"Retry-After": "120"})
    await finished_payment(store)
    worker = OutboxWorker(database, [adapter], clock=clock)
    await worker.run_once()

    [entry] = await crm_list(database)
    assert entry.next_attempt_at == clock.now + timedelta(seconds=120)
    clock.advance(seconds=119)
    assert await worker.run_once() == 0
    clock.advance(seconds=1)
    crm.respond = lambda _: WebhookResponse(200)
    assert await worker.run_once() == 1


async def test_retry_after_as_http_date(store, database, crm, adapter, clock):
    from email.utils import format_datetime

    later = clock.now + timedelta(minutes=7)
    crm.respond = lambda _: WebhookResponse(
        503, {"retry-after": format_datetime(later, usegmt=True)}
    )
    await finished_payment(store)
    await OutboxWorker(database, [adapter], clock=clock).run_once()
    [entry] = await crm_list(database)
    assert entry.next_attempt_at == later


async def test_transport_errors_and_other_statuses_retry_on_schedule(
    store, database, secret, clock
):
    async def refused(_request):
        raise ConnectionRefusedError

    adapter = WebhookAdapter("crm", "http://127.0.0.1:9/", secret, refused, clock=clock)
    await finished_payment(store)
    await OutboxWorker(database, [adapter], clock=clock).run_once()
    [entry] = await crm_list(database)
    assert entry.last_error == "transport error ConnectionRefusedError"
    assert entry.next_attempt_at == clock.now + RETRY_SCHEDULE[1]


async def test_two_workers_never_send_one_row_twice(database, secret, clock):
    store = PaymentStore(database, crm_endpoints=["a", "b"], clock=clock)
    for _ in range(30):
        await finished_payment(store)
    in_flight: set[str] = set()
    sent: list[tuple[str, str]] = []

    def receiver(name):
        async def send(request):
            message_id = request.headers["webhook-id"]
            assert message_id not in in_flight
            in_flight.add(message_id)
            await asyncio.sleep(0)  # let the other worker run while this send is open
            in_flight.discard(message_id)
            sent.append((name, message_id))
            return WebhookResponse(200)

        return send

    def worker():
        adapters = [
            WebhookAdapter(name, "http://x/", secret, receiver(name), clock=clock)
            for name in ("a", "b")
        ]
        return OutboxWorker(database, adapters, clock=clock, batch_size=4)

    counts = await asyncio.gather(*(worker().run_once() for _ in range(4)))

    assert sum(counts) == 60
    assert len(sent) == len(set(sent)) == 60
    entries = await crm_list(database)
    for name in ("a", "b"):
        expected = [str(e.id) for e in entries if e.endpoint == name]
        assert [m for n, m in sent if n == name] == expected


async def test_running_worker_is_woken_by_notify(store, database, crm, secret):
    delivered = asyncio.Event()

    async def send(request):
        response = await crm.send(request)
        delivered.set()
        return response

    adapter = WebhookAdapter("crm", "http://x/", secret, send)
    worker = OutboxWorker(database, [adapter], poll_interval=60)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.2)  # let it go idle, listening
        payment_store = PaymentStore(database, crm_endpoints=["crm"])
        await finished_payment(payment_store, Outcome.DECLINED)
        await asyncio.wait_for(delivered.wait(), timeout=10)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert crm.accepted[0].activity["Payment Status"] == "Failed"
