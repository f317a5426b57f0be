"""The call of tests/fixtures/ami/takeover-wire.txt, rebuilt on an InMemoryPbx.

A call bridged by Dial() between two Local channels whose far halves a harness Stasis app
owns, as recorded on Asterisk 22.10.1.
"""

from __future__ import annotations

from pathlib import Path

from payivr.sim.ami.pbx import ChannelSnapshot, DialplanLocation, InMemoryPbx

WIRE = Path(__file__).resolve().parents[1] / "fixtures" / "ami" / "takeover-wire.txt"

BRIDGE = "1187e8de-d581-48a6-a984-629478315e62"
AGENT = "Local/agent@sim-agent-0000000d;1"
AGENT_PHONE = "Local/agent@sim-agent-0000000d;2"
CALLER = "Local/s@sim-dial-0000000c;2"
CALLER_PHONE = "Local/s@sim-dial-0000000c;1"


def build_scene() -> InMemoryPbx:
    pbx = InMemoryPbx()
    pbx.add_channel(
        ChannelSnapshot(
            name=AGENT_PHONE, uniqueid="1795296288.25", linkedid="ami-callerphone",
            connected_line_num="s", context="sim-agent", exten="agent", priority=2,
            application="Stasis", application_data="harness,agentphone", duration_seconds=1,
        )
    )
    pbx.add_channel(
        ChannelSnapshot(
            name=AGENT, uniqueid="1795296288.24", linkedid="ami-callerphone",
            caller_id_num="s", context="sim-agent", exten="", priority=1,
            application="AppDial", application_data="(Outgoing Line)", duration_seconds=1,
        )
    )
    pbx.add_channel(
        ChannelSnapshot(
            name=CALLER, uniqueid="ami-callerphone;2", linkedid="ami-callerphone",
            context="sim-dial", exten="s", priority=3, application="Dial",
            application_data="Local/agent@sim-agent/n,,", duration_seconds=2,
        )
    )
    pbx.add_channel(
        ChannelSnapshot(
            name=CALLER_PHONE, uniqueid="ami-callerphone", linkedid="ami-callerphone",
            context="sim-dial", exten="s", priority=1, application="Stasis",
            application_data="harness,callerphone", duration_seconds=2,
        )
    )
    pbx.add_bridge(BRIDGE, [AGENT, CALLER])
    return pbx


def press_star_seven(pbx: InMemoryPbx, amount: str | None = None, app: str = "") -> None:
    """The agent keys *7: the feature's Gosub raises the UserEvent, then returns. ``app``:
    the call's PAYIVR_APP (unset unless several payivrs share the Asterisk)."""
    pbx.move(AGENT, DialplanLocation("payivr-feature", "s", 1), application="UserEvent")
    fields = [("Agent", AGENT), ("Peer", CALLER)]
    if amount is not None:
        fields.append(("Amount", amount))
    if app:
        fields.append(("App", app))
    pbx.raise_user_event(AGENT, "PayIVRRequest", fields)
    pbx.move(AGENT, DialplanLocation("payivr-feature", "s", 2), application="Return")
