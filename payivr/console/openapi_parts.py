"""Pieces the hand-written OpenAPI documents of ``/api/v1`` share (openapi.py, reports.py,
reversals.py, sms_openapi.py, outbound_api.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payivr.console.context import MAX_LIST

AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
NULLABLE_STRING = {"type": "string", "nullable": True}
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


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """A ``requestBody`` of JSON with ``schema``."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(texts: Mapping[int, str], *statuses: int) -> dict[str, Any]:
    """The error answers (an ``Error`` body) for ``statuses``, described by ``texts``."""
    return {str(status): json_content(schema_ref("Error"), texts[status]) for status in statuses}
