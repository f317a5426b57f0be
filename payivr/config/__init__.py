"""payivr's one typed configuration object, built from a TOML file and the environment.

Every setting ``section.name`` can be given in the file as ``[section] name = ...`` or in
the environment as ``PAYIVR_SECTION_NAME`` (which wins), e.g. ``PAYIVR_ARI_URL``. Secrets
can also come from a file named by ``PAYIVR_SECTION_NAME_FILE`` (Docker/Kubernetes secrets).
Everything is validated at start; each problem names the setting it is about.
"""


from __future__ import annotations

import dataclasses
import re
import socket
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from payivr.config.checks import split_listen
from payivr.config.connections import (
    AmiSettings,
    AriSettings,
    ConsoleSettings,
    CrmSettings,
    DatabaseSettings,
    FastAgiSettings,
    GatewaySettings,
)
from payivr.config.payments import (
    CallSettings,
    FlowSettings,
    OutboundSettings,
    SmsOptions,
    SmsSection,
)
from payivr.core.errors import PayivrError

__all__ = [
    "AmiSettings",
    "AriSettings",
    "CallSettings",
    "Config",
    "ConfigError",
    "ConsoleSettings",
    "CrmSettings",
    "DatabaseSettings",
    "FastAgiSettings",
    "FlowSettings",
    "GatewaySettings",
    "InstanceSettings",
    "LogSettings",
    "OutboundSettings",
    "SmsOptions",
    "SmsSection",
    "load_config",
    "split_listen",
]


class ConfigError(PayivrError, ValueError):
    """The configuration cannot be used; the message lists every problem found."""


@dataclass
class InstanceSettings:
    """Who this payivr is among several sharing one database (README "Running several PBXs").

    The Asterisk it serves is known by its entity id (ARI ``/asterisk/info``); payments,
    calls, outbound calls and texts record both. Of the payivr processes given the same
    Asterisk, the one holding its PostgreSQL advisory lock runs the calls; the others wait.
    """

    name: str = ""  # empty: the host name
    # A standby whose own database connection was lost (a database restart) waits this long
    # once it is back before taking the Asterisk, so the instance that had it takes it again.
    takeover_grace: float = 5.0

    @property
    def resolved_name(self) -> str:
        return self.name or socket.gethostname()

    def problems(self) -> list[str]:
        found = []
        if not INSTANCE_NAME.fullmatch(self.resolved_name):
            found.append(
                "instance.name (PAYIVR_INSTANCE_NAME): 1-63 letters, digits, '.', '_' or '-'"
            )
        if not 0 <= self.takeover_grace <= 300:
            found.append("instance.takeover_grace: must be 0-300 seconds")
        return found


INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass
class LogSettings:
    level: str = "INFO"
    json: bool = True

    def problems(self) -> list[str]:
        if self.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            return [f"log.level: {self.level!r} is not DEBUG, INFO, WARNING or ERROR"]
        return []


@dataclass
class Config:
    ari: AriSettings = field(default_factory=AriSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    fastagi: FastAgiSettings = field(default_factory=FastAgiSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    crm: CrmSettings = field(default_factory=CrmSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    flow: FlowSettings = field(default_factory=FlowSettings)
    calls: CallSettings = field(default_factory=CallSettings)
    sms: SmsSection = field(default_factory=SmsSection)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    log: LogSettings = field(default_factory=LogSettings)
    instance: InstanceSettings = field(default_factory=InstanceSettings)

    def validate(self, sections: tuple[str, ...] | None = None) -> None:
        """Raise :class:`ConfigError` listing every problem in ``sections`` (default: all)."""
        names = sections or tuple(f.name for f in dataclasses.fields(self))
        found = [problem for name in names for problem in getattr(self, name).problems()]
        if found:
            raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(found))


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from ``path`` (TOML, optional) and ``environ`` overrides.

    Raises :class:`ConfigError` for unknown settings and values of the wrong type; call
    :meth:`Config.validate` for the checks that depend on what is being started.
    """
    environ = environ or {}
    document: dict[str, object] = {}
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"configuration file {path} is not valid TOML: {error}") from None
    config = Config()
    problems: list[str] = []
    for section in dataclasses.fields(config):
        given = document.get(section.name, {})
        if not isinstance(given, dict):
            problems.append(f"[{section.name}] must be a table")
            continue
        settings = getattr(config, section.name)
        hints = typing.get_type_hints(type(settings))
        known = {f.name for f in dataclasses.fields(settings)}
        for unknown in sorted(set(given) - known):
            problems.append(f"{section.name}.{unknown}: unknown setting")
        for name in sorted(known):
            env_name = f"PAYIVR_{section.name}_{name}".upper()
            raw: object = given.get(name, dataclasses.MISSING)
            if env_name in environ:
                raw = environ[env_name]
            elif f"{env_name}_FILE" in environ:
                secret_path = Path(environ[f"{env_name}_FILE"])
                try:
                    raw = secret_path.read_text(encoding="utf-8").strip()
                except OSError as error:
                    problems.append(f"{env_name}_FILE: cannot read {secret_path}: {error.strerror}")
                    continue
            if raw is dataclasses.MISSING:
                continue
            try:
                setattr(settings, name, _coerce(raw, hints[name]))
            except ValueError as error:
                problems.append(f"{section.name}.{name} ({env_name}): {error}")
    for unknown in sorted(set(document) - {f.name for f in dataclasses.fields(config)}):
        problems.append(f"[{unknown}]: unknown section")
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


def _coerce(raw: object, hint: object) -> object:
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(hint)
    )
    if optional:
        if raw in ("", None):
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is tuple:
        item_type = typing.get_args(hint)[0]
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ValueError("expected a list")
        return tuple(
            _coerce(item.strip() if isinstance(item, str) else item, item_type) for item in items
        )
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in (
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        ):
            return raw.lower() in ("1", "true", "yes", "on")
        raise ValueError(f"expected true or false, got {raw!r}")
    if hint is int:
        if isinstance(raw, bool):
            raise ValueError("expected a whole number")
        try:
            return int(str(raw))
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    if hint is float:
        try:
            return float(str(raw))
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if hint is str:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        return raw
    raise ValueError(f"unsupported setting type {hint!r}")
