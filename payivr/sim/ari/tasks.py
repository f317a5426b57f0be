"""Futures and tasks on the simulated clock: settled once, failures logged."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from .events import StasisFailedError

log = structlog.get_logger(__name__)


def resolve_none(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def log_task_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, StasisFailedError):
        log.error("ari_sim_task_failed", error=repr(error))
