import os
import subprocess
import sys

from payivr.store.embedded import TEST_DIR_PREFIX, reap_abandoned_test_servers


def test_directories_of_dead_sessions_are_reaped_and_live_ones_kept(tmp_path):
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    abandoned = tmp_path / f"{TEST_DIR_PREFIX}dead"
    (abandoned / "pg").mkdir(parents=True)
    (abandoned / "owner.pid").write_text(dead_pid)
    alive = tmp_path / f"{TEST_DIR_PREFIX}alive"
    alive.mkdir()
    (alive / "owner.pid").write_text(str(os.getpid()))
    being_created = tmp_path / f"{TEST_DIR_PREFIX}new"
    being_created.mkdir()

    assert reap_abandoned_test_servers(tmp_path) == [abandoned]
    assert not abandoned.exists()
    assert alive.exists() and being_created.exists()


def test_crashed_session_server_is_stopped_by_the_next(tmp_path):
    """A process that starts a test server and is killed leaves it running; reaping stops it."""
    script = (
        "import os, sys, tempfile\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from payivr.store.embedded import start_test_server\n"
        "server = start_test_server()\n"
        "print(server.server.get_pid(), flush=True)\n"
        "os._exit(0)  # crash: no atexit cleanup\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    postmaster = int(result.stdout.split()[-1])
    assert _running(postmaster)

    [reaped] = reap_abandoned_test_servers(tmp_path)

    assert not reaped.exists()
    assert not _running(postmaster)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_payivr_own_server_keeps_its_data_between_runs(tmp_path):
    script = (
        "import sys, psycopg\n"
        "from pathlib import Path\n"
        "from payivr.store.embedded import start_embedded\n"
        "url = start_embedded(Path(sys.argv[1])).owner_url\n"
        "with psycopg.connect(url, autocommit=True) as conn:\n"
        "    conn.execute('CREATE TABLE IF NOT EXISTS kept (n int)')\n"
        "    conn.execute('INSERT INTO kept VALUES (1)')\n"
        "    print(conn.execute('SELECT current_database(), count(*) FROM kept').fetchone())\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "pg")],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        .stdout.strip()
        .splitlines()[-1]
        for _ in range(2)
    ]
    assert runs == ["('payivr', 1)", "('payivr', 2)"]
    assert not (tmp_path / "pg" / "postmaster.pid").exists()  # stopped at exit


_PRINT_OWNERS = (
    "import psycopg\n"
    "def print_owners(url):\n"
    "    with psycopg.connect(url) as conn:\n"
    "        print(conn.execute(\"SELECT array_agg(DISTINCT pg_get_userbyid(relowner)) FROM\"\n"
    "            \" pg_class WHERE relnamespace = 'public'::regnamespace\").fetchone())\n"
)


def test_an_older_data_directory_moves_to_payivrs_owner_and_runtime_roles(tmp_path):
    """Before the roles, payivr migrated and served as the embedded server's superuser: the
    next start gives payivr_owner the database and everything in it, and payivr serves as
    payivr_runtime."""
    older = _PRINT_OWNERS + (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from psycopg.conninfo import make_conninfo\n"
        "from payivr.store import migrate\n"
        "from payivr.store.embedded import start_embedded\n"
        "owner_url = start_embedded(Path(sys.argv[1])).owner_url\n"
        "superuser_url = make_conninfo(owner_url, user='postgres')\n"
        "asyncio.run(migrate(superuser_url))\n"
        "print_owners(superuser_url)\n"
    )
    now = _PRINT_OWNERS + (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from payivr.store import Database\n"
        "from payivr.store.embedded import start_embedded\n"
        "urls = start_embedded(Path(sys.argv[1]))\n"
        "async def serve():\n"
        "    db = await Database.connect_runtime(urls.runtime_url, owner_conninfo=urls.owner_url)\n"
        "    async with db.pool.connection() as conn:\n"
        "        cursor = await conn.execute('SELECT current_user')\n"
        "        print(await cursor.fetchone())\n"
        "    await db.close()\n"
        "asyncio.run(serve())\n"
        "print_owners(urls.owner_url)\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "pg")],
            capture_output=True,
            text=True,
            check=True,
            timeout=90,
        ).stdout.strip().splitlines()
        for script in (older, now)
    ]
    assert outputs[0][-1] == "(['postgres'],)"
    assert outputs[1][-2:] == ["('payivr_runtime',)", "(['payivr_owner'],)"]
