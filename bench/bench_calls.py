"""payivr under N concurrent calls: latency, CPU, memory, event-loop lag, throughput, takeover.

payivr runs in this process, wired by ``running_payivr(config)`` as ``payivr serve`` wires it,
with an embedded PostgreSQL (tuned for tests: no fsync). Everything else runs in a second
process (``bench/calls_sim.py``), so its CPU is not counted as payivr's: the ARI simulator
with payivr's dialplan (``time_scale=1.0``, prompts as long as the WAV files in ``sounds/``),
the AMI simulator, the TLS sandbox gateway, a CRM receiver, and the callers and agents. Each
call is the main flow: ``Dial()``, ``*7`` + amount keyed by the agent, the AMI takeover, a
Visa card keyed one key every 150-300 ms, the outcome, back to the agent, hang-up (see
``calls_sim.py``). Calls start evenly over the ramp; all N are in progress together for most
of the run.

Figures (payivr's process unless said):

- key → request: from a ``ChannelDtmfReceived`` message taken off payivr's event WebSocket to
  the next ARI request payivr sends about that channel (stop the prompt, or play the next
  one), measured in payivr through ``EventStream.add_observer`` and
  ``AriClient.add_request_observer``. Keys that cause no request (the middle of an entry)
  are not counted. The network both ways is not included.
- CPU per payment: ``time.process_time()`` over the run / payments approved (payivr's
  process: call control, its database client, the console and its bus listener; the
  embedded PostgreSQL's processes are reported apart).
- the floor: after payivr, the same calls (same seed, same phones, same simulator process)
  are played against ``bench/floor.py``, a minimal raw-aiohttp ARI application that asks
  Asterisk for what payivr asks for a successful card payment. Its CPU per payment and
  payivr's over it (the ratio) are the last lines: ratios from one run are what a shared
  machine measures honestly, absolute times are not.
- memory per call: RSS growth at the peak number of calls in payivr's hands / those calls.
- loop lag: a 10 ms ticker's lateness.
- payments/s: measured (bounded by the callers' pace), and the ceiling of one core
  (1 / CPU per payment).
- takeover: in the simulator's process, from the feature code's ``UserEvent`` to the first
  prompt payivr starts on the caller's channel (AMI, Redirect, Stasis, bridge, the payment
  row, the flow's start, the first ``play``).

    .venv/bin/python bench/bench_calls.py [--calls 100 1000 5000] [--quick] [--asyncio]
                                          [--no-floor] [--profile FILE] [--time-limit S]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import calls_sim  # bench/calls_sim.py: the script's directory is on sys.path
import floor  # bench/floor.py
import psycopg
import sim_front  # bench/sim_front.py
from psycopg import sql
from psycopg.conninfo import make_conninfo

from payivr.ari.events import AriEvent, ChannelDtmfReceived, PlaybackStarted, StasisStart
from payivr.calls.notifier import PaymentEvent, PaymentFinished
from payivr.cli import fastest_loop, running_payivr
from payivr.config import load_config
from payivr.console.passwords import hash_password
from payivr.core.events import Outcome
from payivr.gateway.pki import write_test_tls
from payivr.gateway.sandbox import keygen, read_secret
from payivr.log import configure_logging
from payivr.store import Database
from payivr.store.embedded import RUNTIME_ROLE, ensure_roles, start_test_server, stop_test_server
from payivr.store.migrations import migrate

PAGE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Timings:
    """From payivr's event and request observers: key → next request on the same channel;
    when each channel's first ``StasisStart`` arrived and its first prompt was asked for."""

    def __init__(self) -> None:
        self.pending: dict[str, float] = {}
        self.playback_channel: dict[str, str] = {}
        self.samples: list[float] = []
        self.sampled_at: list[float] = []
        self.keys = 0
        self.stasis_at: dict[str, float] = {}
        self.first_play_at: dict[str, float] = {}

    def on_event(self, event: AriEvent, received: float) -> None:
        if isinstance(event, ChannelDtmfReceived):
            self.keys += 1
            self.pending[event.channel.id] = received
        elif isinstance(event, PlaybackStarted) and event.playback.channel_id:
            self.playback_channel[event.playback.id] = event.playback.channel_id
        elif isinstance(event, StasisStart):
            self.stasis_at.setdefault(event.channel.id, received)

    def on_request(self, method: str, path: tuple[str, ...]) -> None:
        if len(path) < 2:
            return
        if path[0] == "channels":
            channel: str | None = path[1]
            if path[2:] == ("play",):
                self.first_play_at.setdefault(path[1], time.monotonic())
        elif path[0] == "playbacks":
            channel = self.playback_channel.get(path[1])
        else:
            return
        started = self.pending.pop(channel, None) if channel else None
        if started is not None:
            now = time.monotonic()
            self.samples.append(now - started)
            self.sampled_at.append(now)


@dataclass
class Result:
    calls: int
    completed: int = 0
    approved: int = 0
    peak_calls: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    sim_cpu: float = 0.0  # the simulated world's processes: simulators and their front
    front_cpu: float = 0.0
    key_latency: list[float] = field(default_factory=list)
    # once every call had its first prompt (the takeovers' ramp is over)
    steady_key_latency: list[float] = field(default_factory=list)
    keys: int = 0
    loop_lag: list[float] = field(default_factory=list)
    sim_lag: list[float] = field(default_factory=list)
    rss_per_call: float = float("nan")
    takeover: list[float] = field(default_factory=list)
    to_stasis: list[float] = field(default_factory=list)
    stasis_to_prompt: list[float] = field(default_factory=list)
    payments_per_s: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    timed_out: int = 0
    log_warnings: int = 0
    heard_approved: int = 0  # the callers heard "approved" (the floor's measure too)
    postgres_cpu: float = 0.0
    floor: FloorRun | None = None


@dataclass
class FloorRun:
    cpu: float
    approved: int  # the callers heard "approved"
    elapsed: float


async def _ticker(samples: list[float]) -> None:
    while True:
        started = time.monotonic()
        await asyncio.sleep(0.01)
        samples.append(time.monotonic() - started - 0.01)


async def _sampler(active: Callable[[], int], samples: list[tuple[int, int]]) -> None:
    while True:
        samples.append((active(), rss_bytes()))
        await asyncio.sleep(0.25)


def _proc_stat(pid: str) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (field 3, the state, first)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended
        return None
    return text.rpartition(")")[2].split()


def postgres_cpu(server: Any) -> float:
    """CPU seconds of the embedded PostgreSQL so far: the postmaster, its reaped backends
    and its live ones (from /proc: utime, stime, cutime, cstime)."""
    postmaster = (Path(server.server.pgdata) / "postmaster.pid").read_text().split()[0]
    ticks = 0
    own = _proc_stat(postmaster)
    if own is not None:
        ticks += sum(int(value) for value in own[11:15])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fields = _proc_stat(pid)
        if fields is not None and fields[1] == postmaster:  # a backend (its parent)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


async def add_agent_accounts(database: Database, n: int) -> None:
    """A console account on each agent's softphone (``PJSIP/1NNNN``, see calls_sim.py): payivr
    takes ``*7`` only from a console account's phone."""
    password_hash = hash_password("bench agent password 1")
    async with database.pool.connection() as conn:
        await conn.cursor().executemany(
            "INSERT INTO console_accounts (name, endpoint, role, password_hash, created_at,"
            " password_set_at) VALUES (%s, %s, 'agent', %s, now(), now())"
            " ON CONFLICT DO NOTHING",
            [(f"agent {index}", f"PJSIP/1{index:04d}", password_hash) for index in range(n)],
        )


async def run_payivr(
    n: int, sim: dict[str, Any], conn: sim_front.SimGroup, database_url: str, keys: Path,
    ramp: float, deadline: float, profile: str | None, database_cpu: Callable[[], float],
) -> Result:
    """Start payivr on the simulator's world, play ``n`` calls, gather the figures."""
    config = load_config(
        None,
        {
            "PAYIVR_ARI_URL": sim["ari_url"],
            "PAYIVR_ARI_USER": calls_sim.APP,
            "PAYIVR_ARI_PASSWORD": calls_sim.ARI_PASSWORD,
            "PAYIVR_AMI_HOST": "127.0.0.1",
            "PAYIVR_AMI_PORT": str(sim["ami_port"]),
            "PAYIVR_AMI_SECRET": calls_sim.AMI_SECRET,
            "PAYIVR_DATABASE_URL": database_url,
            "PAYIVR_GATEWAY_URL": sim["gateway_url"],
            "PAYIVR_GATEWAY_PUBLIC_KEY": str(keys / "gateway-public.pem"),
            "PAYIVR_GATEWAY_SIGNING_SECRET": read_secret(keys / "signing-secret"),
            "PAYIVR_GATEWAY_CA_BUNDLE": sim["ca_file"],
            "PAYIVR_CRM_WEBHOOK_URL": sim["crm_url"],
            "PAYIVR_CRM_WEBHOOK_SECRET": "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "PAYIVR_CONSOLE_LISTEN": "127.0.0.1:0",
            # settings to compare, e.g. PAYIVR_ARI_POOL_SIZE=60 in the environment
            **{k: v for k, v in os.environ.items() if k.startswith("PAYIVR_")},
        },
    )
    config.validate()
    result = Result(n)
    latency = Timings()
    lags: list[float] = []
    memory: list[tuple[int, int]] = []
    finished: list[tuple[float, Outcome]] = []

    async def on_payment(event: PaymentEvent) -> None:
        if isinstance(event, PaymentFinished):
            finished.append((time.monotonic(), event.finish.outcome))

    async with running_payivr(config) as running:
        await add_agent_accounts(running.database, n)
        await asyncio.wait_for(running.events.connected.wait(), 10)
        running.notifier.subscribe(on_payment, only=(PaymentFinished,))
        running.events.add_observer(latency.on_event)
        running.ari.add_request_observer(latency.on_request)
        gc.collect()
        baseline = rss_bytes()
        helpers = [
            asyncio.create_task(_ticker(lags)),
            asyncio.create_task(_sampler(lambda: len(running.stasis.sessions), memory)),
        ]
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        # PostgreSQL's CPU first: reading it walks /proc, which must not count as payivr's.
        database_cpu_started = database_cpu()
        cpu_started = time.process_time()
        conn.send({"cmd": "run", "calls": n, "ramp": ramp, "deadline": deadline, "seed": n})
        outcome = await asyncio.to_thread(conn.recv)
        result.cpu = time.process_time() - cpu_started
        result.postgres_cpu = database_cpu() - database_cpu_started
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        for helper in helpers:
            helper.cancel()
    records = outcome["records"]
    result.completed = sum(1 for r in records if r["ok"])
    result.heard_approved = sum(1 for r in records if r["approved"])
    result.approved = sum(1 for _, o in finished if o is Outcome.APPROVED)
    result.elapsed = outcome["elapsed"]
    result.sim_cpu = outcome["cpu"]
    result.front_cpu = outcome.get("front_cpu", 0.0)
    result.sim_lag = outcome["lag"]
    result.timed_out = outcome["timed_out"]
    result.key_latency = latency.samples
    if latency.first_play_at:
        ramp_over = max(latency.first_play_at.values())
        result.steady_key_latency = [
            sample
            for sample, at in zip(latency.samples, latency.sampled_at, strict=True)
            if at > ramp_over
        ]
    result.keys = latency.keys
    result.loop_lag = lags
    result.takeover = [
        r["first_prompt_at"] - r["feature_code_at"]
        for r in records
        if r["first_prompt_at"] is not None and r["feature_code_at"] is not None
    ]
    for r in records:
        stasis = latency.stasis_at.get(r["caller_channel"])
        play = latency.first_play_at.get(r["caller_channel"])
        if stasis is not None and r["feature_code_at"] is not None:
            result.to_stasis.append(stasis - r["feature_code_at"])
        if stasis is not None and play is not None:
            result.stasis_to_prompt.append(play - stasis)
        if not r["ok"]:
            result.failures[r["stage"]] = result.failures.get(r["stage"], 0) + 1
    if memory:
        peak_calls = max(calls for calls, _ in memory)
        result.peak_calls = peak_calls
        if peak_calls:
            result.rss_per_call = (max(rss for _, rss in memory) - baseline) / peak_calls
    if len(finished) >= 2:
        times = sorted(t for t, _ in finished)
        # The steady part: between the 10th and the 90th percentile of finishing times.
        low, high = times[len(times) // 10], times[(len(times) * 9) // 10]
        inside = sum(1 for t in times if low <= t <= high)
        result.payments_per_s = inside / (high - low) if high > low else float("nan")
    return result


async def run_floor(n: int, sim: dict[str, Any], conn: sim_front.SimGroup, ramp: float,
                    deadline: float) -> FloorRun:
    """The same calls (same seed) against the floor (bench/floor.py), measured as payivr is
    (the same loop-lag ticker running beside it)."""
    app = floor.Floor(sim["ari_url"], calls_sim.APP, calls_sim.ARI_PASSWORD, sim["ami_port"],
                      calls_sim.AMI_SECRET)
    running = asyncio.create_task(app.run())
    await asyncio.wait_for(app.connected.wait(), 10)
    ticker = asyncio.create_task(_ticker([]))
    cpu_started = time.process_time()
    conn.send({"cmd": "run", "calls": n, "ramp": ramp, "deadline": deadline, "seed": n})
    outcome = await asyncio.to_thread(conn.recv)
    cpu = time.process_time() - cpu_started
    for task in (ticker, running):
        task.cancel()
    await asyncio.gather(ticker, running, return_exceptions=True)
    approved = sum(1 for r in outcome["records"] if r["approved"])
    return FloorRun(cpu, approved, outcome["elapsed"])


def run_one(n: int, server: Any, keys: Path, args: argparse.Namespace) -> Result:
    database = f"bench_calls_{n}_{os.getpid()}"
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    ensure_roles(server.admin_url)
    asyncio.run(migrate(server.url(database), RUNTIME_ROLE))  # as payivr's owner does
    url = make_conninfo(server.url(database), user=RUNTIME_ROLE)  # what payivr serves as

    context = multiprocessing.get_context("spawn")
    cpus = sorted(os.sched_getaffinity(0))
    payivr_cpus, sim_cpus = ([cpus[0]], cpus[1:]) if len(cpus) > 1 and args.pin else (None, None)
    pipes, processes = [], []
    for backend in range(args.sim_processes):
        ours, theirs = context.Pipe()
        pipes.append(ours)
        processes.append(context.Process(
            target=calls_sim.serve,
            args=(theirs, str(keys), sim_cpus, args.time_scale, backend),
            daemon=True,
        ))
        processes[-1].start()
    try:
        backends = []
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("a simulator process did not start")
            backends.append(pipe.recv())
        sim, sims = backends[0], sim_front.SimGroup(list(pipes))
        if len(backends) > 1:
            # One ARI and one AMI in front of them all (sim_front.py), in its own process.
            ours, theirs = context.Pipe()
            processes.append(context.Process(
                target=sim_front.serve,
                args=(theirs, [b["ari_url"] for b in backends], [b["ami_port"] for b in backends],
                      sim_cpus),
                daemon=True,
            ))
            processes[-1].start()
            if not ours.poll(60):
                raise RuntimeError("the simulators' front did not start")
            sim = {**sim, **ours.recv()}
            pipes.append(ours)
            sims.front_pid = processes[-1].pid
        if payivr_cpus:
            os.sched_setaffinity(0, payivr_cpus)
        ramp = args.ramp if args.ramp is not None else min(30.0, max(2.0, n / 40))
        ramp *= args.time_scale
        coroutine = run_payivr(
            n, sim, sims, url, keys, ramp, args.time_limit,
            f"{args.profile}.{n}" if args.profile else None, lambda: postgres_cpu(server),
        )
        result = _run(coroutine, args.loop)
        if args.floor:
            # The same calls (same seed) against the same simulator process: the floor.
            result.floor = _run(run_floor(n, sim, sims, ramp, args.time_limit), args.loop)
        for pipe in pipes:
            pipe.send({"cmd": "stop"})
        for process in processes:
            process.join(10)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
        os.sched_setaffinity(0, cpus)
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    return result


def _run(coroutine: Coroutine[Any, Any, T],
         loop_factory: Callable[[], asyncio.AbstractEventLoop] | None) -> T:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    loop = "asyncio" if args.loop is None else "uvloop"
    print()
    print(f"payivr under concurrent calls ({loop}; payivr pinned to one core: "
          f"{'yes' if args.pin else 'no'}; simulated time x{1 / args.time_scale:g}; "
          f"load average before: {args.load:.2f})")
    print()
    header = ("calls", "done", "peak", "key→req p50", "p99", "max", "CPU s/pay",
              "KiB/call", "lag p50", "p99", "max", "pay/s", "ceiling", "takeover p50",
              "p99", "sim CPU%", "sim lag p99")
    rows = []
    for r in results:
        cpu_per = r.cpu / r.approved if r.approved else float("nan")
        rows.append((
            f"{r.calls:,}",
            f"{r.completed:,}",
            f"{r.peak_calls:,}",
            _ms(percentile(r.key_latency, 0.5)),
            _ms(percentile(r.key_latency, 0.99)),
            _ms(max(r.key_latency, default=float("nan"))),
            f"{cpu_per:.4f}",
            f"{r.rss_per_call / 1024:.0f}",
            _ms(percentile(r.loop_lag, 0.5)),
            _ms(percentile(r.loop_lag, 0.99)),
            _ms(max(r.loop_lag, default=float("nan"))),
            f"{r.payments_per_s:.1f}",
            f"{1 / cpu_per:.0f}" if r.approved else "-",
            _ms(percentile(r.takeover, 0.5)),
            _ms(percentile(r.takeover, 0.99)),
            f"{100 * r.sim_cpu / r.elapsed:.0f}" if r.elapsed else "-",
            _ms(percentile(r.sim_lag, 0.99)),
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print()
    print("times in ms; key→req: a key's event taken off payivr's WebSocket to payivr's next "
          "request on that channel (no network); takeover: *7's UserEvent to the first prompt, "
          "in the simulator's process; KiB/call: RSS growth / peak calls in payivr's hands; "
          "pay/s measured (the callers' pace), ceiling = 1 / CPU s per payment on one core; "
          "sim CPU% and lag: the simulator's processes (their front included), as a share of "
          "one core (when they are saturated, keys arrive late).")
    for r in results:
        notes = []
        if r.timed_out:
            notes.append(f"{r.timed_out} calls still running at the time limit")
        if r.failures:
            notes.append("unfinished: " + ", ".join(f"{k}: {v}" for k, v in r.failures.items()))
        notes.append(
            f"takeover p50 = *7 to StasisStart {_ms(percentile(r.to_stasis, 0.5))} "
            f"+ StasisStart to first play {_ms(percentile(r.stasis_to_prompt, 0.5))} "
            f"(p99 {_ms(percentile(r.to_stasis, 0.99))} + "
            f"{_ms(percentile(r.stasis_to_prompt, 0.99))})"
        )
        if r.steady_key_latency:
            notes.append(
                "key→req once every call had its first prompt: p50 "
                f"{_ms(percentile(r.steady_key_latency, 0.5))}, p99 "
                f"{_ms(percentile(r.steady_key_latency, 0.99))} "
                f"({len(r.steady_key_latency):,} samples)"
            )
        share = f" ({100 * r.cpu / r.elapsed:.0f}% of its core)" if r.elapsed else ""
        notes.append(f"{r.approved} approved, {r.keys:,} keys, {len(r.key_latency):,} "
                     f"key→request samples, run {r.elapsed:.0f} s, payivr CPU {r.cpu:.1f} s"
                     + share)
        if r.completed:
            front = f", of which the front {r.front_cpu:.1f} s" if r.front_cpu else ""
            notes.append(f"simulated world CPU {r.sim_cpu:.1f} s{front}: "
                         f"{1000 * r.sim_cpu / r.completed:.0f} ms per completed call")
        print(f"  N={r.calls}: " + "; ".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--quick", action="store_true",
                        help="100 and 1,000 calls in a world a third faster (prompts and keys), "
                             "each followed by the floor: under 5 minutes on a quiet machine")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="real seconds per simulated second (1.0: prompts of real length)")
    parser.add_argument("--ramp", type=float, help="seconds over which calls start")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="seconds after which unfinished calls are abandoned (per N)")
    parser.add_argument("--asyncio", action="store_true",
                        help="run on asyncio's own loop (default: uvloop when installed, as "
                             "`payivr serve`)")
    parser.add_argument("--sim-processes", type=int, default=1,
                        help="simulated Asterisks, each its own process, behind one ARI and AMI "
                             "front (bench/sim_front.py); the calls dealt out among them")
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the floor (bench/floor.py) after each payivr run")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin payivr to one core and the simulator to the others")
    parser.add_argument("--profile", help="write cProfile stats of payivr's process to FILE.N")
    args = parser.parse_args()
    if args.quick:
        args.calls = [100, 1000]
        args.time_scale = 0.75
    args.loop = None if args.asyncio else fastest_loop()
    args.load = os.getloadavg()[0]
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log_file = Path(tempfile.gettempdir()) / f"payivr-bench-calls-{os.getpid()}.log"
    stream = log_file.open("w")
    configure_logging("INFO", json=True, stream=stream, once=True)  # as `payivr serve`

    server = start_test_server()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="payivr-bench-keys-") as directory:
            keys = Path(directory)
            keygen(keys, bits=2048)
            write_test_tls(keys)
            for n in args.calls:
                started = time.monotonic()
                print(f"== {n} calls ...", flush=True)
                result = run_one(n, server, keys, args)
                stream.flush()
                print(f"   {time.monotonic() - started:.0f} s", flush=True)
                results.append(result)
    finally:
        stop_test_server(server)
        stream.close()
    warnings = sum(1 for line in log_file.read_text().splitlines()
                   if '"level": "warning"' in line or '"level": "error"' in line)
    print_table(results, args)
    print(f"  payivr log (INFO, JSON): {log_file}, {warnings} warnings/errors")
    print_ratios(results)


def _per_payment_ms(cpu: float, payments: int) -> float:
    return 1000 * cpu / payments if payments else float("nan")


def print_ratios(results: list[Result]) -> None:
    """payivr's CPU per payment against the floor's, each N on its line, then (the last line)
    over all the runs: payments the callers heard approved, CPU of each app's process."""
    measured = [r for r in results if r.floor is not None]
    if not measured:
        return
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    for r in measured:
        assert r.floor is not None
        ours = _per_payment_ms(r.cpu, r.heard_approved)
        theirs = _per_payment_ms(r.floor.cpu, r.floor.approved)
        print(f"  N={r.calls}: payivr {ours:.1f} ms CPU per payment ({r.heard_approved} paid), "
              f"PostgreSQL's processes {_per_payment_ms(r.postgres_cpu, r.heard_approved):.1f} "
              f"ms; floor {theirs:.1f} ms ({r.floor.approved} paid); ratio {ours / theirs:.2f}×")  # noqa: RUF001
    ours = _per_payment_ms(sum(r.cpu for r in measured), sum(r.heard_approved for r in measured))
    theirs = _per_payment_ms(sum(r.floor.cpu for r in measured if r.floor),
                             sum(r.floor.approved for r in measured if r.floor))
    print(f"CPU per payment: payivr {ours:.1f} ms, floor {theirs:.1f} ms, "
          f"ratio {ours / theirs:.2f}×")  # noqa: RUF001


if __name__ == "__main__":
    main()
