"""The OpenAPI document: well formed, matching the routes and the real answers; fuzzed."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
from _console_calls import RehearsalCalls
from _console_helpers import ALICE, GOOD_KEYS, Client, Console

from payivr.calls.notifier import Notifier
from payivr.console import create_console_app, start_console
from payivr.console.openapi import openapi_document
from payivr.store.database import Database
from payivr.store.payments import PaymentStore

DOCUMENT = openapi_document()


def _resolve(reference: str) -> Any:
    node: Any = DOCUMENT
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema → JSON Schema: ``nullable`` becomes a null type, refs inlined."""
    if isinstance(node, list):
        return [_as_json_schema(value) for value in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        inlined = _as_json_schema(_resolve(node["$ref"]))
        extra = {key: value for key, value in node.items() if key != "$ref"}
        if extra.get("nullable"):
            return {"anyOf": [inlined, {"type": "null"}]}
        return inlined
    converted = {
        key: _as_json_schema(value)
        for key, value in node.items()
        if key not in ("nullable", "example", "description", "format")
    }
    if node.get("nullable") and "type" in node:
        converted["type"] = [node["type"], "null"]
    return converted


def _check(answer: Any, path: str, method: str, status: int) -> None:
    response = DOCUMENT["paths"][path][method]["responses"][str(status)]
    schema = _as_json_schema(response["content"]["application/json"]["schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(answer, schema)


def test_the_document_is_well_formed() -> None:
    assert DOCUMENT["openapi"] == "3.0.3"
    for reference in _refs(DOCUMENT):
        assert _resolve(reference) is not None, reference
    operation_ids = []
    for path, item in DOCUMENT["paths"].items():
        assert path.startswith("/api/v1/")
        for method, operation in item.items():
            assert method in ("get", "post"), (path, method)
            operation_ids.append(operation["operationId"])
            assert operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
    assert len(operation_ids) == len(set(operation_ids))
    for schema in DOCUMENT["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(_as_json_schema(schema))


async def test_the_document_lists_exactly_the_api_routes(console: Console) -> None:
    async with console.client() as client:
        served = await client.json("/api/v1/openapi.json")
    assert served == DOCUMENT
    app_routes = {
        (route.resource.canonical, route.method.lower())  # type: ignore[union-attr]
        for route in console.server.app.router.routes()  # type: ignore[union-attr]
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1/")
        and route.method != "HEAD"
    }
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    # The WebSocket and the document itself are described in the text, not as operations.
    assert app_routes - documented == {("/api/v1/events", "get"), ("/api/v1/openapi.json", "get")}
    assert documented <= app_routes


async def test_real_answers_match_the_document(
    console: Console, alice: Client, sam: Client
) -> None:
    key = await console.calls.place_call("PJSIP/1001")
    _check(await alice.json("/api/v1/me"), "/api/v1/me", "get", 200)
    _check(await alice.json("/api/v1/calls/current"), "/api/v1/calls/current", "get", 200)
    created = await alice.send("/api/v1/payments", {"item": "Plan", "amount": "12.34"})
    body = await created.json()
    _check(body, "/api/v1/payments", "post", 201)
    _check(await alice.json("/api/v1/calls/current"), "/api/v1/calls/current", "get", 200)
    _check(await sam.json("/api/v1/calls"), "/api/v1/calls", "get", 200)
    in_progress = await alice.json(f"/api/v1/payments/{body['payment']}")
    _check(in_progress, "/api/v1/payments/{payment_id}", "get", 200)
    await console.calls.press(key, GOOD_KEYS)
    await console.calls.wait_finished(key, body["payment"])
    await console.calls.records.drain()
    finished = await alice.json(f"/api/v1/payments/{body['payment']}")
    assert finished["outcome"] == "approved"
    _check(finished, "/api/v1/payments/{payment_id}", "get", 200)
    refund = await alice.send(f"/api/v1/payments/{body['payment']}/refund", {"amount": "1"})
    _check(await refund.json(), "/api/v1/payments/{payment_id}/refund", "post", 200)
    too_much = await alice.send(f"/api/v1/payments/{body['payment']}/refund", {"amount": 999})
    _check(await too_much.json(), "/api/v1/payments/{payment_id}/refund", "post", 409)
    refunded = await alice.json(f"/api/v1/payments/{body['payment']}")
    _check(refunded, "/api/v1/payments/{payment_id}", "get", 200)
    _check(await alice.json("/api/v1/payments"), "/api/v1/payments", "get", 200)
    _check(await sam.json("/api/v1/audit"), "/api/v1/audit", "get", 200)
    bad = await alice.send("/api/v1/payments", {"item": "", "amount": "1"})
    _check(await bad.json(), "/api/v1/payments", "post", bad.status)
    none = await alice.get("/api/v1/payments/00000000-0000-0000-0000-000000000000")
    _check(await none.json(), "/api/v1/payments/{payment_id}", "get", none.status)


async def test_fuzzing_the_api_from_its_document_finds_no_server_error(
    database: Database, console: Console, tmp_path: Path
) -> None:
    """schemathesis generates requests from the document (valid and invalid) for every
    operation, authenticated as an agent with a call in progress, and checks the answers."""
    notifier = Notifier()
    calls = RehearsalCalls(PaymentStore(database), notifier)
    app = create_console_app(db=database, calls=calls, notifier=notifier, gateway=calls.gateway)
    server = await start_console(app, "127.0.0.1:0")
    token = await console.accounts.issue_token(ALICE, "fuzzing")
    await calls.place_call("PJSIP/1001")
    st = Path(sys.executable).with_name("st")
    try:
        process = await asyncio.create_subprocess_exec(
            str(st),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,"
            "content_type_conformance",
            "--max-examples",
            "8",
            "--seed",
            "1",
            "--workers",
            "1",  # with threads, CPython 3.11's compiler can trip inside schemathesis
            "--generation-database",
            "none",
            "--no-shrink",
            "--header",
            f"Authorization: Bearer {token}",
            "--no-color",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        )
        output, _ = await process.communicate()
    finally:
        for call_key in list(calls.calls):
            await calls.hang_up(call_key)
        await server.stop()
    text = output.decode()
    assert process.returncode == 0, text[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", text)
    assert counts is not None, text[-3000:]
    assert counts[1] == counts[2] and int(counts[1]) >= 100, counts[0]
