"""ARI's Swagger 1.2 description, loaded once: routing, request validation, model validation.

Everything the simulator accepts is driven from the api-docs JSON that Asterisk 22.10.1 ships
(a copy lives in ``api_docs/`` beside this module), never from hand-written lists:

- :meth:`ApiSpec.route` finds the operation for a method and path the way ``ast_ari_invoke``
  does (404 ``Resource not found``, 405 ``Invalid method``);
- :meth:`ApiSpec.parse_arguments` checks parameter names, types, required parameters,
  allowable values and the JSON body, answering 400 with a ``{"message": ...}`` body;
- :meth:`ApiSpec.validate_model` checks a value against a model (``Channel``, ``Message``
  with its ``type`` discriminator, ...) like Asterisk's generated validators, undocumented
  fields included.

Asterisk itself silently ignores unknown parameters and reads a bad integer as 0; the
simulator is stricter on purpose, so a client bug shows up in tests instead of in production.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from payivr.core.errors import PayivrError

API_DOCS_PACKAGE = "payivr.sim.ari.api_docs"

_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})
_INTEGER = re.compile(r"-?\d+")

# Asterisk's own words for a few checks the resources make (res/ari/resource_*.c); the rest
# get a generic message in the same {"message": ...} shape.
_MISSING_MESSAGES: dict[tuple[str, str], str] = {
    ("originate", "endpoint"): "Endpoint must be specified",
    ("originateWithId", "endpoint"): "Endpoint must be specified",
    ("addChannel", "channel"): "Missing parameter channel",
    ("removeChannel", "channel"): "Missing parameter channel",
    ("getChannelVar", "variable"): "Variable name is required",
    ("setChannelVar", "variable"): "Variable name is required",
    ("getBridgeVar", "variable"): "Variable name is required",
    ("setBridgeVar", "variable"): "Variable name is required",
    ("snoopChannel", "app"): "Application name is required",
    ("snoopChannelWithId", "app"): "Application name is required",
    ("redirect", "endpoint"): "Required parameter 'endpoint' not provided.",
}
_INVALID_VALUE_MESSAGES: dict[tuple[str, str], str] = {
    ("mute", "direction"): "Invalid direction specified",
    ("unmute", "direction"): "Invalid direction specified",
    ("hangup", "reason"): "Invalid reason for hangup provided",
    ("snoopChannel", "spy"): "Invalid direction specified for spy",
    ("snoopChannel", "whisper"): "Invalid direction specified for whisper",
    ("snoopChannelWithId", "spy"): "Invalid direction specified for spy",
    ("snoopChannelWithId", "whisper"): "Invalid direction specified for whisper",
    ("control", "operation"): "Invalid operation",
}


class RequestRejected(PayivrError):
    """The peer sent a request ARI does not accept; carries Asterisk's status and message."""

    def __init__(self, status: int, message: str, *, allow: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = tuple(allow)


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path", "query" or "body"
    data_type: str
    required: bool
    allow_multiple: bool
    allowed_values: tuple[str, ...] | None
    minimum: int | None
    maximum: int | None
    default: Any


@dataclass(frozen=True)
class SpecOperation:
    resource: str
    path: str  # "/channels/{channelId}/play"
    method: str
    nickname: str
    parameters: tuple[Parameter, ...]
    websocket: bool

    def parameter(self, name: str) -> Parameter | None:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        return None

    @property
    def body_parameter(self) -> Parameter | None:
        for parameter in self.parameters:
            if parameter.location == "body":
                return parameter
        return None


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    wildcard: _Node | None = None
    wildcard_name: str = ""
    operations: dict[str, SpecOperation] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    operation: SpecOperation
    path_arguments: dict[str, str]


class ApiSpec:
    """The whole ARI description: resource documents, operations and models."""

    def __init__(self, documents: Mapping[str, dict[str, Any]]) -> None:
        self.documents = dict(documents)
        self.models: dict[str, dict[str, Any]] = {}
        self.operations: list[SpecOperation] = []
        self._root = _Node()
        listing = self.documents["resources"]
        for api in listing["apis"]:
            resource = api["path"].split("/")[-1].split(".")[0]
            document = self.documents[resource]
            self.models.update(document.get("models", {}))
            for path_entry in document.get("apis", []):
                for raw in path_entry.get("operations", []):
                    operation = _operation(resource, path_entry["path"], raw)
                    self.operations.append(operation)
                    self._insert(operation)

    @classmethod
    def load(cls, directory: Path | None = None) -> ApiSpec:
        """Load the documents from ``directory``, or the copy shipped in the package."""
        documents: dict[str, dict[str, Any]] = {}
        if directory is None:
            for entry in resources.files(API_DOCS_PACKAGE).iterdir():
                if entry.name.endswith(".json"):
                    documents[entry.name[:-5]] = json.loads(entry.read_text(encoding="utf-8"))
        else:
            for path in sorted(directory.glob("*.json")):
                documents[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        return cls(documents)

    # -- routing ------------------------------------------------------------------------

    def _insert(self, operation: SpecOperation) -> None:
        node = self._root
        for segment in operation.path.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                if node.wildcard is None:
                    node.wildcard = _Node()
                    node.wildcard_name = segment[1:-1]
                node = node.wildcard
            else:
                node = node.literal.setdefault(segment, _Node())
        node.operations[operation.method] = operation

    def route(self, method: str, segments: list[str]) -> Route:
        """The operation for ``method`` on the decoded path ``segments`` (below ``/ari``)."""
        node = self._root
        arguments: dict[str, str] = {}
        for segment in segments:
            child = node.literal.get(segment)
            if child is None and node.wildcard is not None and segment:
                arguments[node.wildcard_name] = segment
                child = node.wildcard
            if child is None:
                raise RequestRejected(404, "Resource not found")
            node = child
        operation = node.operations.get(method)
        if operation is None:
            raise RequestRejected(405, "Invalid method", allow=sorted(node.operations))
        return Route(operation, arguments)

    # -- requests -------------------------------------------------------------------------

    def parse_arguments(
        self,
        operation: SpecOperation,
        path_arguments: Mapping[str, str],
        query: Iterable[tuple[str, str]],
        body: Any,
    ) -> dict[str, Any]:
        """Typed arguments of one request, or :class:`RequestRejected` as Asterisk answers."""
        raw: dict[str, str] = {}
        for name, value in query:
            if name == "api_key":
                continue
            parameter = operation.parameter(name)
            if parameter is None or parameter.location != "query":
                raise RequestRejected(400, f"Unknown parameter: {name}")
            if name in raw and parameter.allow_multiple:
                raw[name] = f"{raw[name]},{value}"
            else:
                raw[name] = value
        body_value: Any = None
        if body is not None:
            if not isinstance(body, dict):
                raise RequestRejected(400, "Request body must be a JSON object")
            body_parameter = operation.body_parameter
            for name, value in body.items():
                parameter = operation.parameter(name)
                if body_parameter is not None and name == body_parameter.name:
                    body_value = value
                    continue
                if parameter is None or parameter.location != "query":
                    raise RequestRejected(400, f"Unknown parameter: {name}")
                if name not in raw:
                    raw[name] = _json_to_text(value)
            if (
                body_parameter is not None
                and body_parameter.data_type == "containers"
                and body_value is not None
                and not _string_map(body_value)
            ):
                raise RequestRejected(
                        400, "Only string values in the 'variables' object allowed"
                    )
        arguments: dict[str, Any] = {}
        for parameter in operation.parameters:
            if parameter.location == "path":
                arguments[parameter.name] = path_arguments[parameter.name]
                continue
            if parameter.location == "body":
                if body_value is None and parameter.required:
                    raise RequestRejected(400, f"Missing required parameter: {parameter.name}")
                arguments[parameter.name] = body_value
                continue
            text = raw.get(parameter.name)
            if text is None or text == "":
                if parameter.required:
                    message = _MISSING_MESSAGES.get(
                        (operation.nickname, parameter.name),
                        f"Missing required parameter: {parameter.name}",
                    )
                    raise RequestRejected(400, message)
                arguments[parameter.name] = _typed_default(parameter)
                continue
            arguments[parameter.name] = _convert(operation, parameter, text)
        return arguments

    # -- models ---------------------------------------------------------------------------

    def validate_model(self, model_name: str, value: Any) -> list[str]:
        """Problems of ``value`` as an instance of ``model_name`` (empty when valid)."""
        problems: list[str] = []
        self._check(model_name, value, model_name, problems)
        return problems

    def _properties(self, model_name: str) -> dict[str, dict[str, Any]]:
        model = self.models[model_name]
        properties: dict[str, dict[str, Any]] = {}
        parent = self._parent(model_name)
        if parent is not None:
            properties.update(self._properties(parent))
        properties.update(model.get("properties", {}))
        return properties

    def _parent(self, model_name: str) -> str | None:
        for name, model in self.models.items():
            if model_name in model.get("subTypes", []):
                return name
        return None

    def _check(self, type_name: str, value: Any, where: str, problems: list[str]) -> None:
        if type_name.startswith("List[") and type_name.endswith("]"):
            if not isinstance(value, list):
                problems.append(f"{where}: expected a list")
                return
            for index, item in enumerate(value):
                self._check(type_name[5:-1], item, f"{where}[{index}]", problems)
            return
        primitive = _PRIMITIVES.get(type_name)
        if primitive is not None:
            if not primitive(value):
                problems.append(f"{where}: expected {type_name}, got {value!r}")
            return
        if type_name not in self.models:
            problems.append(f"{where}: unknown type {type_name}")
            return
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a {type_name} object")
            return
        model = self.models[type_name]
        discriminator = model.get("discriminator")
        if discriminator is not None:
            concrete = value.get(discriminator)
            if not isinstance(concrete, str) or concrete not in self.models:
                problems.append(f"{where}: unknown {discriminator} {concrete!r}")
                return
            if concrete != type_name and not self._descends(concrete, type_name):
                problems.append(f"{where}: {concrete} is not a {type_name}")
                return
            type_name = concrete
        properties = self._properties(type_name)
        for name, definition in properties.items():
            if name not in value:
                if definition.get("required"):
                    problems.append(f"{where}: missing required field {name}")
                continue
            self._check(definition["type"], value[name], f"{where}.{name}", problems)
            allowed = definition.get("allowableValues", {})
            if allowed.get("valueType") == "LIST" and value[name] not in allowed["values"]:
                problems.append(f"{where}.{name}: {value[name]!r} not allowed")
        for name in value:
            if name not in properties:
                problems.append(f"{where}: undocumented field {name}")

    def _descends(self, child: str, ancestor: str) -> bool:
        parent = self._parent(child)
        while parent is not None:
            if parent == ancestor:
                return True
            parent = self._parent(parent)
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d{4}|Z)", value
    ) is not None


_PRIMITIVES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "int": _is_int,
    "long": _is_int,
    "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "Date": _is_date,
}


def _operation(resource: str, path: str, raw: Mapping[str, Any]) -> SpecOperation:
    parameters = []
    for item in raw.get("parameters", []):
        allowed = item.get("allowableValues") or {}
        parameters.append(
            Parameter(
                name=item["name"],
                location=item["paramType"],
                data_type=item["dataType"],
                required=bool(item.get("required")),
                allow_multiple=bool(item.get("allowMultiple")),
                allowed_values=tuple(allowed["values"])
                if allowed.get("valueType") == "LIST"
                else None,
                minimum=allowed.get("min") if allowed.get("valueType") == "RANGE" else None,
                maximum=allowed.get("max") if allowed.get("valueType") == "RANGE" else None,
                default=item.get("defaultValue"),
            )
        )
    return SpecOperation(
        resource=resource,
        path=path,
        method=raw["httpMethod"],
        nickname=raw["nickname"],
        parameters=tuple(parameters),
        websocket=raw.get("upgrade") == "websocket",
    )


def _json_to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_json_to_text(item) for item in value)
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _typed_default(parameter: Parameter) -> Any:
    default = parameter.default
    if parameter.allow_multiple:
        return [] if default is None else [str(default)]
    if default is None:
        return None
    if parameter.data_type in ("int", "long"):
        return int(default)
    if parameter.data_type == "boolean":
        return default if isinstance(default, bool) else str(default).lower() in _TRUE
    return str(default)


def _convert(operation: SpecOperation, parameter: Parameter, text: str) -> Any:
    if parameter.allow_multiple:
        values = [item for item in text.split(",") if item != ""]
        for value in values:
            _check_allowed(operation, parameter, value)
        return values
    if parameter.data_type in ("int", "long"):
        if _INTEGER.fullmatch(text.strip()) is None:
            raise RequestRejected(400, f"Invalid integer for parameter: {parameter.name}")
        number = int(text)
        if parameter.minimum is not None and number < parameter.minimum:
            raise RequestRejected(400, f"{parameter.name} cannot be negative")
        if parameter.maximum is not None and number > parameter.maximum:
            raise RequestRejected(400, f"{parameter.name} is out of range")
        return number
    if parameter.data_type == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise RequestRejected(400, f"Invalid boolean for parameter: {parameter.name}")
    _check_allowed(operation, parameter, text)
    return text


def _check_allowed(operation: SpecOperation, parameter: Parameter, value: str) -> None:
    if parameter.allowed_values is not None and value not in parameter.allowed_values:
        message = _INVALID_VALUE_MESSAGES.get(
            (operation.nickname, parameter.name), f"Invalid value for parameter: {parameter.name}"
        )
        raise RequestRejected(400, message)


@cache
def shipped_spec() -> ApiSpec:
    """The api-docs shipped with the package, parsed once per process."""
    return ApiSpec.load()
