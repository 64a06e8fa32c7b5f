"""Calibration: limits set from real traffic that hostile traffic cannot loosen.

Run the guard with ``mode="measure"`` and ``measure_log`` set: every analysed request then
writes one ``measured`` event with its metrics, its client and whatever the check refused it
for. ``gqlguard report <log>`` reads those events (one JSON object per line, whatever prefix
a log handler adds) and groups them by operation: by name, and anonymous documents by the
sha256 of their text.

What a recommendation is made from (robust statistics, in this order):

1. **Refused requests are left out**: those validation, variable coercion or authorization
   refused (``refused``), and records that are not a sample of the traffic (``recorded`` =
   ``over_limit``: a rolled-out or exempt limit's events in enforce mode). Malformed events
   (a metric that is not a finite number >= 0) are skipped and counted.
2. **Clients, not requests, are counted**: a client is a JWT subject or an address, and a
   subject and an address ever seen in one request are one client (union-find), so an actor
   sending with and without its token counts once.
3. **Anomalous requests are left out**: in an operation at least :data:`FENCE_CLIENTS`
   clients sent, a request beyond Tukey's far-out fence on a log scale of the clients' largest
   values (``log2(1 + v)`` above the upper quartile plus three interquartile ranges, and at
   least four times ``1 + `` the upper quartile). One value per client: a client flooding
   the log cannot move the quartiles.
4. **No single client decides**: per operation, each client contributes its largest value;
   the operation supports the :data:`MIN_CLIENTS`-th largest of those — so a value one client
   alone sent never raises a limit — and an operation fewer clients sent supports nothing.

A limit's recommendation is the largest value any operation supports, plus :data:`MARGIN`,
rounded up, and never below :data:`FLOORS` for the structural limits (room for the first
alias, ``@include`` or nesting level a client's next release adds). O(events log events).

>>> events = [
...     {"operation": "Feed", "client": c, "metrics": {"depth": d}} for c, d in
...     [("a", 3), ("b", 4), ("c", 40)]
... ]
>>> calibrate(events, min_clients=2).recommended["max_depth"]
5
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .config import GuardConfig
from .limits import limited_costs

__all__ = [
    "FENCE_CLIENTS",
    "FLOORS",
    "MARGIN",
    "METRICS",
    "MIN_CLIENTS",
    "Calibration",
    "ClientSummary",
    "OperationSummary",
    "calibrate",
    "html_report",
    "measured_events",
    "read_measurements",
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
# Recommended limit = the supported value x (1 + MARGIN), rounded up: room for the clients'
# next release without admitting what no client sends.
MARGIN: Final = 0.2
# Structural limits are never recommended below these: a schema's first alias or @include
# must not break a client the day it ships.
FLOORS: Final = {
    "max_depth": 5,
    "max_aliases": 5,
    "max_directives": 10,
    "max_fields": 50,
    "max_tokens": 200,
}
MIN_CLIENTS: Final = 2
# The fence needs this many clients' values to know what is normal for an operation.
FENCE_CLIENTS: Final = 10
ANONYMOUS: Final = "(anonymous)"


def measured_events(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The well-formed ``measured`` events of a log (see :func:`read_measurements`)."""
    return read_measurements(lines)[0]


def read_measurements(lines: Iterable[str]) -> tuple[list[dict[str, Any]], int]:
    """The ``measured`` events of a log, each line read from its first ``{``, and how many
    such events were malformed and skipped: a metric that is not a finite number >= 0 (a
    boolean is not a number), or no metrics at all. A log is the attacker's text too."""
    events, skipped = [], 0
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            event = json.loads(line[start:])
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") != "measured":
            continue
        metrics = event.get("metrics")
        if isinstance(metrics, dict) and all(_usable(metrics.get(m)) for m in METRICS):
            events.append(event)
        else:
            skipped += 1
    return events, skipped


def _usable(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and value >= 0
    except OverflowError:  # an integer too large for a float
        return False


def _quantile(ordered: Sequence[float], q: float) -> float:
    # Nearest rank: a value that was really seen.
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _metric(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _limit_value(metrics: Mapping[str, Any], option: str, costs: Sequence[str]) -> float | None:
    """What ``option`` bounds in one request: its metric, or for max_cost the larger of the
    costs it limits."""
    names = [m for m, o in METRICS.items() if o == option and (o != "max_cost" or m in costs)]
    values = [v for name in names if (v := _metric(metrics, name)) is not None]
    return max(values) if values else None


@dataclass
class OperationSummary:
    """One operation's traffic and what it supports."""

    operation: str
    requests: int = 0
    refused: int = 0
    not_sampled: int = 0
    anomalous: int = 0
    clients: int = 0
    # the metrics of the requests counted (after the exclusions)
    kept: list[Mapping[str, Any]] = field(default_factory=list)
    # limit -> the value the operation supports (MIN_CLIENTS-th largest client maximum)
    supported: dict[str, float] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return bool(self.supported)

    def stats(self, metric: str) -> dict[str, float] | None:
        values = sorted(v for row in self.kept if (v := _metric(row, metric)) is not None)
        if not values:
            return None
        return {
            "p50": _quantile(values, 0.5),
            "p99": _quantile(values, 0.99),
            "max": values[-1],
        }


@dataclass
class ClientSummary:
    """One client's traffic: how much, which operations, what was left out of it."""

    client: str
    requests: int = 0
    refused: int = 0
    anomalous: int = 0
    operations: set[str] = field(default_factory=set)
    # metric -> the largest value among its sampled requests
    largest: dict[str, float] = field(default_factory=dict)


@dataclass
class Calibration:
    """The report's facts: per operation, the recommendation, and what was left out."""

    operations: list[OperationSummary]
    recommended: dict[str, int]
    # limit -> the operation whose supported value set it
    recommended_by: dict[str, str]
    requests: int
    first_seen: str | None
    last_seen: str | None
    min_clients: int
    # by requests sent, most first
    clients: list[ClientSummary] = field(default_factory=list)
    costs: tuple[str, ...] = ("field_cost", "type_cost")
    skipped: int = 0

    def left_out(self) -> dict[str, int]:
        one_client = sum(len(op.kept) for op in self.operations if not op.counted)
        return {
            "refused": sum(op.refused for op in self.operations),
            "not a sample (over-limit records)": sum(op.not_sampled for op in self.operations),
            "anomalous": sum(op.anomalous for op in self.operations),
            f"from fewer than {self.min_clients} clients": one_client,
            "malformed": self.skipped,
        }

    def values(self, option: str) -> list[float]:
        """Every counted request's value of what ``option`` bounds (one per request)."""
        return [
            v
            for op in self.operations
            if op.counted
            for row in op.kept
            if (v := _limit_value(row, option, self.costs)) is not None
        ]


def _operation_of(event: Mapping[str, Any]) -> str:
    name = event.get("operation")
    if isinstance(name, str) and name:
        return name
    digest = event.get("sha256")
    return f"{ANONYMOUS} {digest[:12]}" if isinstance(digest, str) else ANONYMOUS


def _identities(event: Mapping[str, Any]) -> list[str]:
    found = [
        f"{key}:{value}"
        for key in ("principal", "client")
        if isinstance(value := event.get(key), str) and value
    ]
    return found or ["(unknown client)"]


class _Clients:
    """Who is one client: a subject and an address ever seen in one request are the same
    client, and so is everything joined to either (union-find), so one actor sending with
    and without its token, or from its addresses in turn under one subject, counts once."""

    def __init__(self, events: Iterable[Mapping[str, Any]]) -> None:
        self._parent: dict[str, str] = {}
        for event in events:
            first, *others = _identities(event)
            for other in others:
                self._join(first, other)
        members: dict[str, list[str]] = defaultdict(list)
        for identity in list(self._parent):
            members[self._root(identity)].append(identity)
        self._label = {root: " = ".join(sorted(names)) for root, names in members.items()}

    def _root(self, identity: str) -> str:
        parent = self._parent.setdefault(identity, identity)
        while parent != identity:
            grand = self._parent[parent]
            self._parent[identity] = grand
            identity, parent = parent, grand
        return identity

    def _join(self, a: str, b: str) -> None:
        root_a, root_b = self._root(a), self._root(b)
        if root_a != root_b:
            self._parent[max(root_a, root_b)] = min(root_a, root_b)

    def of(self, event: Mapping[str, Any]) -> str:
        root = self._root(_identities(event)[0])
        return self._label.get(root, root)


def _anomalous(
    rows: Sequence[tuple[str, Mapping[str, Any]]], options: Sequence[str], costs: Sequence[str]
) -> set[int]:
    """Indexes of the requests beyond the far-out fence (log scale) of what the *clients*
    send: the quartiles are of each client's largest value, one per client, so a client
    sending many requests weighs as much as one sending few."""
    outside: set[int] = set()
    for option in options:
        largest: dict[str, float] = {}
        values: list[tuple[int, float]] = []
        for index, (client, metrics) in enumerate(rows):
            value = _limit_value(metrics, option, costs)
            if value is None:
                continue
            values.append((index, value))
            largest[client] = max(largest.get(client, 0.0), value)
        if len(largest) < FENCE_CLIENTS:
            continue
        ordered = sorted(math.log2(1 + value) for value in largest.values())
        lower, upper = _quantile(ordered, 0.25), _quantile(ordered, 0.75)
        fence = max(upper + 3 * (upper - lower), upper + 2)  # 2 = log2(4)
        outside.update(index for index, value in values if math.log2(1 + value) > fence)
    return outside


def calibrate(
    events: Sequence[Mapping[str, Any]],
    config: GuardConfig | None = None,
    *,
    min_clients: int = MIN_CLIENTS,
    skipped: int = 0,
) -> Calibration:
    """The calibration of ``events`` (see the module docstring for what is left out)."""
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[_operation_of(event)].append(event)
    costs = limited_costs(config) if config is not None else ("field_cost", "type_cost")
    options = list(dict.fromkeys(METRICS.values()))
    who = _Clients(events)
    operations = []
    recommended: dict[str, int] = {}
    recommended_by: dict[str, str] = {}
    clients: dict[str, ClientSummary] = {}
    for name, group in sorted(grouped.items()):
        summary = OperationSummary(name, requests=len(group))
        sample = []
        for event in group:
            client = who.of(event)
            sender = clients.setdefault(client, ClientSummary(client))
            sender.requests += 1
            sender.operations.add(name)
            if event.get("refused"):
                summary.refused += 1
                sender.refused += 1
            elif event.get("recorded", "every_request") != "every_request":
                summary.not_sampled += 1
            else:
                sample.append((client, event["metrics"]))
        anomalous = _anomalous(sample, options, costs)
        summary.anomalous = len(anomalous)
        for index, (client, metrics) in enumerate(sample):
            sender = clients[client]
            sender.anomalous += index in anomalous
            for metric in METRICS:
                value = _metric(metrics, metric)
                if value is not None and value > sender.largest.get(metric, -1.0):
                    sender.largest[metric] = value
        kept = [row for index, row in enumerate(sample) if index not in anomalous]
        summary.kept = [metrics for _, metrics in kept]
        summary.clients = len({client for client, _ in kept})
        for option in options:
            largest: dict[str, float] = {}
            for client, metrics in kept:
                value = _limit_value(metrics, option, costs)
                if value is not None:
                    largest[client] = max(largest.get(client, 0.0), value)
            maxima = sorted(largest.values(), reverse=True)
            if len(maxima) >= min_clients:
                summary.supported[option] = maxima[min_clients - 1]
        for option, value in summary.supported.items():
            observed = math.ceil(value * (1 + MARGIN))
            floor = FLOORS.get(option, 1)
            limit = max(observed, floor, 1)
            if limit > recommended.get(option, 0):
                recommended[option] = limit
                recommended_by[option] = name if observed >= floor else "(the floor)"
        operations.append(summary)
    times = sorted(str(e["ts"]) for e in events if isinstance(e.get("ts"), str))
    return Calibration(
        operations,
        recommended,
        recommended_by,
        len(events),
        times[0] if times else None,
        times[-1] if times else None,
        min_clients,
        sorted(clients.values(), key=lambda c: (-c.requests, c.client)),
        tuple(costs),
        skipped,
    )


def _limit(config: GuardConfig, option: str) -> float | None:
    value = getattr(config, option)
    return float(value) if value is not None else None


def _over(summary: OperationSummary, metric: str, config: GuardConfig) -> bool:
    if metric in ("field_cost", "type_cost") and metric not in limited_costs(config):
        return False  # a cost max_cost does not bound
    stats = summary.stats(metric)
    limit = _limit(config, METRICS[metric])
    return stats is not None and limit is not None and stats["max"] > limit


def text_report(calibration: Calibration, config: GuardConfig) -> str:
    lines = [
        f"{calibration.requests} measured requests, {len(calibration.operations)} operations"
        + (
            f", {calibration.first_seen} to {calibration.last_seen}"
            if calibration.first_seen
            else ""
        ),
        "left out of the recommendations: "
        + ", ".join(f"{reason} {count}" for reason, count in calibration.left_out().items()),
        "",
    ]
    for op in calibration.operations:
        lines.append(
            f"{op.operation}: {op.requests} requests from {op.clients} clients"
            + ("" if op.counted else f" (not counted: fewer than {calibration.min_clients})")
        )
        for metric in METRICS:
            stats = op.stats(metric)
            if stats is None:
                continue
            flag = "  OVER the current limit" if _over(op, metric, config) else ""
            lines.append(
                f"  {metric:<11} p50 {stats['p50']:>8g}  p99 {stats['p99']:>8g}  "
                f"max {stats['max']:>8g}{flag}"
            )
        lines.append("")
    lines.append(f"clients (most requests first, {_CLIENTS_SHOWN} at most):")
    for sender in calibration.clients[:_CLIENTS_SHOWN]:
        largest = "  ".join(
            f"{metric} {sender.largest[metric]:g}"
            for metric in ("depth", "field_cost", "type_cost")
            if metric in sender.largest
        )
        lines.append(
            f"  {sender.client}: {sender.requests} requests, {len(sender.operations)} operations,"
            f" refused {sender.refused}, anomalous {sender.anomalous}; largest {largest}"
        )
    lines.append("")
    lines.append(
        f"recommended (the {_ordinal(calibration.min_clients)} largest client's maximum per "
        f"operation + {MARGIN:.0%}, floors for structure):"
    )
    if not calibration.recommended:
        lines.append(f"  nothing: no operation was sent by {calibration.min_clients} clients")
    for option, value in calibration.recommended.items():
        lines.append(
            f"  {option} = {value}    (now {_limit_text(config, option)}; "
            f"from {calibration.recommended_by[option]})"
        )
    return "\n".join(lines)


_CLIENTS_SHOWN = 20


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


# -- the HTML page -----------------------------------------------------------------------------

_WIDTH, _HEIGHT, _LEFT, _RIGHT, _BOTTOM, _TOP = 480, 180, 40, 12, 34, 30
# Bins per doubling of 1 + v: small integers (depth 3, 4, 5) each get their own bar.
_BINS_PER_OCTAVE = 4


def _scale(value: float, top: float) -> float:
    """x of ``value`` on the log2(1 + v) axis ending at ``top``."""
    return _LEFT + math.log2(1 + max(value, 0.0)) / math.log2(1 + top) * (_WIDTH - _LEFT - _RIGHT)


def _histogram(
    limit_name: str, values: Sequence[float], limit: float | None, recommended: float | None
) -> str:
    """One limit's histogram: log-scale bins (a quarter of a doubling of 1 + v each), the
    count on every bar, axes with ticks, and the current limit and the recommendation as
    marker lines."""
    marks = [v for v in (limit, recommended) if v is not None]
    top = max([*values, *marks, 1.0]) * 1.15 + 1
    bins: Counter[int] = Counter(int(math.log2(1 + max(v, 0.0)) * _BINS_PER_OCTAVE) for v in values)
    tallest = max(bins.values(), default=1)
    plot = _HEIGHT - _BOTTOM - _TOP
    parts = [
        f'<line class="axis x" x1="{_LEFT}" y1="{_HEIGHT - _BOTTOM}" x2="{_WIDTH - _RIGHT}" '
        f'y2="{_HEIGHT - _BOTTOM}" stroke="#333"/>',
        f'<line class="axis y" x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" '
        f'y2="{_HEIGHT - _BOTTOM}" stroke="#333"/>',
        f'<text x="{_LEFT - 4}" y="{_TOP + 4}" font-size="10" text-anchor="end">{tallest}</text>',
        f'<text x="{_LEFT - 4}" y="{_HEIGHT - _BOTTOM}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{(_WIDTH + _LEFT) / 2}" y="{_HEIGHT - 4}" font-size="10" '
        f'text-anchor="middle">{html.escape(limit_name)} (log scale)</text>',
    ]
    parts.append(_tick(0.0, top))
    decade = 1.0
    while decade < top:  # 1, 2, 5, 10, 20, 50, ...
        for step in (1, 2, 5):
            if step * decade < top:
                parts.append(_tick(step * decade, top))
        decade *= 10
    for k, count in sorted(bins.items()):
        low = 2.0 ** (k / _BINS_PER_OCTAVE) - 1
        high = 2.0 ** ((k + 1) / _BINS_PER_OCTAVE) - 1
        x1, x2 = _scale(low, top), _scale(high, top)
        height = count / tallest * plot
        y = _HEIGHT - _BOTTOM - height
        parts.append(
            f'<rect class="bar" data-low="{low:.4g}" data-high="{high:.4g}" data-count="{count}" '
            f'x="{x1:.1f}" y="{y:.1f}" width="{max(x2 - x1 - 1, 1):.1f}" height="{height:.1f}" '
            f'fill="#4a7bd0"><title>{low:.3g} to below {high:.3g}: {count}</title></rect>'
            f'<text class="count" x="{(x1 + x2) / 2:.1f}" y="{y - 2:.1f}" font-size="10" '
            f'text-anchor="middle">{count}</text>'
        )
    for kind, value, colour, label_y in (
        ("limit", limit, "#c0392b", 10),
        ("recommendation", recommended, "#27ae60", 22),
    ):
        if value is None:
            continue
        x = _scale(value, top)
        # Labels above the bars, each on its own line, toward the middle of the figure.
        anchor, shift = ("end", -3) if x > _WIDTH * 0.6 else ("start", 3)
        parts.append(
            f'<line class="marker {kind}" data-value="{value:g}" x1="{x:.1f}" y1="{label_y - 8}" '
            f'x2="{x:.1f}" y2="{_HEIGHT - _BOTTOM}" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="4 2"/>'
            f'<text class="marker-label {kind}" x="{x + shift:.1f}" y="{label_y}" '
            f'font-size="10" text-anchor="{anchor}" fill="{colour}">{kind} {value:g}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="histogram" data-limit="{limit_name}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" role="img" '
        f'aria-label="{html.escape(limit_name)} histogram">{"".join(parts)}</svg>'
    )


def _tick(value: float, top: float) -> str:
    x = _scale(value, top)
    return (
        f'<line class="tick" x1="{x:.1f}" y1="{_HEIGHT - _BOTTOM}" x2="{x:.1f}" '
        f'y2="{_HEIGHT - _BOTTOM + 4}" stroke="#333"/>'
        f'<text class="tick-label" x="{x:.1f}" y="{_HEIGHT - _BOTTOM + 14}" font-size="10" '
        f'text-anchor="middle">{value:g}</text>'
    )


def _config_rows(config: GuardConfig) -> str:
    shown = [*dict.fromkeys(METRICS.values()), "cost_limit_applies_to", "mode", "measure_limits"]
    return "".join(
        f"<tr><th>{name}</th><td>{html.escape(_setting_text(getattr(config, name)))}</td></tr>"
        for name in shown
    )


def _operation_table(calibration: Calibration, config: GuardConfig) -> str:
    head = "".join(f"<th>{metric}<br>p50 / p99 / max</th>" for metric in METRICS)
    rows = []
    for op in calibration.operations:
        over_any = any(_over(op, metric, config) for metric in METRICS)
        cells = []
        for metric in METRICS:
            stats = op.stats(metric)
            text = (
                "" if stats is None else f"{stats['p50']:g} / {stats['p99']:g} / {stats['max']:g}"
            )
            over = _over(op, metric, config)
            cells.append(f'<td class="{"over" if over else ""}">{text}</td>')
        counted = "yes" if op.counted else f"no: fewer than {calibration.min_clients} clients"
        rows.append(
            f'<tr class="operation{" over" if over_any else ""}" '
            f'data-operation="{html.escape(op.operation)}">'
            f"<td>{html.escape(op.operation)}</td><td>{op.requests}</td><td>{op.clients}</td>"
            f"<td>{op.refused}</td><td>{op.anomalous}</td><td>{counted}</td>{''.join(cells)}</tr>"
        )
    return (
        '<table class="operations"><thead><tr><th>operation</th><th>requests</th>'
        "<th>clients</th><th>refused</th><th>anomalous</th><th>counted</th>"
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _client_table(calibration: Calibration) -> str:
    metrics = ("depth", "aliases", "fields", "field_cost", "type_cost")
    rows = "".join(
        f'<tr class="client{" flagged" if sender.anomalous or sender.refused else ""}" '
        f'data-client="{html.escape(sender.client)}"><td>{html.escape(sender.client)}</td>'
        f"<td>{sender.requests}</td><td>{len(sender.operations)}</td><td>{sender.refused}</td>"
        f"<td>{sender.anomalous}</td>"
        + "".join(
            f"<td>{sender.largest[m]:g}</td>" if m in sender.largest else "<td></td>"
            for m in metrics
        )
        + "</tr>"
        for sender in calibration.clients[:_CLIENTS_SHOWN]
    )
    head = "".join(f"<th>largest {metric}</th>" for metric in metrics)
    return (
        '<table class="clients"><thead><tr><th>client</th><th>requests</th><th>operations</th>'
        f"<th>refused</th><th>anomalous</th>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def html_report(calibration: Calibration, config: GuardConfig, *, source: str = "") -> str:
    """One self-contained page (inline SVG and CSS, no scripts): per limit a histogram with
    the current limit and the recommendation drawn, per operation a table row with every
    metric over today's limit marked, the time range, the source and the effective config."""
    figures = []
    for option in dict.fromkeys(METRICS.values()):
        values = calibration.values(option)
        if not values and option not in calibration.recommended:
            continue
        recommended = calibration.recommended.get(option)
        figures.append(
            f'<figure data-limit="{option}"><figcaption>{option} '
            f"({len(values)} counted requests; now {_limit_text(config, option)}"
            + (f", recommended {recommended}" if recommended is not None else "")
            + f")</figcaption>{_histogram(option, values, _limit(config, option), recommended)}"
            "</figure>"
        )
    left_out = "".join(
        f"<li>{html.escape(reason)}: {count}</li>"
        for reason, count in calibration.left_out().items()
    )
    recommended_rows = "".join(
        f'<tr data-limit="{option}"><th>{option}</th><td class="recommended">{value}</td>'
        f"<td>{_limit_text(config, option)}</td>"
        f"<td>{html.escape(calibration.recommended_by[option])}</td></tr>"
        for option, value in calibration.recommended.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>gqlguard calibration</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}figure{display:inline-block;"
        "margin:1em;vertical-align:top}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}"
        "th:first-child,td:first-child{text-align:left}td.over{background:#f8d0cc;"
        "font-weight:bold}tr.over td:first-child::after{content:' \\26A0'}"
        "tr.flagged td{background:#fdf2d0}"
        "</style></head><body><h1>gqlguard calibration</h1>"
        f'<p id="source">Source: {html.escape(source or "(standard input)")}</p>'
        f'<p id="time-range">Time range: {html.escape(calibration.first_seen or "unknown")} to '
        f"{html.escape(calibration.last_seen or 'unknown')} "
        f"({calibration.requests} measured requests)</p>"
        "<h2>Recommended limits</h2>"
        f"<p>The {_ordinal(calibration.min_clients)} largest client maximum per operation, plus "
        f"{MARGIN:.0%}, never below the structural floors. Left out:</p><ul>{left_out}</ul>"
        '<table id="recommended"><thead><tr><th>limit</th><th>recommended</th><th>now</th>'
        f"<th>set by</th></tr></thead><tbody>{recommended_rows}</tbody></table>"
        f"<h2>Per limit</h2>{''.join(figures)}"
        f"<h2>Per operation</h2>{_operation_table(calibration, config)}"
        f"<h2>Per client</h2><p>The {_CLIENTS_SHOWN} clients with the most requests (JWT "
        "subject, else address); a client with refused or anomalous requests is marked.</p>"
        f"{_client_table(calibration)}"
        f'<h2>Effective configuration</h2><table id="config">{_config_rows(config)}</table>'
        "</body></html>"
    )


def _limit_text(config: GuardConfig, option: str) -> str:
    value = getattr(config, option)
    return "off" if value is None else f"{value:g}"


def _setting_text(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)
