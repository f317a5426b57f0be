"""The payivr command as a person runs it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from payivr.core.diagram import mermaid_diagram
from payivr.demo.terminal import HELP

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payivr.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def test_flow_diagram_prints_the_table_and_the_readme_shows_the_same() -> None:
    result = run("flow-diagram")
    assert result.returncode == 0
    assert result.stdout.strip() == mermaid_diagram()
    readme = (ROOT / "README.md").read_text()
    assert mermaid_diagram() in readme, "README's diagram is stale: run payivr flow-diagram"


def test_bad_configuration_stops_with_the_setting_named() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payivr.cli", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PAYIVR_ARI_URL": "nonsense"},
        check=False,
    )
    assert result.returncode == 2
    assert "ari.url (PAYIVR_ARI_URL)" in result.stderr
    assert "ari.password (PAYIVR_ARI_PASSWORD): is required" in result.stderr


def test_the_sandbox_gateway_starts_only_when_told_it_is_a_sandbox(tmp_path: Path) -> None:
    assert run("keygen", str(tmp_path)).returncode == 0
    result = run("sandbox-gateway", "--keys", str(tmp_path), "--listen", "127.0.0.1:0")
    assert result.returncode != 0
    assert "charges nothing. Start it with --sandbox" in result.stderr


def test_terminal_rehearsal_completes_a_payment() -> None:
    keys = "1\n4242424242424242#\n1\n1230\n1\n123\n1\n90210#\n1\n"
    result = run("demo", "--terminal", stdin=keys)
    assert result.returncode == 0, result.stderr
    # Money as money, one line per entry (with its digit count), not one per digit.
    assert "=== Payment request: Annual storage plan, $137.42 ===" in result.stdout
    assert "Card number: done (16 digits) - Visa ending 4242" in result.stdout
    assert "Card number: entering" not in result.stdout
    assert ": waiting" not in result.stdout
    assert "Payment approved: $137.42, transaction ch_" in result.stdout
    # The number shows only in the help's list of test cards, never in what the run printed.
    assert result.stdout.count("4242424242424242") == HELP.count("4242424242424242")


def test_terminal_rehearsal_cancel_decline_and_attempts() -> None:
    cancelled = run("demo", "--terminal", stdin="1\n42*\n")
    assert "Payment not taken: the caller cancelled the payment" in cancelled.stdout
    declined_card = "4000000000000002#\n1\n1230\n1\n123\n1\n90210#\n1\n"
    declined = run("demo", "--terminal", stdin="1\n" + declined_card * 3)  # two more tries
    assert declined.stdout.count("try another card") == 2
    assert "Payment not taken: the card was declined" in declined.stdout
    exhausted = run("demo", "--terminal", stdin="1\n1234#\n1234#\n1234#\n")
    assert "Card number: failed (4 digits) - too many invalid entries" in exhausted.stdout
    assert "Payment not taken: too many invalid card numbers" in exhausted.stdout
    rejected = run("demo", "--terminal", stdin="2\n")
    assert "Payment not taken: the caller did not accept the amount" in rejected.stdout
    for result in (cancelled, declined, exhausted, rejected):
        # Words, not internal codes.
        assert not any(code in result.stdout for code in ("_by_caller", "attempts_", "FAILED"))


def test_terminal_rehearsal_quit_mid_payment_makes_up_no_failure() -> None:
    result = run("demo", "--terminal", stdin="1\n4\nq\n")
    assert result.returncode == 0, result.stderr
    assert "=== Rehearsal ended ===" in result.stdout
    assert "Payment not taken" not in result.stdout
    assert "hung up" not in result.stdout
    one = run("demo", "--terminal", stdin="1\n4*\n")
    assert "Card number: failed (1 digit)" in one.stdout or "(1 digit)" in one.stdout


def test_flow_diagram_into_a_closed_pipe_is_quiet() -> None:
    # `payivr flow-diagram | head -0`: the reader is gone before payivr writes.
    process = subprocess.Popen(
        [sys.executable, "-m", "payivr.cli", "flow-diagram"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, errors
    assert errors == ""


def test_ctrl_c_while_the_demo_starts_stops_it_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    environment = {**os.environ, "XDG_DATA_HOME": str(data)}
    process = subprocess.Popen(
        [sys.executable, "-m", "payivr.cli", "demo", "--console-listen", "127.0.0.1:0",
         "--phones-listen", "127.0.0.1:0"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # Ctrl-C once the embedded PostgreSQL is being set up, long before the demo is ready.
    for _ in range(600):
        if (data / "payivr" / "pg").exists() or process.poll() is not None:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output and "Task was destroyed" not in output, output
    assert "payivr demo stopped." in output
    leftover = subprocess.run(
        ["pgrep", "-f", str(data)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout == "", "an embedded PostgreSQL outlived the demo"


def test_terminal_rehearsal_times_out() -> None:
    # No key after the amount prompt: the no-input timer (shortened here) fails the payment.
    process = subprocess.Popen(
        [sys.executable, "-m", "payivr.cli", "demo", "--terminal", "--no-input-timeout", "0.5"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Payment not taken" in line:
            break
    process.stdin.write("q\n")
    process.stdin.close()
    process.wait(timeout=60)
    assert "Payment not taken: the caller did not press a key in time" in "".join(lines)

def test_agent_accounts_from_the_command_line(runtime_database_url: str) -> None:
    environment = {"PATH": "/usr/bin:/bin", "PAYIVR_DATABASE_URL": runtime_database_url}

    def agent(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payivr.cli", "agent", *args],
            input=password + "\n", capture_output=True, text=True, timeout=60, env=environment,
            check=False,
        )  # fmt: skip

    added = agent("add", "alice", "--endpoint", "PJSIP/1001", password="correct horse 42")
    assert added.returncode == 0, added.stderr
    assert "agent alice added on PJSIP/1001" in added.stdout
    short = agent("add", "bob", "--endpoint", "PJSIP/1003", password="short")
    assert short.returncode == 2
    assert "12 characters" in short.stderr
    no_digits = agent("add", "bob", "--endpoint", "PJSIP/1003", password="correct horse battery")
    assert no_digits.returncode == 2
    assert "letters and digits" in no_digits.stderr  # PCI DSS 8.3.6
    again = agent("password", "alice", password="another long password 7")
    assert again.returncode == 0, again.stderr
    assert "correct horse" not in added.stdout + added.stderr
    no_phone = agent("add", "carol", password="a long enough password 1")
    assert no_phone.returncode == 2
    assert "needs a softphone endpoint" in no_phone.stderr

    # The token the OpenAPI document names: shown once, then usable until revoked.
    token = agent("token", "alice", "--label", "crm", "--days", "30")
    assert token.returncode == 0, token.stderr
    assert token.stdout.startswith("pivr_")
    assert "valid 30 days" in token.stdout
    listed = agent("list")
    assert listed.returncode == 0, listed.stderr
    assert "alice" in listed.stdout and "API tokens: 1" in listed.stdout
    revoked = agent("token", "alice", "--revoke")
    assert "1 API token(s) of alice revoked" in revoked.stdout
    unlocked = agent("unlock", "alice")
    assert unlocked.returncode == 0, unlocked.stderr
    assert "failed sign-in(s) on alice forgotten" in unlocked.stdout
    disabled = agent("disable", "alice")
    assert disabled.returncode == 0, disabled.stderr
    assert "disabled" in agent("list").stdout
    unknown = agent("unlock", "nobody")
    assert unknown.returncode == 2 and "no account named 'nobody'" in unknown.stderr


def test_database_roles_from_the_command_line(
    database_url: str, runtime_database_url: str
) -> None:
    """payivr migrate runs as the owner; payivr refuses to run as a role that could alter
    the audit trail (here the superuser an older deployment gave database.url)."""

    def payivr(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payivr.cli", *args], capture_output=True, text=True,
            timeout=60, env={"PATH": "/usr/bin:/bin", **environment}, check=False,
        )  # fmt: skip

    as_owner = payivr("agent", "list", PAYIVR_DATABASE_URL=database_url)
    assert as_owner.returncode == 2
    assert "will not run as a database role that can alter its audit trail" in as_owner.stderr
    assert "postgres is a superuser" in as_owner.stderr
    no_owner = payivr("migrate", PAYIVR_DATABASE_URL=runtime_database_url)
    assert no_owner.returncode == 2 and "set database.migrate_url" in no_owner.stderr
    migrated = payivr(
        "migrate",
        PAYIVR_DATABASE_URL=runtime_database_url,
        PAYIVR_DATABASE_MIGRATE_URL=database_url,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert "database is up to date" in migrated.stdout
    assert payivr("agent", "list", PAYIVR_DATABASE_URL=runtime_database_url).returncode == 0


def test_sms_reminders_from_a_csv_file(runtime_database_url: str, tmp_path: Path) -> None:
    due = "2099-03-10"
    rows = tmp_path / "reminders.csv"
    rows.write_text(
        "customer,phone,amount,due_date\n"
        f"CUST-1,+14155550101,137.00,{due}\nCUST-2,+14155550102,42.50,{due}\n"
        f"CUST-3,not-a-phone,1.00,{due}\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "PAYIVR_DATABASE_URL": runtime_database_url,
        "PAYIVR_SMS_ENABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-m", "payivr.cli", "sms", "remind", str(rows), "--agent", "alice"],
        capture_output=True, text=True, timeout=60, env=environment, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 reminders scheduled" in result.stdout
    assert "1 refused" in result.stdout
    assert "+1415555" not in result.stdout  # phone numbers are personal data
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,phone\nCUST-1,+14155550101\n")
    refused = subprocess.run(
        [sys.executable, "-m", "payivr.cli", "sms", "remind", str(bad), "--agent", "alice"],
        capture_output=True, text=True, timeout=60, env=environment, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "the CSV header lacks amount, due_date" in refused.stderr
