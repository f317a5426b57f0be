"""What the tools that record a real Asterisk share (talk_through.py, outbound_trunk.py,
local_peer_trace.py): their command line, and every ARI request and event they see, with its
time since the start, as the JSONL of ``tests/fixtures/ari/traces``.

A tool runs as ``python bench/<tool>.py``, so this directory is on ``sys.path`` and it
imports this module as ``ari_recorder``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from payivr.ari.client import AriClient


@dataclass(frozen=True)
class Target:
    """The Asterisk to record, and where the trace goes (None: nowhere)."""

    url: str
    password: str
    trace: Path | None

    def write(self, lines: list[dict[str, Any]]) -> None:
        if self.trace is not None:
            self.trace.write_text("".join(json.dumps(line) + "\n" for line in lines))


def command_line(doc: str, *, trace_required: bool = False) -> Target:
    """The tool's arguments; ``doc`` is its docstring, whose first paragraph is its help."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8088")
    parser.add_argument("--password-file", type=Path,
                        default=Path("asterisk/.secrets/ari_password"))
    parser.add_argument("--trace", type=Path, required=trace_required,
                        help="write the ARI requests and events here")
    args = parser.parse_args()
    return Target(args.url, args.password_file.read_text().strip(), args.trace)


Measure = Callable[[str, str], Coroutine[Any, Any, tuple[object, list[dict[str, Any]]]]]
"""Measures the Asterisk at a URL with a password: the result, and the trace's lines."""


def print_measured(doc: str, measure: Measure) -> None:
    """Run ``measure`` on the Asterisk of the command line (``doc``: the tool's docstring):
    print its result as JSON, and write the trace when ``--trace`` asks for it."""
    target = command_line(doc)
    result, lines = asyncio.run(measure(target.url, target.password))
    target.write(lines)
    print(json.dumps(result))


class Recorder:
    """ARI requests and events with their time since the start, as JSONL lines."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.start = time.monotonic()
        self.lines: list[dict[str, Any]] = []
        self.events: list[tuple[float, dict[str, Any]]] = []

    def now(self) -> float:
        return round(time.monotonic() - self.start, 3)

    async def events_socket(self, ari: AriClient, app: str) -> aiohttp.ClientWebSocketResponse:
        """The event WebSocket of the Stasis application ``app``."""
        return await self.http.ws_connect(
            ari.events_url(app), headers={"Authorization": ari.authorization}
        )

    async def rest(
        self, ari: AriClient, method: str, *path: str, params: dict[str, str] | None = None
    ) -> Any:
        """One ARI request, recorded with the status Asterisk answered (200, 201, 204...) at
        the time it was sent: the events recorded before it happened before it."""
        sent = self.now()
        async with self.http.request(
            method, ari.base_url.joinpath(*path), params=params,
            headers={"Authorization": ari.authorization},
        ) as answer:
            status = answer.status
            body = await answer.json() if status != 204 else None
        if status >= 400:
            raise RuntimeError(f"{method} /{'/'.join(path)}: {status} {body}")
        self.lines.append({"t": sent, "kind": "rest", "method": method,
                           "path": "/" + "/".join(path), "params": params or {},
                           "status": status, "body": body})
        return body

    def event(self, raw: dict[str, Any], app: str) -> None:
        self.lines.append({"t": self.now(), "kind": "event", "app": app, "event": raw})
        self.events.append((time.monotonic() - self.start, raw))
