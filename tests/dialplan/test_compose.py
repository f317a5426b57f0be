"""asterisk/: the compose file parses, everything it mounts exists, secrets are generated."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from payivr.config import load_config

ROOT = Path(__file__).resolve().parents[2]
ASTERISK = ROOT / "asterisk"
SECRET_NAMES = (
    "ami_secret", "ari_password", "postgres_password", "runtime_password", "sip_1001_password",
    "sip_1002_password",
)  # fmt: skip


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ASTERISK / "docker-compose.yml").read_text())
    return document


def init_secrets(out: Path, **env: str) -> None:
    subprocess.run(
        ["sh", str(ASTERISK / "init-secrets.sh")],
        env={**os.environ, "PAYIVR_SECRETS_DIR": str(out), **env},
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("secrets")
    init_secrets(out)
    return out


def source(path: str, secrets: Path) -> Path:
    """A compose path (relative to asterisk/); ./.secrets is the generated directory."""
    if path.startswith("./.secrets"):
        return secrets / path.removeprefix("./.secrets").lstrip("/")
    return (ASTERISK / path).resolve()


def test_every_bind_mount_and_secret_file_exists(secrets_dir: Path) -> None:
    document = compose()
    mounts = 0
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            host, _, _ = volume.partition(":")
            if host in document["volumes"]:
                continue  # a named volume
            assert source(host, secrets_dir).exists(), f"{name}: {host}"
            mounts += 1
        if "build" in service:
            context = ASTERISK / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).is_file()
        for secret in service.get("secrets", []):
            assert secret in document["secrets"], f"{name}: {secret}"
    for secret in document["secrets"].values():
        assert source(secret["file"], secrets_dir).is_file()
    assert mounts >= 20


def test_asterisk_config_includes_resolve_inside_the_container(secrets_dir: Path) -> None:
    asterisk = compose()["services"]["asterisk"]
    in_container = {}
    for volume in asterisk["volumes"]:
        host, _, rest = volume.partition(":")
        in_container[rest.split(":")[0]] = source(host, secrets_dir)
    etc = {path: host for path, host in in_container.items() if path.startswith("/etc/asterisk")}
    includes = 0
    for path, host in etc.items():
        if host.is_dir():
            continue
        for included in re.findall(r'^#include "([^"]+)"', host.read_text(), re.MULTILINE):
            target = f"/etc/asterisk/{included}"
            directory, _, leaf = target.rpartition("/")
            assert target in etc or (directory in etc and (etc[directory] / leaf).is_file()), (
                f"{path} includes {included}"
            )
            includes += 1
    assert includes >= 8


def test_asterisk_runs_without_debug_and_never_reports_dtmf() -> None:
    asterisk = compose()["services"]["asterisk"]
    assert not any(re.fullmatch(r"-v*d+v*d*", arg) for arg in asterisk["command"])
    logger = (ASTERISK / "logger.conf").read_text()
    assert not re.search(r"^\s*[^;].*=>.*\bdtmf\b", logger, re.MULTILINE)
    manager = (ASTERISK / "manager.conf").read_text()
    read = re.findall(r"^read\s*=\s*(.*)$", manager, re.MULTILINE)
    assert read and all("dtmf" not in line and "all" not in line for line in read)
    pjsip = (ASTERISK / "pjsip.conf").read_text()
    assert "dtmf_mode = rfc4733" in pjsip and "direct_media = no" in pjsip
    assert "enable = no" in (ASTERISK / "cdr.conf").read_text()


def test_no_password_is_committed() -> None:
    for path in ASTERISK.iterdir():
        if path.is_file() and path.suffix in (".conf", ".toml", ".yml"):
            for line in path.read_text().splitlines():
                if re.match(r"^\s*(secret|password)\s*=", line):
                    assert "YOUR-PROVIDER" in line, f"{path.name}: {line}"


def test_init_secrets_makes_distinct_secrets_once_and_renders_snippets(tmp_path: Path) -> None:
    init_secrets(tmp_path)
    first = {name: (tmp_path / name).read_text().strip() for name in SECRET_NAMES}
    assert all(re.fullmatch(r"[0-9a-f]{48}", value) for value in first.values())
    assert len(set(first.values())) == len(first)
    init_secrets(tmp_path, ASTERISK_EXTERNAL_ADDRESS="203.0.113.7")
    assert {name: (tmp_path / name).read_text().strip() for name in SECRET_NAMES} == first
    snippets = tmp_path / "asterisk"
    assert (snippets / "ami-payivr.conf").read_text() == f"secret = {first['ami_secret']}\n"
    assert (snippets / "ari-payivr.conf").read_text() == f"password = {first['ari_password']}\n"
    assert "external_media_address = 203.0.113.7" in (snippets / "pjsip-transport.conf").read_text()
    assert (tmp_path / "database_url").read_text().strip() == (
        f"postgresql://payivr_runtime:{first['runtime_password']}@postgres:5432/payivr"
    )
    assert (tmp_path / "database_migrate_url").read_text().strip() == (
        f"postgresql://payivr:{first['postgres_password']}@postgres:5432/payivr"
    )


def test_payivr_config_of_the_container_loads_with_its_secret_files(secrets_dir: Path) -> None:
    payivr = compose()["services"]["payivr"]
    environ = {
        key: str(secrets_dir / Path(value).name) if value.startswith("/run/secrets/") else value
        for key, value in payivr["environment"].items()
        if not value.startswith("/var/lib/payivr/")
    }
    config = load_config(ASTERISK / "payivr.toml", environ)
    assert config.ami.secret == (secrets_dir / "ami_secret").read_text().strip()
    assert config.ari.password == (secrets_dir / "ari_password").read_text().strip()
    assert config.database.url is not None and config.database.url.endswith("@postgres:5432/payivr")
    config.validate(("ari", "ami", "database", "console", "calls"))
    # payivr serves as the runtime role; only the one-shot payivr-migrate has the owner's URL.
    assert config.database.url.startswith("postgresql://payivr_runtime:")
    assert config.database.migrate_url is None
    assert "database_migrate_url" not in payivr["secrets"]
    migrate = compose()["services"]["payivr-migrate"]
    assert migrate["command"][-1] == "migrate" and "database_migrate_url" in migrate["secrets"]
    assert f"[{config.ari.user}]" in (ASTERISK / "ari.conf").read_text()
    assert f"[{config.ami.user}]" in (ASTERISK / "manager.conf").read_text()


def install_local(etc: Path, secrets: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ASTERISK / "install-local.sh"), "--etc", str(etc), *args],
        env={**os.environ, "PAYIVR_SECRETS_DIR": str(secrets)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_install_local_puts_what_compose_mounts_into_a_native_asterisk(tmp_path: Path) -> None:
    """A native Asterisk (prefix/etc/asterisk) gets every file the compose file mounts into
    /etc/asterisk, the secrets, and the prompts; a second run changes nothing; an operator's
    own file is kept beside payivr's."""
    etc = tmp_path / "prefix" / "etc" / "asterisk"
    etc.mkdir(parents=True)
    (etc / "extensions.conf").write_text("; the operator's own dialplan\n")
    secrets = tmp_path / "secrets"
    first = install_local(etc, secrets)
    assert first.returncode == 0, first.stderr
    for volume in compose()["services"]["asterisk"]["volumes"]:
        host, _, rest = volume.partition(":")
        inside = rest.split(":")[0]
        if inside.startswith("/etc/asterisk/"):
            installed = etc / inside.removeprefix("/etc/asterisk/")
            shipped = source(host, secrets)
            if shipped.is_dir():
                assert sorted(p.name for p in installed.iterdir()) == sorted(
                    p.name for p in shipped.iterdir()
                )
            else:
                assert installed.read_bytes() == shipped.read_bytes(), inside
    assert (etc / "secrets" / "ari-payivr.conf").read_text() == (
        f"password = {(secrets / 'ari_password').read_text().strip()}\n"
    )
    assert (etc / "secrets" / "ari-payivr.conf").stat().st_mode & 0o007 == 0
    assert (etc / "extensions.conf.before-payivr").read_text() == "; the operator's own dialplan\n"
    prompts = tmp_path / "prefix" / "var" / "lib" / "asterisk" / "sounds" / "payivr"
    assert prompts.resolve() == (ROOT / "sounds").resolve()
    again = install_local(etc, secrets)
    assert again.returncode == 0 and "installed" not in again.stdout and "kept" not in again.stdout


def test_install_local_refuses_a_missing_directory_with_a_reason(tmp_path: Path) -> None:
    answer = install_local(tmp_path / "nowhere", tmp_path / "secrets")
    assert answer.returncode == 1
    assert "is not a directory" in answer.stderr
    assert not (tmp_path / "secrets").exists()
    elsewhere = tmp_path / "conf"
    elsewhere.mkdir()
    answer = install_local(elsewhere, tmp_path / "secrets")
    assert answer.returncode == 1 and "give --sounds DIR" in answer.stderr


def _read_as(path: Path, uid: int, gid: int) -> str | None:
    """``path``'s text read by a process of that user and group (no other groups), or None
    when it may not."""
    result = subprocess.run(
        ["cat", str(path)], user=uid, group=gid, extra_groups=[], capture_output=True,
        text=True, timeout=30, check=False,
    )  # fmt: skip
    return result.stdout if result.returncode == 0 else None


def test_attack_another_local_user_reads_no_secret() -> None:
    """Issue 13 #10: init-secrets.sh wrote every secret 0644 in a 0755 directory, so any user
    of the host could read the ARI password (which yields every digit a caller keys). Now
    another user reads nothing; Asterisk's group (1000) reads only its snippets, payivr's
    group (10001) only payivr's four files, and the operator everything."""
    # A directory anyone may enter, as a checkout on a shared host (pytest's are 0700).
    with tempfile.TemporaryDirectory(prefix="payivr-host-") as base:
        Path(base).chmod(0o755)
        _check_secret_permissions(Path(base) / ".secrets")


def _check_secret_permissions(out: Path) -> None:
    init_secrets(out)
    files = sorted(path for path in out.rglob("*") if path.is_file())
    assert len(files) == 13
    world = [path.name for path in files if path.stat().st_mode & 0o007]
    assert world == []
    if os.getuid() != 0:
        return  # reading as other users needs root; the modes above are the same proof
    asterisk_files = {path for path in files if path.parent.name == "asterisk"}
    payivr_files = {out / "ami_secret", out / "ari_password", out / "database_url"}
    payivr_files.add(out / "database_migrate_url")  # mounted into payivr-migrate only
    for path in files:
        assert _read_as(path, 65534, 65534) is None, f"nobody read {path.name}"
        assert (_read_as(path, 1000, 1000) is not None) == (path in asterisk_files), path.name
        assert (_read_as(path, 10001, 10001) is not None) == (path in payivr_files), path.name
        assert path.stat().st_uid == os.getuid()
    assert oct((out / "sip_1001_password").stat().st_mode & 0o777) == "0o600"
    assert oct((out / "asterisk" / "ari-payivr.conf").stat().st_mode & 0o777) == "0o640"


def test_answering_machine_detection_has_its_config_mounted() -> None:
    """[payivr-outbound-amd] runs AMD(); app_amd declines to load without amd.conf."""
    assert "AMD()" in (ROOT / "dialplan" / "payivr.conf").read_text()
    asterisk = compose()["services"]["asterisk"]
    assert "./amd.conf:/etc/asterisk/amd.conf:ro" in asterisk["volumes"]
    settings = configparser.ConfigParser(inline_comment_prefixes=(";",), comment_prefixes=(";",))
    settings.read_string((ASTERISK / "amd.conf").read_text())
    general = {name: int(value) for name, value in settings["general"].items()}
    assert set(general) == {
        "initial_silence",
        "greeting",
        "after_greeting_silence",
        "total_analysis_time",
        "min_word_length",
        "between_words_silence",
        "maximum_number_of_words",
        "maximum_word_length",
        "silence_threshold",
    }
    assert general["total_analysis_time"] > general["initial_silence"]
