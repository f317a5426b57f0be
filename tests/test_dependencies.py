"""The dependencies `make install` takes: pinned with hashes, above the known CVEs' fixes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The first release without the CVE: aiohttp CVE-2025-53643, cryptography CVE-2024-12797.
FLOORS = {"aiohttp": (3, 12, 14), "cryptography": (44, 0, 1)}


def _pins(lock: str = "requirements.lock") -> dict[str, tuple[str, list[str]]]:
    text = (ROOT / lock).read_text()
    pins = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        first = block.split(" ", 1)[0]
        if "==" in first:
            name, version = first.split("==")
            pins[name.lower()] = (version, re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"[0-9]+", text)[:3])


def test_the_lock_pins_every_dependency_with_hashes_above_the_cve_floors() -> None:
    pins = _pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in ("dev", "browser", "fast"):
        wanted += project["optional-dependencies"][extra]
    for requirement in wanted:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is not in requirements.lock (run make lock)"
    assert all(hashes for _, hashes in pins.values())
    for name, floor in FLOORS.items():
        assert _version(pins[name][0]) >= floor
        assert f"{name}>={'.'.join(map(str, floor))}" in " ".join(project["dependencies"])


def test_the_images_runtime_lock_is_the_same_versions_with_hashes() -> None:
    """requirements-runtime.lock (the Dockerfile's) holds the runtime dependencies only, at
    the versions requirements.lock pins."""
    full, runtime = _pins(), _pins("requirements-runtime.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower() in runtime
    for name, (version, hashes) in runtime.items():
        assert hashes and full[name][0] == version, name
    assert "pytest" not in runtime and "playwright" not in runtime
