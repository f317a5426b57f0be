"""The shipped dialplan parses (asterisklint) and agrees with what payivr's code expects."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from payivr.ami.takeover import (
    AGENT_LOCATION,
    CALLER_LOCATION,
    KEY_VARIABLE,
    PEER_VARIABLE,
    REQUEST_EVENT,
)
from payivr.config import AriSettings, CallSettings
from payivr.core.prompts import PROMPT_IDS

ROOT = Path(__file__).resolve().parents[2]
PAYIVR_CONF = ROOT / "dialplan" / "payivr.conf"
FEATURES_CONF = ROOT / "dialplan" / "features.conf"
ASTERISK = ROOT / "asterisk"
ASTERISKLINT = Path(sys.executable).with_name("asterisklint")


def stage(tmp_path: Path, payivr_conf: str | None = None) -> Path:
    """/etc/asterisk as docker-compose.yml mounts it (dialplan files only)."""
    shutil.copy(ASTERISK / "extensions.conf", tmp_path / "extensions.conf")
    shutil.copy(ASTERISK / "test-dialplan.conf", tmp_path / "test-dialplan.conf")
    (tmp_path / "payivr.conf").write_text(payivr_conf or PAYIVR_CONF.read_text())
    return tmp_path / "extensions.conf"


def lint(extensions: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ASTERISKLINT), "dialplan-check", str(extensions)],
        capture_output=True,
        text=True,
        cwd=extensions.parent,
        timeout=60,
        check=False,
    )


# asterisklint's list of applications has no AMD (app_amd, Asterisk's answering machine
# detection, which [payivr-outbound-amd] runs); any other message fails the check.
LINT_KNOWN_GAPS = ("E_APP_MISSING: app 'AMD' does not exist",)


def test_asterisklint_finds_nothing(tmp_path: Path) -> None:
    result = lint(stage(tmp_path))
    output = result.stdout + result.stderr
    found = [
        line for line in output.splitlines() if not any(gap in line for gap in LINT_KNOWN_GAPS)
    ]
    assert found == [], output
    assert result.returncode == (1 if output else 0)


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (("Gosub(payivr-read-amount,s,1)", "Gosub(payivr-read-amt,s,1)"), "E_DP_GOTO_NOCONTEXT"),
        (("Playback(payivr/${PAYIVR_LANG}/goodbye)", "Playbak(x)"), "E_APP_MISSING"),
        (("${PAYIVR_KEY})", "${PAYIVR_KEY)"), "W_APP_BALANCE"),
    ],
)
def test_asterisklint_would_catch_mistakes(
    tmp_path: Path, breakage: tuple[str, str], error: str
) -> None:
    text = PAYIVR_CONF.read_text()
    assert breakage[0] in text
    result = lint(stage(tmp_path, text.replace(breakage[0], breakage[1], 1)))
    assert result.returncode == 1
    assert error in result.stdout + result.stderr


# A small reading of the same files, for cross-checks with payivr's code.
Line = tuple[str, str, str, str]  # exten, priority or label, application, data


def contexts(text: str) -> dict[str, list[Line]]:
    found: dict[str, list[Line]] = {}
    current = None
    exten = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if match := re.fullmatch(r"\[([^\]]+)\](\(.*\))?", line):
            current = match[1]
            found[current] = []
        elif match := re.fullmatch(r"(exten|same)\s*=>\s*(.*)", line):
            assert current is not None
            fields = match[2].split(",", 2 if match[1] == "exten" else 1)
            if match[1] == "exten":
                exten = fields.pop(0).strip()
            priority, app = fields[0].strip(), fields[1].strip()
            name, _, data = app.partition("(")
            found[current].append((exten, priority, name, data.removesuffix(")")))
    return found


PAYIVR = contexts(PAYIVR_CONF.read_text())


def first_app(context: str, exten: str) -> tuple[str, str]:
    line = next(line for line in PAYIVR[context] if line[0] == exten)
    assert line[1] == "1"
    return line[2], line[3]


STASIS_APP = f'${{IF($["${{PAYIVR_APP}}" = ""]?{AriSettings().app}:${{PAYIVR_APP}})}}'
"""The Stasis application: PAYIVR_APP, else payivr's default ``ari.app``."""


def test_redirect_targets_start_stasis_with_the_key() -> None:
    for location, leg in ((CALLER_LOCATION, "caller"), (AGENT_LOCATION, "agent")):
        assert location.priority == 1
        app, data = first_app(location.context, location.exten)
        assert (app, data) == ("Stasis", f"{STASIS_APP},takeover,{leg},${{{KEY_VARIABLE}}}")
    caller_lines = PAYIVR[CALLER_LOCATION.context]
    assert ("Bridge", f"${{{PEER_VARIABLE}}}") in [(line[2], line[3]) for line in caller_lines]


def test_feature_code_raises_the_event_payivr_listens_for() -> None:
    mapping = [
        line.split("=>")[1].strip()
        for line in FEATURES_CONF.read_text().splitlines()
        if line.startswith("payivr =>")
    ]
    assert mapping == ["*7,self,Gosub(payivr-feature,s,1)"]
    events = [line[3] for line in PAYIVR["payivr-feature"] if line[2] == "UserEvent"]
    assert events == [
        f"{REQUEST_EVENT},Agent: ${{CHANNEL}},Peer: ${{BRIDGEPEER}},Amount: ${{GOSUB_RETVAL}},"
        "App: ${PAYIVR_APP}"
    ]
    agi = [line[3] for line in PAYIVR["payivr-feature-agi"] if line[2] == "AGI"]
    secret = '${IF($["${PAYIVR_AGI_SECRET}" = ""]?:/${PAYIVR_AGI_SECRET})}'
    assert len(agi) == 1 and f"/pay{secret},${{BRIDGEPEER}},${{GOSUB_RETVAL}}" in agi[0]


def test_every_stasis_entry_is_followed_by_its_fallback() -> None:
    entries = set()
    for name, lines in PAYIVR.items():
        for index, (_, _, app, data) in enumerate(lines):
            if app == "Stasis":
                assert data.startswith(f"{STASIS_APP},"), name
                entries.add(data.split(",")[1])
                assert lines[index + 1][2:] == ("Gosub", "payivr-stasis-result,s,1"), name
    assert entries == {"takeover", "payline", "transfer", "inbound", "outbound"}
    result = [line[3] for line in PAYIVR["payivr-stasis-result"]]
    assert any("STASISSTATUS" in data and "FAILED" in data for data in result)
    assert any("PAYIVR_ERROR" in data for data in result)  # payivr's refuse_channel


def test_continue_context_of_payivr_exists() -> None:
    assert CallSettings().continue_context in PAYIVR
    assert PAYIVR[CallSettings().continue_context][0][:2] == ("s", "1")


def test_prompts_played_by_the_dialplan_exist() -> None:
    played = set(re.findall(r"payivr/\$\{PAYIVR_LANG\}/([a-z-]+)", PAYIVR_CONF.read_text()))
    assert played == {"goodbye", "payments-unavailable"}
    assert played <= PROMPT_IDS


def test_test_dialplan_and_demo_contexts_reach_payivr() -> None:
    test_plan = contexts((ASTERISK / "test-dialplan.conf").read_text())
    assert {"sim-dial", "sim-agent", "sim-inbound", "sim-payline"} <= set(test_plan)
    assert ("_X.", "n", "Stasis", "harness-${CUT(EXTEN,-,1)},agentphone") in test_plan["sim-agent"]
    demo = contexts((ASTERISK / "extensions.conf").read_text())
    dials = [line[3] for line in demo["from-customers"] if line[2] == "Dial"]
    # t/T: the agent (called, or calling) may blind-transfer with #1 (features.conf).
    assert dials == ["PJSIP/1001,30,tb(payivr-agent-features^s^1)"]
    agent_dials = [line[3] for line in demo["from-agents"] if line[2] == "Dial"]
    assert agent_dials and all(dial.endswith(",T") for dial in agent_dials)
