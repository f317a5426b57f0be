"""Where the end-to-end suite finds its Asterisk: the simulators (default) or a real one.

A :class:`Target` gives scenarios phones and the few things a test does to the PBX itself
(place calls, look at bridges, break things). :func:`target_from_environment` picks the
simulators unless ``PAYIVR_TEST_ARI_URL`` names a real Asterisk (see
:mod:`tests.e2e.asterisk_target`).

Time: every wait of the suite is ``within`` real seconds (for payivr, the PBX and the test to
react on a loaded machine) plus a minute of call audio scaled by the target's one setting,
``time_scale`` (:func:`tests.e2e.phones.real_seconds`): the simulator plays prompts 100 times
faster, a real Asterisk at their real length (a card payment's prompts take ~100 s).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from payivr.sim.ami.ari_pbx import AriSimulatorPbx
from payivr.sim.ami.server import AmiSimulator
from payivr.sim.ari import AriSimulator
from payivr.sim.ari.model import ASTERISK_ID
from tests.e2e.phones import SIMULATOR_TIME_SCALE, Phone, SimulatedPhone

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
APP = "payivr"
BRIDGE_PREFIX = "payivr-"

ENTRIES = ("takeover", "inbound", "payline", "transfer")


@dataclass(frozen=True)
class PbxAccess:
    """How payivr reaches the target's ARI and AMI, and the Stasis application it is."""

    ari_url: str
    ari_user: str
    ari_password: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    app: str = APP
    # payivr settings this target needs, as environment variables (e.g. the real
    # Asterisk's callers are Local channels driven over ARI: their keys are always events).
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BridgeView:
    """A bridge as the test sees it. ``types`` and ``absorbing`` are None where the target
    cannot tell (a real Asterisk shows neither ``dtmf_events`` nor ``absorbDTMF``)."""

    id: str
    channels: frozenset[str]
    technology: str
    types: frozenset[str] | None
    absorbing: frozenset[str] | None


class Target(Protocol):
    simulated: bool
    access: PbxAccess
    time_scale: float
    """Real seconds per second of call audio (prompts, tones, ring time)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def caller_phone(self, name: str, number: str) -> Phone:
        """A new idle customer phone with extension ``number`` (e.g. ``1002``)."""

    trunk: str
    """payivr's ``[outbound] trunk``: the dial string that reaches the phones of :meth:`trunk_phone`."""

    def agent_phone(self, name: str, number: str, answers: bool = True) -> Phone:
        """A new idle agent phone with extension ``number`` (e.g. ``1001``); one that does
        not ``answer`` rings until the caller gives up."""

    def trunk_phone(self, name: str, number: str, answers: str | None = "person") -> Phone:
        """A customer's phone reached at ``number`` (E.164) through :attr:`trunk`. When
        called it rings, then ``answers`` as a ``person`` (a short word, then silence: AMD()
        says HUMAN) or a ``machine`` (a greeting longer than amd.conf's 1.5 s: MACHINE), or
        rings until refused or given up (None)."""

    async def connect(self, caller: Phone, agent: Phone, context: str = "sim-dial") -> None:
        """``caller`` calls ``agent`` through ``Dial()`` (with *7 enabled on the agent's leg);
        returns once both are up and bridged, outside payivr. ``context`` is where the
        caller's call starts: ``sim-dial``, or one setting its language first
        (``sim-spanish``, ``sim-french``)."""

    async def call_entry(self, caller: Phone, entry: str, agent: Phone | None) -> None:
        """``caller`` dials a payivr entry: ``inbound`` (through payivr to ``agent``),
        ``payline`` (13742 cents, INV-1001), ``payline-keyed`` (the shipped 7290, nothing
        preset) or ``transfer`` (sent by ``agent``, 13742 cents, item "Annual plan")."""

    async def bridges(self) -> list[BridgeView]: ...

    async def stasis_channels(self) -> list[str]:
        """Ids of the channels in payivr's Stasis application now."""

    async def drop_event_sockets(self) -> None:
        """Break payivr's event WebSocket (the client must notice and reconnect)."""

    def fail_next(self, method: str, path: str, count: int = 1, status: int = 500) -> None:
        """Make the next ``count`` matching ARI requests fail (simulator only)."""


class SimulatorTarget:
    """The ARI simulator with payivr's dialplan, and the AMI simulator on top of it."""

    simulated = True
    time_scale = SIMULATOR_TIME_SCALE
    trunk = "PJSIP/{number}@trunk"

    def __init__(self, asterisk_id: str = ASTERISK_ID) -> None:
        self.sim = AriSimulator(
            APP, "sim-secret", time_scale=self.time_scale, asterisk_id=asterisk_id
        )
        self.sim.mount_sounds("payivr", ROOT / "sounds")
        # The shipped configuration, as the compose file mounts it: the PBX's extensions.conf
        # (its [globals] and phones' contexts), payivr's contexts, features.conf's codes.
        for shipped in (ROOT / "asterisk" / "extensions.conf", ROOT / "dialplan" / "payivr.conf"):
            self.sim.dialplan.load(shipped.read_text())
        for features in (ROOT / "asterisk" / "features.conf", ROOT / "dialplan" / "features.conf"):
            self.sim.dialplan.load_features(features.read_text())
        self.sim.dialplan.load((HERE / "sim-dialplan.conf").read_text())
        self.pbx = AriSimulatorPbx(self.sim)
        self.ami = AmiSimulator(self.pbx, users={"payivr": "ami-secret"})
        self.access = PbxAccess("", APP, "sim-secret", "127.0.0.1", 0, "payivr", "ami-secret")
        self.created_bridge_types: dict[str, frozenset[str]] = {}

    async def start(self) -> None:
        url = await self.sim.start()
        await self.ami.start()
        self.access = PbxAccess(
            url, APP, "sim-secret", "127.0.0.1", self.ami.port, "payivr", "ami-secret"
        )
        self.sim.add_request_observer(self._note_bridge)

    async def close(self) -> None:
        await self.ami.close()
        await self.sim.stop()

    def _note_bridge(self, method: str, path: str, body: bytes) -> None:
        """Remember the type asked for each bridge created (``POST /ari/bridges[/{id}]``)."""
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        if method != "POST" or parts[:2] != ["ari", "bridges"] or len(parts) > 3:
            return
        query = parse_qs(url.query)
        bridge_id = parts[2] if len(parts) == 3 else query.get("bridgeId", ["?"])[0]
        kinds = query.get("type", ["mixing"])[0].split(",")
        self.created_bridge_types[bridge_id] = frozenset(k.strip() for k in kinds)

    def caller_phone(self, name: str, number: str) -> SimulatedPhone:
        return SimulatedPhone(
            self.sim.add_phone(name, endpoint=f"PJSIP/{number}", context="from-customers")
        )

    def agent_phone(self, name: str, number: str, answers: bool = True) -> SimulatedPhone:
        """Its channels run in [from-agents], as asterisk/pjsip.conf's agent endpoint's do."""
        return SimulatedPhone(
            self.sim.add_phone(
                name, endpoint=f"PJSIP/{number}", context="from-agents", auto_answer=answers
            )
        )

    def trunk_phone(self, name: str, number: str, answers: str | None = "person") -> SimulatedPhone:
        return SimulatedPhone(
            self.sim.add_phone(
                name,
                endpoint=self.trunk.format(number=number),
                auto_answer=answers is not None,
                answering_machine=answers == "machine",
            )
        )

    async def connect(self, caller: Phone, agent: Phone, context: str = "sim-dial") -> None:
        assert isinstance(caller, SimulatedPhone) and isinstance(agent, SimulatedPhone)
        await self.sim.dial(caller.sim_phone, agent.sim_phone, context=context)

    async def call_entry(self, caller: Phone, entry: str, agent: Phone | None) -> None:
        assert isinstance(caller, SimulatedPhone)
        number = agent.endpoint.split("/", 1)[1] if agent is not None else "7290"
        await caller.sim_phone.call(number, context=f"sim-{entry}")

    async def bridges(self) -> list[BridgeView]:
        return [
            BridgeView(
                bridge.id,
                frozenset(c.id for c in bridge.channels),
                bridge.technology,
                bridge.types,
                frozenset(c.id for c in bridge.channels if c.absorb_dtmf),
            )
            for bridge in self.sim.bridges.values()
        ]

    async def stasis_channels(self) -> list[str]:
        return [channel.id for channel in self.sim.stasis_channels(APP)]

    async def drop_event_sockets(self) -> None:
        await self.sim.drop_websockets(APP, mode="abort")

    def fail_next(self, method: str, path: str, count: int = 1, status: int = 500) -> None:
        self.sim.fail_next(method, path, count=count, status=status)


def target_type(environ: Mapping[str, str] = os.environ) -> type[Target]:
    """The simulators, or a real Asterisk when ``PAYIVR_TEST_ARI_URL`` names one."""
    if not environ.get("PAYIVR_TEST_ARI_URL"):
        return SimulatorTarget
    from tests.e2e.asterisk_target import AsteriskTarget

    return AsteriskTarget


def target_from_environment(environ: Mapping[str, str] = os.environ) -> Target:
    """The simulators, or the real Asterisk that ``PAYIVR_TEST_ARI_URL`` & co. name."""
    if not environ.get("PAYIVR_TEST_ARI_URL"):
        return SimulatorTarget()
    from tests.e2e.asterisk_target import AsteriskTarget

    return AsteriskTarget.from_environment(environ)
