"""The checks several settings share: URLs, listen addresses, networks, cleartext HTTP;
and Stripe's key and API base, which the Stripe adapter checks again."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse, urlsplit

_STRIPE_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def network_problems(name: str, values: tuple[str, ...]) -> list[str]:
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


def listen_problems(name: str, listen: str) -> list[str]:
    env_name = "PAYIVR_" + name.replace(".", "_").upper()
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        return [f"{name} ({env_name}): {listen!r} is not HOST:PORT"]
    return []


def conninfo_problems(name: str, conninfo: str) -> list[str]:
    """A libpq keyword string (``host=... dbname=...``) is as good as a URL."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(conninfo)
    except Exception:
        return [
            f"database.{name} (PAYIVR_DATABASE_{name.upper()}): not a postgresql:// URL nor"
            " a libpq string"
        ]
    return []


def cleartext_problems(section: str, name: str, value: str, allowed: bool) -> list[str]:
    """``http://`` to anything but this machine sends secrets (the ARI password and every
    keyed digit's events, the CRM's and SMS provider's signed payloads and tokens) in
    cleartext: refused unless ``<section>.allow_http`` says the network is trusted."""
    parsed = urlparse(value)
    host = parsed.hostname or ""
    if parsed.scheme != "http" or allowed or is_loopback(host):
        return []
    env_name = f"PAYIVR_{section}_{name}".upper()
    return [
        f"{section}.{name} ({env_name}): http:// to {host} would travel in cleartext; use"
        f" https://, or set {section}.allow_http = true (PAYIVR_{section.upper()}_ALLOW_HTTP)"
        " on a network you trust"
    ]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problems(name: str, value: str, schemes: tuple[str, ...]) -> list[str]:
    env_name = "PAYIVR_" + name.replace(".", "_").upper()
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        allowed = " or ".join(f"{scheme}://" for scheme in schemes)
        shown = value if "@" not in value else "<url with credentials>"
        return [f"{name} ({env_name}): must be a URL starting with {allowed}, got {shown!r}"]
    return []


def secret_key_problem(secret_key: str) -> str | None:
    """Why ``secret_key`` cannot be a Stripe server key, or ``None``."""
    if not secret_key:
        return "the Stripe secret key is required"
    if secret_key.startswith("pk_"):
        return "the Stripe key is a publishable key (pk_...); payivr needs the secret key (sk_...)"
    if not secret_key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        return "the Stripe secret key must start with sk_test_, sk_live_, rk_test_ or rk_live_"
    if not secret_key.isascii() or not secret_key.isprintable() or " " in secret_key:
        return "the Stripe secret key has characters a key cannot have"
    return None


def api_base_problem(api_base: str) -> str | None:
    """Card data only over https; plain http only to this machine (stripe-mock, tests)."""
    parts = urlsplit(api_base)
    if not parts.hostname or parts.query or parts.fragment or parts.username:
        return f"the Stripe API base must be https://host[:port] (got {api_base!r})"
    if parts.path not in ("", "/"):
        return "the Stripe API base has no path (payivr adds /v1/...)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in _STRIPE_LOOPBACK:
        return None
    return "the Stripe API base must start with https:// (http:// only for 127.0.0.1/localhost)"
