"""payivr's one typed configuration object, built from a TOML file and the environment.

Every setting ``section.name`` can be given in the file as ``[section] name = ...`` or in
the environment as ``PAYIVR_SECTION_NAME`` (which wins), e.g. ``PAYIVR_ARI_URL``. Secrets
can also come from a file named by ``PAYIVR_SECTION_NAME_FILE`` (Docker/Kubernetes secrets).
Everything is validated at start; each problem names the setting it is about.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from urllib.parse import urlparse

from payivr.core.cards import Brand
from payivr.core.events import PaymentMethod
from payivr.core.flow import FlowConfig
from payivr.core.prompts import CURRENCIES, LANGUAGES
from payivr.core.reminders import ReminderPolicy
from payivr.core.request import PrivacyMode


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem found."""


@dataclass
class AriSettings:
    url: str = "http://127.0.0.1:8088"
    user: str = "payivr"
    password: str = ""
    app: str = "payivr"
    pool_size: int = 20
    allow_http: bool = False  # http:// to another host (see _cleartext_problems)

    def problems(self) -> list[str]:
        found = _url_problems("ari.url", self.url, ("http", "https"))
        found += _cleartext_problems("ari", "url", self.url, self.allow_http)
        if not self.password:
            found.append("ari.password (PAYIVR_ARI_PASSWORD): is required")
        if not self.app or not self.app.replace("-", "").replace("_", "").isalnum():
            found.append("ari.app (PAYIVR_ARI_APP): letters, digits, - and _ only")
        if not 1 <= self.pool_size <= 90:
            found.append("ari.pool_size: must be 1-90 (Asterisk's http sessionlimit is 100)")
        return found


@dataclass
class AmiSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 5038
    user: str = "payivr"
    secret: str = ""

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        found = []
        if not self.secret:
            found.append("ami.secret (PAYIVR_AMI_SECRET): is required when ami.enabled is true")
        if not 1 <= self.port <= 65535:
            found.append(f"ami.port (PAYIVR_AMI_PORT): {self.port} is not a TCP port")
        return found


@dataclass
class FastAgiSettings:
    """The FastAGI listener, an alternative to AMI for the ``*7`` trigger.

    Anyone reaching it can claim to be Asterisk: it listens on loopback unless told, takes
    connections only from ``allowed_sources`` (addresses or networks: your Asterisk), and with
    ``secret`` set only requests for ``agi://payivr:4573/pay/<secret>``
    (``PAYIVR_AGI_SECRET`` in dialplan/payivr.conf).
    """

    enabled: bool = False
    listen: str = "127.0.0.1:4573"
    allowed_sources: tuple[str, ...] = ("127.0.0.1", "::1")
    secret: str | None = None

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        found = _listen_problems("fastagi.listen", self.listen)
        found += _network_problems("fastagi.allowed_sources", self.allowed_sources)
        if self.secret is not None and (
            len(self.secret) < 24 or not self.secret.replace("-", "").replace("_", "").isalnum()
        ):
            found.append(
                "fastagi.secret (PAYIVR_FASTAGI_SECRET): at least 24 letters, digits, - or _"
                " (it goes in an AGI URL)"
            )
        return found


@dataclass
class DatabaseSettings:
    url: str | None = None  # None: start an embedded PostgreSQL in data_dir
    data_dir: str | None = None

    def problems(self) -> list[str]:
        if self.url is None:
            return []
        if "://" in self.url and urlparse(self.url).scheme not in ("postgresql", "postgres"):
            return ["database.url (PAYIVR_DATABASE_URL): must be a postgresql:// URL"]
        return _conninfo_problems(self.url)


GATEWAY_KINDS = ("encrypted", "stripe")


@dataclass
class GatewaySettings:
    kind: str = "encrypted"  # our generic encrypted connector, or Stripe PaymentIntents
    url: str = ""
    public_key: str = ""  # path to the gateway's public key (PEM or JWK)
    key_id: str = ""
    signing_secret: str = ""
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    stripe_secret_key: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    stripe_api_version: str = "2025-03-31.basil"
    stripe_moto: bool = False

    def problems(self) -> list[str]:
        if self.kind not in GATEWAY_KINDS:
            return [
                f"gateway.kind (PAYIVR_GATEWAY_KIND): {self.kind!r} is not one of {GATEWAY_KINDS}"
            ]
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            return ["gateway timeouts must be positive"]
        if self.kind == "stripe":
            return self._stripe_problems()
        found = _url_problems("gateway.url", self.url, ("https",))
        if not self.public_key:
            found.append("gateway.public_key (PAYIVR_GATEWAY_PUBLIC_KEY): path is required")
        elif not Path(self.public_key).is_file():
            found.append(f"gateway.public_key: no file at {self.public_key}")
        if not self.signing_secret:
            found.append("gateway.signing_secret (PAYIVR_GATEWAY_SIGNING_SECRET): is required")
        for name in ("ca_bundle", "client_cert", "client_key"):
            value = getattr(self, name)
            if value is not None and not Path(value).is_file():
                found.append(f"gateway.{name}: no file at {value}")
        return found

    def _stripe_problems(self) -> list[str]:
        from payivr.gateway.stripe import api_base_problem, secret_key_problem

        if not self.stripe_secret_key:
            return [
                "gateway.stripe_secret_key (PAYIVR_GATEWAY_STRIPE_SECRET_KEY): is required "
                'when gateway.kind is "stripe"'
            ]
        found = []
        problem = secret_key_problem(self.stripe_secret_key)
        if problem:
            found.append(f"gateway.stripe_secret_key (PAYIVR_GATEWAY_STRIPE_SECRET_KEY): {problem}")
        problem = api_base_problem(self.stripe_api_base)
        if problem:
            found.append(f"gateway.stripe_api_base (PAYIVR_GATEWAY_STRIPE_API_BASE): {problem}")
        if not self.stripe_api_version:
            found.append("gateway.stripe_api_version: must not be empty")
        return found


@dataclass
class CrmSettings:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    allow_http: bool = False  # http:// to another host (see _cleartext_problems)

    def problems(self) -> list[str]:
        if self.webhook_url is None:
            return []
        found = _url_problems("crm.webhook_url", self.webhook_url, ("http", "https"))
        found += _cleartext_problems("crm", "webhook_url", self.webhook_url, self.allow_http)
        if not self.webhook_secret:
            found.append("crm.webhook_secret (PAYIVR_CRM_WEBHOOK_SECRET): required with a URL")
        return found


@dataclass
class ConsoleSettings:
    listen: str = "127.0.0.1:8080"
    tls_cert: str | None = None
    tls_key: str | None = None
    # /metrics answers only "Authorization: Bearer <token>" (a scraper's secret); without a
    # token it answers no one, unless metrics_open opens it to whoever reaches the console.
    metrics_token: str | None = None
    metrics_open: bool = False
    # Behind a proxy that ends TLS: the URL browsers use (https://pay.example.com), so cookies
    # stay Secure and the Origin check expects it; the proxies whose X-Forwarded-For is
    # believed (addresses or networks).
    public_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        found = []
        if self.metrics_token is not None and len(self.metrics_token) < 24:
            found.append(
                "console.metrics_token (PAYIVR_CONSOLE_METRICS_TOKEN): use at least 24"
                " characters (e.g. payivr keygen's signing secret, or openssl rand -hex 16)"
            )
        if self.public_url is not None:
            parts = urlparse(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
                found.append(
                    "console.public_url (PAYIVR_CONSOLE_PUBLIC_URL): the address browsers use,"
                    f" like https://pay.example.com, not {self.public_url!r}"
                )
        found += _network_problems("console.trusted_proxies", self.trusted_proxies)
        if self.metrics_token is not None and self.metrics_open:
            found.append("console.metrics_open: leave it false when console.metrics_token is set")
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            found.append(
                f"console.listen (PAYIVR_CONSOLE_LISTEN): {self.listen!r} is not HOST:PORT"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            found.append("console.tls_cert and console.tls_key go together")
        return found


@dataclass
class FlowSettings:
    accepted_brands: tuple[str, ...] = tuple(brand.value for brand in Brand)
    ask_security_code: bool = True
    ask_postal_code: bool = True
    max_attempts: int = 3
    no_input_timeout: float = 60.0
    inter_digit_timeout: float = 5.0
    postal_code_lengths: tuple[int, ...] = (5, 9)
    currency: str = "USD"
    max_amount_minor: int = 1_000_000
    offer_card_on_file: bool = False
    accepted_methods: tuple[str, ...] = tuple(method.value for method in PaymentMethod)
    decline_retries: int = 2  # more tries after a declined card (another card or a field)

    def problems(self) -> list[str]:
        found = []
        methods = {method.value for method in PaymentMethod}
        odd = [name for name in self.accepted_methods if name not in methods]
        if odd:
            found.append(f"flow.accepted_methods: unknown {odd}; known: {sorted(methods)}")
        known = {brand.value for brand in Brand}
        unknown = [name for name in self.accepted_brands if name not in known]
        if unknown:
            found.append(f"flow.accepted_brands: unknown {unknown}; known: {sorted(known)}")
        if self.currency not in CURRENCIES:
            found.append(f"flow.currency: {self.currency!r} is not one of {sorted(CURRENCIES)}")
        if self.max_amount_minor <= 0:
            found.append("flow.max_amount_minor: must be positive")
        if not unknown and not odd:
            try:
                self.flow_config()
            except ValueError as error:
                found.append(f"flow: {error}")
        return found

    def flow_config(self) -> FlowConfig:
        return FlowConfig(
            accepted_brands=frozenset(Brand(name) for name in self.accepted_brands),
            ask_security_code=self.ask_security_code,
            ask_postal_code=self.ask_postal_code,
            max_attempts=self.max_attempts,
            no_input_timeout=self.no_input_timeout,
            inter_digit_timeout=self.inter_digit_timeout,
            postal_code_lengths=frozenset(self.postal_code_lengths),
            offer_card_on_file=self.offer_card_on_file,
            accepted_methods=frozenset(PaymentMethod(name) for name in self.accepted_methods),
            decline_retries=self.decline_retries,
        )


@dataclass
class CallSettings:
    privacy_mode: str = PrivacyMode.HOLD.value  # see .privacy
    # false: no payment in talk-through, whoever asks (the agent is on hold for every one)
    allow_talk_through: bool = True
    music_on_hold_class: str = "default"  # empty: silence instead of music
    language: str = "en"
    after_agent_hangup: str = "hangup"  # or "continue": back to the dialplan
    continue_context: str = "payivr-after"
    # How often payments of unknown outcome (the gateway did not answer, or payivr stopped
    # while charging) are asked about again, by idempotency key.
    reconcile_interval: float = 60.0
    # Warm transfer without an amount: how long the caller holds while the transferring
    # agent's console asks for item and amount, before going back to the agent.
    transfer_request_timeout: float = 60.0

    @property
    def privacy(self) -> PrivacyMode:
        """``privacy_mode`` as the mode it names (once :meth:`problems` found none)."""
        return PrivacyMode(self.privacy_mode)

    def problems(self) -> list[str]:
        found = []
        if not self.reconcile_interval > 0:
            found.append("calls.reconcile_interval: must be a positive number of seconds")
        if not self.transfer_request_timeout > 0:
            found.append("calls.transfer_request_timeout: must be a positive number of seconds")
        modes = [mode.value for mode in PrivacyMode]
        if self.privacy_mode not in modes:
            found.append(f"calls.privacy_mode: {self.privacy_mode!r} is not one of {modes}")
        if self.language not in LANGUAGES:
            found.append(f"calls.language: {self.language!r} is not one of {LANGUAGES}")
        if self.after_agent_hangup not in ("hangup", "continue"):
            found.append("calls.after_agent_hangup: must be 'hangup' or 'continue'")
        if self.privacy_mode == PrivacyMode.TALK_THROUGH.value and not self.allow_talk_through:
            found.append("calls.privacy_mode: talk-through, but calls.allow_talk_through is false")
        return found


SMS_PROVIDERS = ("http", "simulator")


@dataclass
class SmsOptions:
    """Everything ``[sms]`` configures (defaults are the shipped ones). Not frozen: the
    configuration loader fills it in setting by setting."""

    provider: str = "simulator"
    url: str = ""
    token: str = ""
    sender: str = ""
    webhook_secret: str = ""
    webhook_tolerance_seconds: int = 300
    business_name: str = ""
    request_ttl_minutes: int = 1440
    reminder_window_days: int = 7
    reminder_lead_days: int = 1
    reminder_daily_cap: int = 1000
    send_from: str = "09:00"
    send_until: str = "20:00"
    time_zone: str = "UTC"
    poll_seconds: float = 5.0

    def problems(self) -> list[str]:
        """What is wrong, in words for whoever edits the configuration."""
        found = []
        if self.provider not in SMS_PROVIDERS:
            found.append(f"sms.provider must be one of {', '.join(SMS_PROVIDERS)}")
        if self.provider == "http":
            if not self.url.startswith(("https://", "http://")):
                found.append("sms.url must be the provider's https:// URL for sending")
            if not self.token:
                found.append("sms.token (the provider's API token) is required")
            if not self.webhook_secret.startswith("whsec_"):
                found.append(
                    "sms.webhook_secret must be the whsec_ secret the provider signs webhooks with"
                )
        if not 60 <= self.webhook_tolerance_seconds <= 3600:
            found.append("sms.webhook_tolerance_seconds must be 60 to 3600")
        if not 5 <= self.request_ttl_minutes <= 7 * 1440:
            found.append("sms.request_ttl_minutes must be 5 to 10080 (a week)")
        if len(self.business_name) > 40:
            found.append("sms.business_name must be at most 40 characters")
        try:
            self.policy()
        except ValueError as error:
            found.append(f"sms reminders: {error}")
        return found

    def policy(self) -> ReminderPolicy:
        try:
            send_from, send_until = (
                time.fromisoformat(self.send_from),
                time.fromisoformat(self.send_until),
            )
        except ValueError:
            raise ValueError("send_from and send_until must be times like 09:00") from None
        return ReminderPolicy(
            window_days=self.reminder_window_days,
            lead_days=self.reminder_lead_days,
            daily_cap=self.reminder_daily_cap,
            send_from=send_from,
            send_until=send_until,
            time_zone=self.time_zone,
        )


@dataclass
class SmsSection(SmsOptions):
    """``[sms]``: pay by text and payment reminders (see :class:`SmsOptions`)."""

    enabled: bool = False
    allow_http: bool = False  # http:// to another host (see _cleartext_problems)

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        found = super().problems()
        if self.provider == "http":
            found += _cleartext_problems("sms", "url", self.url, self.allow_http)
        return found


@dataclass
class OutboundSettings:
    """``[outbound]``: collection calls payivr places (see :mod:`payivr.outbound`)."""

    enabled: bool = False
    # The dial string of a customer's number on the trunk: {number} is E.164 (+15551230001),
    # {digits} the same without the +.
    trunk: str = "PJSIP/{number}@trunk"
    agent_ring_seconds: int = 20
    customer_ring_seconds: int = 30
    # Answering machine detection: the answered customer runs AMD() in this dialplan context
    # (dialplan/payivr.conf) before the agent is connected; false connects at once.
    detect_machines: bool = True
    amd_context: str = "payivr-outbound-amd"
    # "name | caller ID | HH:MM-HH:MM | days" (the customer's local time), one per campaign.
    campaigns: tuple[str, ...] = ()

    def problems(self) -> list[str]:
        if not self.enabled:
            return []
        from payivr.outbound.campaigns import CampaignError, parse_campaign

        found = []
        tech, _, resource = self.trunk.partition("/")
        if not tech or not ("{number}" in resource or "{digits}" in resource):
            found.append(
                "outbound.trunk (PAYIVR_OUTBOUND_TRUNK): a dial string with {number} or "
                "{digits}, like PJSIP/{number}@trunk"
            )
        else:
            try:
                self.trunk.format(number="+1", digits="1")
            except (KeyError, IndexError, ValueError):
                found.append("outbound.trunk: only {number} and {digits} may be in braces")
        for name in ("agent_ring_seconds", "customer_ring_seconds"):
            if not 5 <= getattr(self, name) <= 120:
                found.append(f"outbound.{name}: must be 5 to 120 seconds")
        if not self.campaigns:
            found.append(
                "outbound.campaigns (PAYIVR_OUTBOUND_CAMPAIGNS): at least one campaign, like "
                "'collections | Acme <+15550199> | 09:00-20:00 | mon-fri'"
            )
        names: set[str] = set()
        for line in self.campaigns:
            try:
                campaign = parse_campaign(line)
            except CampaignError as error:
                found.append(f"outbound.campaigns: {error}")
                continue
            if campaign.name in names:
                found.append(f"outbound.campaigns: {campaign.name} is given twice")
            names.add(campaign.name)
        return found


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


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def _network_problems(name: str, values: tuple[str, ...]) -> list[str]:
    env_name = "PAYIVR_" + name.replace(".", "_").upper()
    found = []
    for value in values:
        try:
            ipaddress.ip_network(value)
        except ValueError:
            found.append(
                f"{name} ({env_name}): {value!r} is not an address or network like 172.18.0.0/16"
            )
    return found


def _listen_problems(name: str, listen: str) -> list[str]:
    env_name = "PAYIVR_" + name.replace(".", "_").upper()
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return [f"{name} ({env_name}): {listen!r} is not HOST:PORT"]
    return []


def _conninfo_problems(conninfo: str) -> list[str]:
    """A libpq keyword string (``host=... dbname=...``) is as good as a URL."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(conninfo)
    except Exception:
        return ["database.url (PAYIVR_DATABASE_URL): not a postgresql:// URL nor a libpq string"]
    return []


def _cleartext_problems(section: str, name: str, value: str, allowed: bool) -> list[str]:
    """``http://`` to anything but this machine sends secrets (the ARI password and every
    keyed digit's events, the CRM's and SMS provider's signed payloads and tokens) in
    cleartext: refused unless ``<section>.allow_http`` says the network is trusted."""
    parsed = urlparse(value)
    host = parsed.hostname or ""
    if parsed.scheme != "http" or allowed or _is_loopback(host):
        return []
    env_name = f"PAYIVR_{section}_{name}".upper()
    return [
        f"{section}.{name} ({env_name}): http:// to {host} would travel in cleartext; use"
        f" https://, or set {section}.allow_http = true (PAYIVR_{section.upper()}_ALLOW_HTTP)"
        " on a network you trust"
    ]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problems(name: str, value: str, schemes: tuple[str, ...]) -> list[str]:
    env_name = "PAYIVR_" + name.replace(".", "_").upper()
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        allowed = " or ".join(f"{scheme}://" for scheme in schemes)
        shown = value if "@" not in value else "<url with credentials>"
        return [f"{name} ({env_name}): must be a URL starting with {allowed}, got {shown!r}"]
    return []
