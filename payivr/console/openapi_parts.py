"""Pieces the hand-written OpenAPI documents of ``/api/v1`` share (openapi.py, sms_api.py,
outbound_api.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

AUTH: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"sessionCookie": []}]
NULLABLE_STRING = {"type": "string", "nullable": True}


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(texts: Mapping[int, str], *statuses: int) -> dict[str, Any]:
    """The error answers (an ``Error`` body) for ``statuses``, described by ``texts``."""
    return {str(status): json_content(schema_ref("Error"), texts[status]) for status in statuses}
