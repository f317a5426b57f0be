"""Hygiene (issue 8 §5): no secret is shipped in the configuration files.

Every ``password``/``secret``/``token`` setting in the shipped files (asterisk/, dialplan/,
every *.toml, the compose file) is empty, a placeholder (``YOUR-...``), or a reference: to a
file (``*_FILE``, ``/run/secrets/...``, ``#include "secrets/..."``) or to the environment.
The console's HSTS under TLS is tested in tests/console/test_console_auth.py
(``test_under_tls_cookies_are_secure_and_hsts_is_sent``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"(password|secret|passwd|token|api_key)", re.I)
SETTING = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*[=:]\s*(.*?)\s*$")
ALLOWED_VALUE = re.compile(
    r"""^(|["']?YOUR-[A-Z-]+["']?|["']?\$\{?[A-Z_]+\}?["']?|/run/secrets/\S+|\./\.secrets/\S+)$"""
)


def shipped_config_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "asterisk", "dialplan", "*.toml", "*.yml", "*.yaml", "*.conf"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if name.endswith((".conf", ".toml", ".yml", ".yaml"))]


def test_no_secret_values_in_shipped_configuration() -> None:
    files = shipped_config_files()
    assert any(f.name == "ari.conf" for f in files) and any(f.suffix == ".toml" for f in files)
    found = []
    for path in files:
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.lstrip().startswith((";", "#")):
                continue
            setting = SETTING.match(line)
            if setting is None or not SECRET_NAME.search(setting.group(1)):
                continue
            name, value = setting.group(1), setting.group(2).split(" ;")[0].strip()
            if name.upper().endswith("_FILE") or name.endswith("_format"):
                continue
            if not ALLOWED_VALUE.match(value):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_generated_secrets_are_never_committed() -> None:
    ignored = (ROOT / "asterisk" / ".gitignore").read_text("utf-8")
    assert ".secrets" in ignored
    tracked = subprocess.run(
        ["git", "ls-files", "asterisk/.secrets"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert tracked == ""
