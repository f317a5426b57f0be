"""The payivr command as a person runs it."""

import subprocess
import sys
from pathlib import Path

from payivr.core.flow import mermaid_diagram
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


def test_terminal_rehearsal_completes_a_payment() -> None:
    keys = "1\n4242424242424242#\n1\n1230\n1\n123\n1\n90210#\n1\n"
    result = run("demo", "--terminal", stdin=keys)
    assert result.returncode == 0, result.stderr
    assert "Card number: done - Visa ending 4242" in result.stdout
    assert "Payment SUCCESS: approved - transaction" in result.stdout
    # The number shows only in the help's list of test cards, never in what the run printed.
    assert result.stdout.count("4242424242424242") == HELP.count("4242424242424242")


def test_terminal_rehearsal_cancel_decline_and_attempts() -> None:
    cancelled = run("demo", "--terminal", stdin="1\n42*\n")
    assert "Payment FAILED: cancelled" in cancelled.stdout
    declined = run(
        "demo", "--terminal", stdin="1\n4000000000000002#\n1\n1230\n1\n123\n1\n90210#\n1\n"
    )
    assert "Payment FAILED: declined" in declined.stdout
    exhausted = run("demo", "--terminal", stdin="1\n1234#\n1234#\n1234#\n")
    assert "Payment FAILED: attempts_exhausted" in exhausted.stdout
    rejected = run("demo", "--terminal", stdin="2\n")
    assert "Payment FAILED: declined_by_caller" in rejected.stdout


def test_terminal_rehearsal_times_out() -> None:
    # No key after the amount prompt: the no-input timer (shortened here) fails the payment.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import subprocess, sys, time\n"
                "p = subprocess.Popen([sys.executable, '-m', 'payivr.cli', 'demo', '--terminal',"
                " '--no-input-timeout', '0.5'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n"
                "time.sleep(3)\n"
                "out, _ = p.communicate('q\\n', timeout=30)\n"
                "print(out)\n"
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert "Payment FAILED: timed_out" in result.stdout


def test_agent_accounts_from_the_command_line(database_url: str) -> None:
    environment = {"PATH": "/usr/bin:/bin", "PAYIVR_DATABASE_URL": database_url}

    def agent(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "payivr.cli", "agent", *args],
            input=password + "\n", capture_output=True, text=True, timeout=60, env=environment,
            check=False,
        )  # fmt: skip

    added = agent("add", "alice", "--endpoint", "PJSIP/1001", password="correct horse battery")
    assert added.returncode == 0, added.stderr
    assert "agent alice added on PJSIP/1001" in added.stdout
    short = agent("add", "bob", "--endpoint", "PJSIP/1003", password="short")
    assert short.returncode == 2
    assert "12 characters" in short.stderr
    again = agent("password", "alice", password="another long password")
    assert again.returncode == 0, again.stderr
    assert "correct horse" not in added.stdout + added.stderr
    no_phone = agent("add", "carol", password="a long enough password")
    assert no_phone.returncode == 2
    assert "needs a softphone endpoint" in no_phone.stderr


def test_sms_reminders_from_a_csv_file(database_url: str, tmp_path: Path) -> None:
    due = "2099-03-10"
    rows = tmp_path / "reminders.csv"
    rows.write_text(
        "customer,phone,amount,due_date\n"
        f"CUST-1,+14155550101,137.00,{due}\nCUST-2,+14155550102,42.50,{due}\n"
        f"CUST-3,not-a-phone,1.00,{due}\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "PAYIVR_DATABASE_URL": database_url,
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
