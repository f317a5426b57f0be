"""Where payivr connects and listens: ARI, AMI, FastAGI, the database, the gateway, the CRM
and the console."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from payivr.config.checks import (
    api_base_problem,
    cleartext_problems,
    conninfo_problems,
    listen_problems,
    network_problems,
    secret_key_problem,
    url_problems,
)


@dataclass
class AriSettings:
    url: str = "http://127.0.0.1:8088"
    user: str = "payivr"
    password: str = ""
    app: str = "payivr"
    pool_size: int = 20
    allow_http: bool = False  # http:// to another host (see checks.cleartext_problems)

    def problems(self) -> list[str]:
        found = url_problems("ari.url", self.url, ("http", "https"))
        found += cleartext_problems("ari", "url", self.url, self.allow_http)
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
        found = listen_problems("fastagi.listen", self.listen)
        found += network_problems("fastagi.allowed_sources", self.allowed_sources)
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
    """``url`` is the runtime role payivr serves as; ``migrate_url`` the owner that
    migrates (README, Security: database roles)."""

    url: str | None = None  # None: start an embedded PostgreSQL in data_dir
    migrate_url: str | None = None  # None: `payivr migrate` was run by the owner
    data_dir: str | None = None

    def problems(self) -> list[str]:
        if self.url is None:
            if self.migrate_url is not None:
                return ["database.migrate_url (PAYIVR_DATABASE_MIGRATE_URL): needs database.url"]
            return []
        found = []
        for name, value in (("url", self.url), ("migrate_url", self.migrate_url)):
            if value is None:
                continue
            if "://" in value and urlparse(value).scheme not in ("postgresql", "postgres"):
                found.append(
                    f"database.{name} (PAYIVR_DATABASE_{name.upper()}): must be a postgresql:// URL"
                )
            else:
                found += conninfo_problems(name, value)
        return found


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
        found = url_problems("gateway.url", self.url, ("https",))
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
    allow_http: bool = False  # http:// to another host (see checks.cleartext_problems)

    def problems(self) -> list[str]:
        if self.webhook_url is None:
            return []
        found = url_problems("crm.webhook_url", self.webhook_url, ("http", "https"))
        found += cleartext_problems("crm", "webhook_url", self.webhook_url, self.allow_http)
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
        found += network_problems("console.trusted_proxies", self.trusted_proxies)
        if self.metrics_token is not None and self.metrics_open:
            found.append("console.metrics_open: leave it false when console.metrics_token is set")
        found += listen_problems("console.listen", self.listen)
        if (self.tls_cert is None) != (self.tls_key is None):
            found.append("console.tls_cert and console.tls_key go together")
        return found
