"""Metrics in the Prometheus text format (0.0.4), without a client library.

:class:`Metrics` holds everything ``/metrics`` shows. Call control's events feed it through
:meth:`Metrics.observe_event` (the console subscribes it to the local notifier); the gateway
edge calls :meth:`Metrics.gateway_latency` ``.observe(seconds)``; the ARI and AMI clients'
reconnect hooks call :meth:`Metrics.reconnected`. The CRM outbox figures are read from the
database at scrape time. Labels carry no card data, names or numbers: only outcomes, steps
and fixed reasons from the flow.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from typing import Any

LabelValues = tuple[tuple[str, str], ...]

GATEWAY_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(values: LabelValues, extra: tuple[tuple[str, str], ...] = ()) -> str:
    pairs = values + extra
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._values: dict[LabelValues, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_labels(key)} {_number(value)}"


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, **labels: str) -> None:
        self._values[tuple(sorted(labels.items()))] = value


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Iterable[float]) -> None:
        self.name = name
        self.help = help_text
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self.buckets, value)] += 1
        self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def samples(self) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip((*self.buckets, math.inf), self._counts, strict=True):
            cumulative += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}'
        yield f"{self.name}_sum {_number(self._sum)}"
        yield f"{self.name}_count {cumulative}"


Metric = Counter | Histogram


class Metrics:
    """The registry ``/metrics`` renders; one per payivr process."""

    def __init__(self) -> None:
        self.active_calls = Gauge("payivr_active_calls", "Calls payivr holds now.")
        self.active_payments = Gauge("payivr_active_payments", "Payments in progress now.")
        self.payments = Counter("payivr_payments_total", "Finished payments by outcome.")
        self.step_failures = Counter(
            "payivr_step_failures_total", "Caller steps that failed, by step and reason."
        )
        self.reconnects = Counter(
            "payivr_reconnects_total", "Reconnections to Asterisk, by interface (ari, ami)."
        )
        self.gateway_latency = Histogram(
            "payivr_gateway_latency_seconds",
            "Time from sending a charge to the gateway's answer.",
            GATEWAY_LATENCY_BUCKETS,
        )
        self.crm_backlog = Gauge(
            "payivr_crm_outbox_backlog", "CRM activities waiting for delivery."
        )
        self.crm_oldest_age = Gauge(
            "payivr_crm_outbox_oldest_age_seconds",
            "Age of the oldest CRM activity waiting for delivery (0 when none).",
        )
        self._calls: set[str] = set()
        self._payments: set[str] = set()
        self.active_calls.set(0)
        self.active_payments.set(0)

    def reconnected(self, interface: str) -> None:
        """Count one reconnection of ``ari`` or ``ami``."""
        self.reconnects.inc(interface=interface)

    def observe_event(self, event: Mapping[str, Any]) -> None:
        """Account for one call-control event (as :func:`payivr.calls.notifier.event_json`)."""
        kind = event.get("type")
        call = str(event.get("call"))
        if kind == "call_started":
            self._calls.add(call)
        elif kind == "call_ended":
            self._calls.discard(call)
        elif kind == "payment_started":
            self._payments.add(str(event.get("payment")))
        elif kind == "step" and event.get("status") == "failed":
            self.step_failures.inc(
                step=str(event.get("step")), reason=str(event.get("detail") or "unknown")
            )
        elif kind == "payment_finished":
            self._payments.discard(str(event.get("payment")))
            self.payments.inc(outcome=str(event.get("outcome")))
        self.active_calls.set(len(self._calls))
        self.active_payments.set(len(self._payments))

    def metrics(self) -> tuple[Metric, ...]:
        return (
            self.active_calls,
            self.active_payments,
            self.payments,
            self.step_failures,
            self.reconnects,
            self.gateway_latency,
            self.crm_backlog,
            self.crm_oldest_age,
        )

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.metrics():
            lines.append(f"# HELP {metric.name} {metric.help}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"
