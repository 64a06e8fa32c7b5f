"""OpenTelemetry metrics and span attributes (the ``otel`` extra), recorded when the
OpenTelemetry API is installed; without it every call here is a no-op.

Instruments (meter ``gqlguard``); the cost histograms use the names Apollo Router uses:

=============================  =========  ===============================================
``gqlguard.requests``          counter    operations checked (attribute ``outcome``)
``gqlguard.rejections``        counter    rejections, one per code (attribute ``code``)
``gqlguard.check.duration``    histogram  seconds in ``Guard.check``
``cost.estimated``             histogram  estimated field cost of accepted operations
``cost.actual``                histogram  actual cost after execution (Starlette app, budget on)
``cost.delta``                 histogram  estimated minus actual
``gqlguard.budget.remaining``  histogram  points left in the client's bucket after a charge
=============================  =========  ===============================================

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


class _Instruments:
    def __init__(self) -> None:
        # A proxy meter until the application sets a MeterProvider; then it binds.
        meter = _metrics.get_meter("gqlguard")
        self.requests = meter.create_counter("gqlguard.requests", description="Checked operations")
        self.rejections = meter.create_counter("gqlguard.rejections", description="By code")
        self.duration = meter.create_histogram("gqlguard.check.duration", unit="s")
        self.estimated = meter.create_histogram("cost.estimated", description="Estimated cost")
        self.actual = meter.create_histogram("cost.actual", description="Actual cost")
        self.delta = meter.create_histogram("cost.delta", description="Estimated - actual")
        self.remaining = meter.create_histogram("gqlguard.budget.remaining")


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
