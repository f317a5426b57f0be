"""The simulated world of ``bench_calls.py``, in its own process: Asterisk (the ARI simulator
with payivr's dialplan, the AMI simulator on top), the TLS sandbox gateway, a CRM receiver,
and the people: callers and agents on simulated phones.

Started by ``bench_calls.py`` with :func:`serve` in a ``spawn`` process; it answers over a
``multiprocessing`` pipe:

- at start it sends ``{"ari_url", "ami_port", "gateway_url", "ca_file", "crm_url"}``;
- ``{"cmd": "run", "calls": N, "ramp": s, "deadline": s, "seed": n}`` plays N calls and sends
  back what happened (see :func:`run_calls`); ``{"cmd": "stop"}`` ends the process.

Each call, as a contact centre would see it: the customer calls the agent (``Dial()``), they
talk a moment, the agent keys ``*7`` then the amount and ``#`` (the dialplan's ``Read()``), the
feature code reaches payivr over AMI, payivr takes both legs into Stasis and the customer
keys a Visa card with its expiry, security code and postal code, confirming each entry with
1 after its read-back. Keys come one every 150-300 ms; the customer starts keying 1-3 s
after a prompt starts (often over its end: barge-in); prompts last as long as the WAV files in
``sounds/`` (``time_scale=1.0``; ``--quick`` runs the world a third faster, keys too). After the outcome the customer is back with the agent, they
talk a moment, and the customer hangs up.

Timing done here (the simulator's clock, ``time.monotonic()``): the takeover, from the
feature code's ``UserEvent`` to the first prompt payivr starts on the customer's channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web

from payivr.cli import fastest_loop
from payivr.gateway.sandbox import read_secret, start_sandbox
from payivr.sim.ami.ari_pbx import AriSimulatorPbx
from payivr.sim.ami.server import AmiSimulator
from payivr.sim.ari import AriSimulator, SimPhone, SimulatorEvent, UserEventRaised

ROOT = Path(__file__).resolve().parents[1]
APP = "payivr"
ARI_PASSWORD = "bench-ari-secret"  # noqa: S105 - the simulator's, on 127.0.0.1 only
AMI_SECRET = "bench-ami-secret"  # noqa: S105
PROMPT = "sound:payivr/en/"
VISA = "4242424242424242"
AMOUNT = "13742"
# (prompt that must have started, how many times, keys): the caller's side of a payment.
SCRIPT = (
    ("confirm-amount", 1, "1"),
    ("enter-card-number", 1, VISA + "#"),
    ("confirm-entry", 1, "1"),
    ("enter-expiry", 1, "1230"),
    ("confirm-entry", 2, "1"),
    ("enter-security-code", 1, "123"),
    ("confirm-entry", 3, "1"),
    ("enter-postal-code", 1, "90210#"),
    ("confirm-entry", 4, "1"),
)
# Seconds a caller waits for a prompt before giving up: real seconds, simulated ones when the
# world runs slower (a read-back of 16 digits lasts 10 simulated seconds).
STEP_WITHIN = 60.0


@dataclass
class CallRecord:
    index: int
    stage: str = "not started"
    ok: bool = False
    caller_channel: str = ""
    feature_code_at: float | None = None
    first_prompt_at: float | None = None
    approved: bool = False
    finished_at: float | None = None


class World:
    def __init__(self, sim: AriSimulator) -> None:
        self.sim = sim
        self.by_agent_channel: dict[str, CallRecord] = {}
        self.by_caller_channel: dict[str, CallRecord] = {}
        sim.add_listener(self._on_simulator_event)
        sim.add_event_observer(self._on_ari_event)

    def _on_simulator_event(self, event: SimulatorEvent) -> None:
        if isinstance(event, UserEventRaised) and event.name == "PayIVRRequest":
            record = self.by_agent_channel.get(event.channel.id)
            if record is not None and record.feature_code_at is None:
                record.feature_code_at = time.monotonic()

    def _on_ari_event(self, app: str, event: dict[str, Any]) -> None:
        if event["type"] != "PlaybackStarted":
            return
        target = event["playback"].get("target_uri", "")
        record = self.by_caller_channel.get(target.removeprefix("channel:"))
        if record is not None and record.first_prompt_at is None:
            record.first_prompt_at = time.monotonic()


def _started(phone: SimPhone, prompt: str, times: int) -> bool:
    return phone.heard.count(PROMPT + prompt) >= times


async def _key(phone: SimPhone, rng: random.Random, keys: str, scale: float) -> None:
    """A key every 150-300 ms: a gap of 70-220 ms, then the key held 80 ms (simulated)."""
    for key in keys:
        await asyncio.sleep(rng.uniform(0.07, 0.22) * scale)
        await phone.press(key, duration_ms=80, gap_ms=0)


async def _until(check: Any, within: float, step: float = 0.2) -> None:
    """Poll ``check`` (what the phones cannot wait for: who hears whom, channels gone)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 - no event to wait on for these
            await asyncio.sleep(step)


async def one_call(world: World, index: int, rng: random.Random, start_in: float,
                   record: CallRecord) -> None:
    sim = world.sim
    scale = sim.clock.time_scale
    patience = STEP_WITHIN * max(1.0, scale)
    await asyncio.sleep(start_in)
    caller = sim.add_phone(f"caller{index}", endpoint=f"PJSIP/2{index:04d}")
    agent = sim.add_phone(f"agent{index}", endpoint=f"PJSIP/1{index:04d}")
    try:
        record.stage = "dial"
        call = await sim.dial(caller, agent)
        world.by_agent_channel[call.agent_channel_id] = record
        world.by_caller_channel[call.caller_channel_id] = record
        record.caller_channel = call.caller_channel_id
        await asyncio.sleep(rng.uniform(0.5, 2.0) * scale)  # they talk; the agent asks for payment
        record.stage = "feature code"
        await agent.press("*7", duration_ms=80, gap_ms=150)
        await agent.wait_for(lambda p: "sound:beep" in p.heard, patience)
        await _key(agent, rng, AMOUNT + "#", scale)
        for prompt, times, keys in SCRIPT:
            record.stage = f"{prompt} #{times}"
            await caller.wait_for(
                lambda p, prompt=prompt, times=times: _started(p, prompt, times), patience
            )
            await asyncio.sleep(rng.uniform(1.0, 3.0) * scale)
            await _key(caller, rng, keys, scale)
        record.stage = "outcome"
        await caller.wait_for(
            lambda p: _started(p, "returning-to-agent", 1) or _started(p, "goodbye", 1),
            patience,
        )
        record.approved = _started(caller, "payment-approved", 1)
        record.stage = "back with the agent"
        await _until(lambda: caller.can_hear(agent), patience)
        await asyncio.sleep(rng.uniform(0.5, 1.5) * scale)
        record.stage = "hangup"
        await caller.hangup()
        await _until(lambda: caller.channel is None and agent.channel is None, patience)
        record.ok = True
        record.stage = "done"
    except Exception as error:  # a benchmark reports what went wrong, it does not stop
        record.stage += f" ({type(error).__name__})"
        for phone in (caller, agent):
            if phone.channel is not None:
                with contextlib.suppress(Exception):
                    await phone.hangup()
    finally:
        record.finished_at = time.monotonic()


async def _lag_ticker(samples: list[float]) -> None:
    while True:
        started = time.monotonic()
        await asyncio.sleep(0.01)
        samples.append(time.monotonic() - started - 0.01)


async def run_calls(world: World, calls: int, ramp: float, deadline: float, seed: int,
                    first: int = 0, step: int = 1) -> dict[str, Any]:
    """Play ``calls`` calls started evenly over ``ramp`` s; stop waiting after ``deadline`` s.

    Split over several simulator processes (``sim_front.py``), this one plays every
    ``step``-th call from call ``first``, at its place in the ramp.
    """
    rng = random.Random(seed)
    # A run after another (payivr's, then the floor's) plays the same phones again.
    world.sim.engine.phones.clear()
    world.by_agent_channel.clear()
    world.by_caller_channel.clear()
    records = [CallRecord(index) for index in range(first, calls, step)]
    lags: list[float] = []
    ticker = asyncio.create_task(_lag_ticker(lags))
    cpu_started, started = time.process_time(), time.monotonic()
    tasks = [
        asyncio.create_task(
            one_call(world, record.index, random.Random(rng.random()),
                     record.index * ramp / calls, record)
        )
        for record in records
    ]
    _, late = await asyncio.wait(tasks, timeout=deadline)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    ticker.cancel()
    return {
        "started": started,
        "elapsed": time.monotonic() - started,
        "cpu": time.process_time() - cpu_started,
        "lag": lags,
        "records": [asdict(record) for record in records],
        "timed_out": len(late),
    }


async def _crm_receiver() -> tuple[web.AppRunner, str]:
    async def activities(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/activities", activities)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/activities"


async def _serve(conn: Connection, keys_dir: Path, time_scale: float, backend: int) -> None:
    sim = AriSimulator(APP, ARI_PASSWORD, time_scale=time_scale)
    # Channel ids are <epoch>.<n>: each simulator process of a split one has its own epoch,
    # by which the front (sim_front.py) routes requests about a channel.
    sim.engine.lifecycle.epoch += backend
    sim.mount_sounds("payivr", ROOT / "sounds")
    sim.dialplan.load((ROOT / "dialplan" / "payivr.conf").read_text("utf-8"))
    ari_url = await sim.start()
    ami = AmiSimulator(AriSimulatorPbx(sim), users={"payivr": AMI_SECRET})
    await ami.start()
    sandbox = await start_sandbox(
        "127.0.0.1",
        0,
        keys_dir / "gateway-private.pem",
        signing_secret=read_secret(keys_dir / "signing-secret"),
        tls=keys_dir,
    )
    crm, crm_url = await _crm_receiver()
    world = World(sim)
    conn.send({"ari_url": ari_url, "ami_port": ami.port, "gateway_url": sandbox.url,
               "ca_file": str(sandbox.ca_file), "crm_url": crm_url})
    try:
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command["cmd"] != "run":
                break
            conn.send(await run_calls(world, command["calls"], command["ramp"],
                                      command["deadline"], command["seed"],
                                      command.get("first", 0), command.get("step", 1)))
    finally:
        await crm.cleanup()
        await sandbox.close()
        await ami.close()
        await sim.stop()


def serve(conn: Connection, keys_dir: str, cpus: list[int] | None, time_scale: float,
          backend: int = 0) -> None:
    """The process's entry point."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    if cpus:
        import os

        os.sched_setaffinity(0, cpus)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # uvloop when installed, as payivr runs: the simulated world is the load, not the subject.
    with asyncio.Runner(loop_factory=fastest_loop()) as runner:
        runner.run(_serve(conn, Path(keys_dir), time_scale, backend))
