"""Calibration: limits set from real traffic, the way operators set them.

Run the guard with ``mode="measure"`` for a while: every analysed request then writes one
``measured`` security event with its metrics. ``gqlguard report <log>`` reads those events
(one JSON object per line, whatever prefix the log handler adds), and prints per operation
name — anonymous documents together — the count and the p50, p95, p99 and maximum of each
metric, the limit it recommends (the p99 across all traffic plus :data:`MARGIN`, rounded up),
and the operations today's configuration would reject. ``--html FILE`` writes the same as one
self-contained page with a histogram per metric (inline SVG, no scripts).

O(events) to read, O(events log events) to sort.

>>> rows = [{"depth": 3, "field_cost": 10}, {"depth": 5, "field_cost": 40}]
>>> recommend(summarise(rows))["max_depth"]
6
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from .config import GuardConfig

__all__ = [
    "MARGIN",
    "METRICS",
    "html_report",
    "measured_events",
    "recommend",
    "summarise",
    "text_report",
]

# metric -> the limit it calibrates
METRICS: Final = {
    "depth": "max_depth",
    "aliases": "max_aliases",
    "directives": "max_directives",
    "fields": "max_fields",
    "tokens": "max_tokens",
    "field_cost": "max_cost",
    "type_cost": "max_cost",
}
# Recommended limit = p99 of all traffic x (1 + MARGIN), rounded up: room for the clients'
# next release without admitting what no client sends.
MARGIN: Final = 0.2
ANONYMOUS: Final = "(anonymous)"


def measured_events(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The ``measured`` events of a log, each line read from its first ``{``."""
    events = []
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            event = json.loads(line[start:])
        except ValueError:
            continue
        if (
            isinstance(event, dict)
            and event.get("event") == "measured"
            and isinstance(event.get("metrics"), dict)
        ):
            events.append(event)
    return events


def _quantile(ordered: Sequence[float], q: float) -> float:
    # Nearest rank: a value that was really seen.
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Per metric: count, p50, p95, p99, max."""
    summary: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        values = sorted(
            float(row[metric]) for row in rows if isinstance(row.get(metric), int | float)
        )
        if values:
            summary[metric] = {
                "count": len(values),
                "p50": _quantile(values, 0.50),
                "p95": _quantile(values, 0.95),
                "p99": _quantile(values, 0.99),
                "max": values[-1],
            }
    return summary


def recommend(summary: Mapping[str, Mapping[str, float]]) -> dict[str, int]:
    """The limits the summary supports: p99 plus the margin, rounded up (cost: the larger of
    field and type cost, as ``max_cost`` bounds both)."""
    limits: dict[str, int] = {}
    for metric, option in METRICS.items():
        if metric in summary:
            value = math.ceil(summary[metric]["p99"] * (1 + MARGIN))
            limits[option] = max(limits.get(option, 0), value, 1)
    return limits


def _by_operation(events: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[event.get("operation") or ANONYMOUS].append(event["metrics"])
    return dict(sorted(grouped.items()))


def _rejected_by(summary: Mapping[str, Mapping[str, float]], config: GuardConfig) -> list[str]:
    over = []
    for metric, option in METRICS.items():
        limit = getattr(config, option)
        if metric in summary and limit is not None and summary[metric]["max"] > limit:
            over.append(f"{metric} {summary[metric]['max']:g} > {option} {limit:g}")
    return over


def text_report(events: Sequence[Mapping[str, Any]], config: GuardConfig) -> str:
    grouped = _by_operation(events)
    everything = summarise([metrics for rows in grouped.values() for metrics in rows])
    lines = [f"{len(events)} measured requests, {len(grouped)} operations", ""]
    for operation, rows in grouped.items():
        summary = summarise(rows)
        lines.append(f"{operation}: {len(rows)} requests")
        for metric, stats in summary.items():
            lines.append(
                f"  {metric:<11} p50 {stats['p50']:>8g}  p95 {stats['p95']:>8g}  "
                f"p99 {stats['p99']:>8g}  max {stats['max']:>8g}"
            )
        over = _rejected_by(summary, config)
        if over:
            lines.append("  REJECTED by the current configuration: " + "; ".join(over))
        lines.append("")
    lines.append(f"recommended (p99 of all traffic + {MARGIN:.0%}):")
    for option, value in recommend(everything).items():
        current = getattr(config, option)
        lines.append(f"  {option} = {value}    (now {current if current is not None else 'off'})")
    return "\n".join(lines)


def _histogram(values: Sequence[float], width: int = 320, height: int = 80) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    buckets = 20
    span = (high - low) or 1.0
    counts = [0] * buckets
    for value in values:
        counts[min(buckets - 1, int((value - low) / span * buckets))] += 1
    tallest = max(counts)
    bar = width / buckets
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - count / tallest * height:.1f}" '
        f'width="{bar - 1:.1f}" height="{count / tallest * height:.1f}" fill="#4a7bd0"/>'
        for i, count in enumerate(counts)
        if count
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 14}" '
        f'role="img"><title>{low:g} to {high:g}</title>{rects}'
        f'<text x="0" y="{height + 12}" font-size="10">{low:g}</text>'
        f'<text x="{width}" y="{height + 12}" font-size="10" text-anchor="end">{high:g}</text>'
        "</svg>"
    )


def html_report(events: Sequence[Mapping[str, Any]], config: GuardConfig) -> str:
    """One self-contained page: the text report, and a histogram per metric (inline SVG)."""
    rows = [event["metrics"] for event in events]
    figures = []
    for metric in METRICS:
        values = [float(r[metric]) for r in rows if isinstance(r.get(metric), int | float)]
        if values:
            figures.append(
                f"<figure><figcaption>{metric}</figcaption>{_histogram(values)}</figure>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>gqlguard calibration</title>"
        "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:1em}"
        "pre{background:#f4f4f4;padding:1em}</style></head><body>"
        "<h1>gqlguard calibration</h1>"
        + "".join(figures)
        + f"<pre>{html.escape(text_report(events, config))}</pre></body></html>"
    )
