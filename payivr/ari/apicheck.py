"""Start-up check of a live ARI: reachable, enabled, credentials accepted, and every
operation and parameter payivr uses present in its api-docs.

Each failure raises its own `StartupError` subclass with a message an operator can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from payivr.ari.errors import (
    AriDisabled,
    AriError,
    AriUnreachable,
    BadCredentials,
    ConnectionFailed,
    Forbidden,
    IncompatibleAsterisk,
    NotFound,
    StartupError,
    Unauthorized,
)
from payivr.ari.operations import OPERATIONS, Operation

if TYPE_CHECKING:
    from payivr.ari.client import AriClient

TESTED_ASTERISK = "22"

def _required_operations() -> dict[str, tuple[Operation, ...]]:
    """The client's own operations by api-docs resource (see :mod:`payivr.ari.operations`)."""
    by_resource: dict[str, list[Operation]] = {}
    for operation in OPERATIONS:
        by_resource.setdefault(operation.resource, []).append(operation)
    return {resource: tuple(found) for resource, found in by_resource.items()}


REQUIRED_OPERATIONS = _required_operations()

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


async def check_api(client: AriClient) -> None:
    url = str(client.base_url)
    resources = await _fetch_doc(client, "resources.json")
    api_version = str(resources.get("apiVersion", "unknown"))
    listed = _listed_resources(resources)
    missing: list[str] = []
    for resource, operations in REQUIRED_OPERATIONS.items():
        if resource not in listed:
            missing.append(f"resource {resource} (all of {_describe(operations)})")
            continue
        doc = await _fetch_doc(client, f"{resource}.json")
        offered = _operations(doc)
        for operation in operations:
            method, path = operation.method, operation.path
            key = (method, _PLACEHOLDER.sub("{}", path))
            if key not in offered:
                missing.append(f"{method} {path}")
                continue
            missing.extend(f"{method} {path} parameter {param}" for param in operation.params
                           if param not in offered[key])
    if missing:
        raise IncompatibleAsterisk(
            f"the Asterisk ARI at {url} (apiVersion {api_version}) lacks what payivr needs: "
            + "; ".join(missing)
            + f". payivr is tested with Asterisk {TESTED_ASTERISK}; upgrade Asterisk."
        )
    # api-docs could in principle be served without authentication: prove the credentials
    # on a real resource too.
    await _guarded(client, client.asterisk.ping(), "asterisk/ping")


async def _fetch_doc(client: AriClient, name: str) -> Mapping[str, Any]:
    data = await _guarded(client, client.get_json("api-docs", name), f"api-docs/{name}")
    if not isinstance(data, Mapping):
        raise IncompatibleAsterisk(
            f"the ARI at {client.base_url} answered api-docs/{name} with something that is not "
            "a Swagger document; is this an Asterisk?")
    return data


async def _guarded(client: AriClient, call: Any, what: str) -> Any:
    url = str(client.base_url)
    try:
        return await call
    except ConnectionFailed as exc:
        raise AriUnreachable(
            f"ARI is unreachable at {url}: {exc.message}. Check that Asterisk runs, that "
            "http.conf has enabled = yes with this bindaddr/bindport, and the ARI URL setting."
        ) from None
    except (Unauthorized, Forbidden) as exc:
        raise BadCredentials(
            f"ARI at {url} rejected user {client.username!r} ({exc.status} {exc.message}). "
            "Check the user and password against ari.conf (and that the user is not read_only)."
        ) from None
    except NotFound:
        if what.startswith("api-docs/") and what != "api-docs/resources.json":
            raise IncompatibleAsterisk(
                f"the ARI at {url} lists {what} but does not serve it (404); "
                f"payivr is tested with Asterisk {TESTED_ASTERISK}."
            ) from None
        raise AriDisabled(
            f"ARI is not enabled at {url} ({what} answered 404). Enable it: ari.conf "
            "[general] enabled = yes, http.conf enabled = yes, and load res_ari.so."
        ) from None
    except AriError as exc:
        raise StartupError(f"ARI at {url} failed on {what}: {exc}") from None


def _listed_resources(resources: Mapping[str, Any]) -> set[str]:
    names = set()
    for api in resources.get("apis") or []:
        if isinstance(api, Mapping) and isinstance(api.get("path"), str):
            # "/api-docs/channels.{format}" -> "channels"
            names.add(api["path"].rsplit("/", 1)[-1].split(".", 1)[0])
    return names


def _operations(doc: Mapping[str, Any]) -> dict[tuple[str, str], set[str]]:
    offered: dict[tuple[str, str], set[str]] = {}
    for api in doc.get("apis") or []:
        if not isinstance(api, Mapping) or not isinstance(api.get("path"), str):
            continue
        path = _PLACEHOLDER.sub("{}", api["path"])
        for op in api.get("operations") or []:
            if isinstance(op, Mapping) and isinstance(op.get("httpMethod"), str):
                params = {p.get("name") for p in op.get("parameters") or []
                          if isinstance(p, Mapping)}
                offered[(op["httpMethod"].upper(), path)] = {p for p in params
                                                             if isinstance(p, str)}
    return offered


def _describe(operations: tuple[Operation, ...]) -> str:
    return ", ".join(f"{operation.method} {operation.path}" for operation in operations)
