"""/healthz, /metrics, several instances on one database, and the log lines of a payment."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog
from _console_calls import RehearsalCalls
from _console_helpers import ALICE, GOOD_KEYS, METRICS_TOKEN, PASSWORD, Client, Console

from payivr.calls.notifier import Notifier
from payivr.console import create_console_app, start_console
from payivr.log import configure_logging
from payivr.store.bus import ConsoleBus
from payivr.store.database import Database
from payivr.store.payments import PaymentStore

_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+]+|\+Inf|NaN)$'
)


def _samples(text: str) -> dict[str, float]:
    """Parse Prometheus text exposition, checking every line's shape."""
    values: dict[str, float] = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            declared.add(name)
            continue
        assert _SAMPLE.match(line), f"not a Prometheus sample: {line!r}"
        name, value = line.rsplit(" ", 1)
        base = re.sub(r"(_bucket|_sum|_count)$", "", name.split("{")[0])
        assert base in declared, f"{base} has no # TYPE"
        values[name] = float(value)
    return values


async def _ok() -> None:
    return None


async def _nothing_listening() -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", 9)  # discard port: nothing there
    writer.close()


# ------------------------------------------------------------------ /healthz


async def test_health_names_each_dependency_and_is_ready_only_when_all_answer(
    database: Database,
) -> None:
    notifier = Notifier()
    calls = RehearsalCalls(PaymentStore(database), notifier)

    async def status(checks: dict[str, object]) -> tuple[int, dict[str, object]]:
        app = create_console_app(db=database, calls=calls, notifier=notifier, checks=checks)  # type: ignore[arg-type]
        server = await start_console(app, "127.0.0.1:0")
        try:
            async with Client.plain(server.url) as client:
                response = await client.get("/healthz")
                return response.status, await response.json()
        finally:
            await server.stop()

    ready = await status({"ari": _ok, "ami": _ok})
    assert ready == (
        200,
        {
            "status": "ready",
            "checks": {"ami": {"ok": True}, "ari": {"ok": True}, "database": {"ok": True}},
        },
    )
    code, body = await status({"ari": _ok, "ami": _nothing_listening})
    assert code == 503
    assert body["status"] == "not ready"
    assert body["checks"]["ami"] == {"ok": False}  # why goes to the log, not to anyone
    assert body["checks"]["ari"] == {"ok": True}
    assert "Error" not in json.dumps(body)


async def test_health_fails_when_a_check_hangs(database: Database) -> None:
    notifier = Notifier()

    async def hangs() -> None:
        await asyncio.Event().wait()

    app = create_console_app(
        db=database,
        calls=RehearsalCalls(PaymentStore(database), notifier),
        notifier=notifier,
        checks={"ari": hangs, "ami": _ok},
    )
    from payivr.console.context import CONSOLE_KEY

    app[CONSOLE_KEY].check_timeout = 0.05
    server = await start_console(app, "127.0.0.1:0")
    try:
        async with Client.plain(server.url) as client:
            response = await client.get("/healthz")
            assert response.status == 503
            assert (await response.json())["checks"]["ari"] == {"ok": False}
    finally:
        await server.stop()


# ------------------------------------------------------------------ /metrics


async def test_metrics_count_calls_payments_outcomes_failures_and_the_crm_backlog(
    console: Console, alice: Client
) -> None:
    console.metrics.gateway_latency.observe(0.2)
    console.metrics.gateway_latency.observe(3.0)
    console.metrics.reconnected("ari")
    console.metrics.reconnected("ari")
    console.metrics.reconnected("ami")
    key = await console.calls.place_call("PJSIP/1001")
    await console.calls.place_call("PJSIP/1002")

    async with alice.ws() as socket:
        await socket.receive_json(timeout=5)
        first = await alice.send("/api/v1/payments", {"item": "Plan", "amount": "5"})
        first_id = (await first.json())["payment"]
        await console.calls.press(key, GOOD_KEYS)
        await _until_finished(socket, first_id)
        second = await alice.send("/api/v1/payments", {"item": "Plan", "amount": "5"})
        second_id = (await second.json())["payment"]
        await console.calls.press(key, "1" + "4242424242424241#")  # fails Luhn
        await console.calls.press(key, "4242424242424241#" + "4242424242424241#")
        await _until_finished(socket, second_id)
        third = await alice.send("/api/v1/payments", {"item": "Plan", "amount": "5"})
        assert third.status == 201

    async with console.client() as anyone:
        assert (await anyone.get("/metrics")).status == 401
        response = await anyone.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert response.status == 200
        assert response.content_type == "text/plain"
        values = _samples(await response.text())
    assert values["payivr_active_calls"] == 2
    assert values["payivr_active_payments"] == 1
    assert values['payivr_payments_total{outcome="approved"}'] == 1
    assert values['payivr_payments_total{outcome="attempts_exhausted"}'] == 1
    assert (
        values['payivr_step_failures_total{reason="too many invalid entries",step="card_number"}']
        == 1
    )
    assert values['payivr_reconnects_total{interface="ari"}'] == 2
    assert values['payivr_reconnects_total{interface="ami"}'] == 1
    assert values['payivr_gateway_latency_seconds_bucket{le="0.25"}'] == 1
    assert values['payivr_gateway_latency_seconds_bucket{le="+Inf"}'] == 2
    assert values["payivr_gateway_latency_seconds_count"] == 2
    assert values["payivr_gateway_latency_seconds_sum"] == pytest.approx(3.2)
    assert values["payivr_crm_outbox_backlog"] == 2  # two outcomes, none delivered yet
    assert values["payivr_crm_outbox_oldest_age_seconds"] >= 0


async def _until_finished(socket: object, payment_id: str) -> dict[str, object]:
    while True:
        event = await socket.receive_json(timeout=5)  # type: ignore[attr-defined]
        if event["type"] == "payment_finished" and event["payment"] == payment_id:
            return event  # type: ignore[no-any-return]


# ------------------------------------------------------------------ several instances


async def test_a_call_on_one_instance_shows_on_another_instances_console(
    database: Database, console: Console
) -> None:
    """Two payivr instances share the database; each console sees both instances' calls."""
    instances = []
    for _ in range(2):
        notifier = Notifier()
        calls = RehearsalCalls(PaymentStore(database), notifier)
        app = create_console_app(
            db=database, calls=calls, notifier=notifier, bus=ConsoleBus(database)
        )
        instances.append((calls, await start_console(app, "127.0.0.1:0")))
    (calls_one, _), (_, server_two) = instances
    try:
        async with Client.plain(server_two.url) as on_two:
            login = await on_two.post("/api/v1/login", json={"name": ALICE, "password": PASSWORD})
            assert login.status == 200
            async with on_two.ws() as socket:
                assert (await socket.receive_json(timeout=5))["type"] == "hello"
                key = await calls_one.place_call("PJSIP/1001", "+15550199")
                event = await socket.receive_json(timeout=5)
        assert event["type"] == "call_started"
        assert event["call"] == key
        assert event["caller_number"] == "+15550199"
    finally:
        for calls, server in instances:
            for call_key in list(calls.calls):
                await calls.hang_up(call_key)
            await server.stop()


# ------------------------------------------------------------------ logs


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    saved_handlers = logging.getLogger().handlers[:]
    saved_level = logging.getLogger().level
    configure_logging("INFO", json=True, stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers[:] = saved_handlers
        logging.getLogger().setLevel(saved_level)


async def test_console_log_lines_of_a_payment_carry_its_payment_and_call_ids(
    console: Console, alice: Client, json_logs: io.StringIO
) -> None:
    key = await console.calls.place_call("PJSIP/1001")
    created = await alice.send("/api/v1/payments", {"item": "Plan", "amount": "5"})
    payment_id = (await created.json())["payment"]
    cancelled = await alice.send(f"/api/v1/payments/{payment_id}/cancel")
    assert cancelled.status == 202
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    console_lines = [line for line in lines if line["event"].startswith("payment_")]
    events = {line["event"] for line in console_lines}
    assert {"payment_requested_from_console", "payment_cancel_requested"} <= events
    for line in console_lines:
        if line["event"] in ("payment_requested_from_console", "payment_cancel_requested"):
            assert line["payment_id"] == payment_id
            assert line["call_id"] == key
            assert line["actor"] == ALICE


async def test_metrics_answer_no_one_without_a_token_unless_opened(database: Database) -> None:
    """Issue 13 hardening: /metrics was open to whoever reached the console's address."""
    notifier = Notifier()
    for metrics_open, status in ((False, 401), (True, 200)):
        app = create_console_app(
            db=database,
            calls=RehearsalCalls(PaymentStore(database), notifier),
            notifier=notifier,
            metrics_open=metrics_open,
        )
        server = await start_console(app, "127.0.0.1:0")
        try:
            async with Client.plain(server.url) as client:
                response = await client.get("/metrics")
                assert response.status == status
                assert ("payivr_active_calls" in await response.text()) == metrics_open
        finally:
            await server.stop()


async def test_metrics_behind_a_token_when_one_is_configured(database: Database) -> None:
    notifier = Notifier()
    token = "scraper-secret-0123456789abcdef"
    app = create_console_app(
        db=database,
        calls=RehearsalCalls(PaymentStore(database), notifier),
        notifier=notifier,
        metrics_token=token,
    )
    server = await start_console(app, "127.0.0.1:0")
    try:
        async with Client.plain(server.url) as client:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
                refused = await client.get("/metrics", headers=headers)
                assert refused.status == 401, headers
                assert refused.headers["WWW-Authenticate"].startswith("Bearer")
                assert "payivr_" not in await refused.text()
            allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert allowed.status == 200
            assert "payivr_active_calls" in await allowed.text()
            assert (await client.get("/healthz")).status == 200  # health stays open
    finally:
        await server.stop()
