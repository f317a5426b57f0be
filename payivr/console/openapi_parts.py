"""Pieces the hand-written OpenAPI documents of ``/api/v1`` share (openapi.py, reports.py,
reversals.py, sms_openapi.py, outbound_api.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payivr.console.context import MAX_LIST

AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An API token from 'payivr agent token NAME --label L [--days 90]';"
            " it expires, and 'payivr agent token NAME --revoke' ends it sooner."
        ),
    },
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "payivr_session"},
}

COMMON_ERRORS: dict[int, str] = {
    400: "The body is not valid JSON.",
    401: "Not signed in, or the API token is not valid.",
    415: "The body is not application/json.",
    422: "A field is wrong; the message says which and why.",
    503: "The database is not answering.",
}
"""What an error status means on most routes; a module's own texts go over these."""

NULLABLE_STRING = {"type": "string", "nullable": True}
DATE_TIME = {"type": "string", "format": "date-time"}
LIMIT_PARAMETER = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST, "default": 100},
}
AGENT_PARAMETER = {
    "name": "agent",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "Supervisors: only this agent's.",
}


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def id_parameter(name: str) -> dict[str, Any]:
    """The path parameter ``name``, a UUID."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """A ``requestBody`` of JSON with ``schema``."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def object_schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def list_of(name: str, item: str) -> dict[str, Any]:
    """An object whose one field, ``name``, is an array of the schema ``item``."""
    return object_schema([name], {name: {"type": "array", "items": schema_ref(item)}})


def error_responses(texts: Mapping[int, str], *statuses: int) -> dict[str, Any]:
    """The error answers (an ``Error`` body) for ``statuses``, described by ``texts``."""
    return {str(status): json_content(schema_ref("Error"), texts[status]) for status in statuses}


def operation(
    summary: str,
    operation_id: str,
    answer: dict[str, Any],
    errors: dict[str, Any],
    *,
    status: int = 200,
    description: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] = AUTH,
) -> dict[str, Any]:
    """An operation answering ``answer`` with ``status``, or one of ``errors``."""
    return {
        "summary": summary,
        **({} if description is None else {"description": description}),
        "operationId": operation_id,
        "security": security,
        **({} if parameters is None else {"parameters": parameters}),
        **({} if body is None else {"requestBody": body}),
        "responses": {str(status): answer, **errors},
    }


def own_listing(
    texts: Mapping[int, str], things: str, operation_id: str, name: str, item: str, answer: str
) -> dict[str, Any]:
    """A ``GET`` of an optional service's ``things`` newest first: an agent's own, everyone's
    for a supervisor (who may ask for one agent's). Its errors are those of
    ``OptionalService.listing`` (404: the service is off) and of the database (503),
    described by ``texts``."""
    return operation(
        f"{things}, newest first (own for agents; all for supervisors)",
        operation_id,
        json_content(list_of(name, item), answer),
        error_responses(texts, 401, 404, 422, 503),
        parameters=[LIMIT_PARAMETER, AGENT_PARAMETER],
    )
