"""The checks several settings share: URLs, listen addresses, networks, cleartext HTTP."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse


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


def conninfo_problems(conninfo: str) -> list[str]:
    """A libpq keyword string (``host=... dbname=...``) is as good as a URL."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(conninfo)
    except Exception:
        return ["database.url (PAYIVR_DATABASE_URL): not a postgresql:// URL nor a libpq string"]
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
