"""OpenTelemetry metrics and span attributes (the ``otel`` extra), recorded when the
OpenTelemetry API is installed; without it every call here is a no-op.

Instruments (meter ``gqlguard``), each with a unit, a description and bucket boundaries
fit for what it measures (the SDK's default 0 to 10,000 buckets would put every check in its
first one); the cost histograms are Apollo Router's ``cost.*``, under gqlguard's prefix so
both can feed one backend:

==================================  =========  ==========================================
``gqlguard.requests``               counter    operations checked (attribute ``outcome``)
``gqlguard.rejections``             counter    rejections, one per code (attribute ``code``)
``gqlguard.check.duration``         histogram  seconds in ``Guard.check`` (100 µs to 2.5 s)
``gqlguard.cost.estimated``         histogram  estimated field cost of accepted operations
``gqlguard.cost.actual``            histogram  actual cost after execution (budget on)
``gqlguard.cost.delta``             histogram  estimated minus actual
``gqlguard.budget.remaining``       histogram  points left in the client's bucket
==================================  =========  ==========================================

The current span (if any) gets ``gqlguard.outcome``, ``gqlguard.codes``,
``gqlguard.cost.estimated``, ``gqlguard.depth``. Export with any OpenTelemetry reader, e.g.
Prometheus (see the README). O(1) per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - the `otel` extra is not installed
    _metrics = None  # type: ignore[assignment]
    _trace = None  # type: ignore[assignment]

__all__ = ["ENABLED", "record_actual_cost", "record_budget", "record_check"]

ENABLED = _metrics is not None


# Seconds: a cached check takes tens of microseconds, a refused hostile one milliseconds.
DURATION_BOUNDARIES = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
# Cost points and budget points: a realistic query costs tens, the default limit is 1,000.
COST_BOUNDARIES = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 100000)


class _Instruments:
    def __init__(self) -> None:
        # A proxy meter until the application sets a MeterProvider; then it binds.
        meter = _metrics.get_meter("gqlguard")
        self.requests = meter.create_counter(
            "gqlguard.requests", unit="{operation}", description="Operations checked, by outcome"
        )
        self.rejections = meter.create_counter(
            "gqlguard.rejections", unit="{rejection}", description="Rejections, one per code"
        )
        self.duration = meter.create_histogram(
            "gqlguard.check.duration",
            unit="s",
            description="Time in Guard.check per operation",
            explicit_bucket_boundaries_advisory=DURATION_BOUNDARIES,
        )
        self.estimated = self._cost(meter, "estimated", "Estimated cost of accepted operations")
        self.actual = self._cost(meter, "actual", "Actual cost after execution")
        self.delta = self._cost(meter, "delta", "Estimated minus actual cost")
        self.remaining = meter.create_histogram(
            "gqlguard.budget.remaining",
            unit="{point}",
            description="Points left in the client's budget after a request",
            explicit_bucket_boundaries_advisory=COST_BOUNDARIES,
        )

    @staticmethod
    def _cost(meter: Any, name: str, description: str) -> Any:
        return meter.create_histogram(
            f"gqlguard.cost.{name}",
            unit="{cost}",
            description=description,
            explicit_bucket_boundaries_advisory=COST_BOUNDARIES,
        )


_instruments: _Instruments | None = _Instruments() if ENABLED else None


def record_check(
    seconds: float, codes: Sequence[str], estimated: float | None, depth: int | None
) -> None:
    """One ``Guard.check``: its outcome, codes, duration and (accepted) estimated cost."""
    if _instruments is None:
        return
    outcome = "rejected" if codes else "accepted"
    _instruments.requests.add(1, {"outcome": outcome})
    for code in codes:
        _instruments.rejections.add(1, {"code": code})
    _instruments.duration.record(seconds)
    if estimated is not None and not codes:
        _instruments.estimated.record(estimated)
    span: Any = _trace.get_current_span()
    if span.is_recording():
        span.set_attribute("gqlguard.outcome", outcome)
        span.set_attribute("gqlguard.codes", list(codes))
        if estimated is not None:
            span.set_attribute("gqlguard.cost.estimated", estimated)
        if depth is not None:
            span.set_attribute("gqlguard.depth", depth)


def record_actual_cost(estimated: float, actual: float) -> None:
    if _instruments is not None:
        _instruments.actual.record(actual)
        _instruments.delta.record(estimated - actual)


def record_budget(remaining: float) -> None:
    if _instruments is not None:
        _instruments.remaining.record(remaining)
