"""OpenTelemetry metrics (issue 17): requests and rejections by code, estimated and actual
cost (Apollo Router's names under gqlguard's prefix), check duration, budget remaining — read
with the SDK's in-memory reader; each with its unit, description and bucket boundaries."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from gqlguard import GuardConfig

from .conftest import make_client

READER = InMemoryMetricReader()


@pytest.fixture(autouse=True, scope="module")
def _sdk_meter_provider() -> None:
    # The global provider can be set once per process; gqlguard's instruments bind to it
    # late. Set when this module's tests run, not when it is collected: from then on every
    # check pays the SDK's recording, which the tests that run before it need not measure.
    metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


def _metrics() -> dict[str, Any]:
    data = READER.get_metrics_data()
    found: dict[str, Any] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = metric
    return found


def _points(name: str) -> list[Any]:
    metric = _metrics().get(name)
    return list(metric.data.data_points) if metric is not None else []


def _count(name: str, **attributes: str) -> float:
    return sum(
        getattr(point, "value", getattr(point, "count", 0))
        for point in _points(name)
        if all(point.attributes.get(key) == value for key, value in attributes.items())
    )


TOO_DEEP = (
    "{ posts(limit: 1) {" + " author { posts(limit: 1) {" * 6 + " title" + " } }" * 6 + " } }"
)


async def test_requests_rejections_costs_and_budget_are_recorded() -> None:
    config = GuardConfig(budget_capacity=1000, budget_restore_rate=0)
    names = (
        "gqlguard.cost.estimated",
        "gqlguard.cost.actual",
        "gqlguard.check.duration",
        "gqlguard.budget.remaining",
    )
    before = {name: _count(name) for name in names}
    depth = _count("gqlguard.rejections", code="DEPTH_LIMIT_EXCEEDED")
    accepted = _count("gqlguard.requests", outcome="accepted")
    async with make_client(config) as client:
        await client.post("/graphql", json={"query": "{ posts(limit: 3) { title } }"})
        await client.post("/graphql", json={"query": TOO_DEEP})
    assert _count("gqlguard.rejections", code="DEPTH_LIMIT_EXCEEDED") == depth + 1
    assert _count("gqlguard.requests", outcome="accepted") == accepted + 1
    grown = {name: _count(name) - before[name] for name in names}
    assert grown == {
        "gqlguard.cost.estimated": 1,
        "gqlguard.cost.actual": 1,
        "gqlguard.check.duration": 2,
        "gqlguard.budget.remaining": 1,
    }


def test_every_instrument_says_its_unit_and_has_buckets_for_what_it_measures() -> None:
    from gqlguard.telemetry import COST_BOUNDARIES, DURATION_BOUNDARIES

    recorded = _metrics()
    for name in ("gqlguard.requests", "gqlguard.check.duration", "gqlguard.cost.estimated"):
        assert name in recorded, name
        assert recorded[name].unit and recorded[name].description, name
    duration = recorded["gqlguard.check.duration"].data.data_points[0]
    assert tuple(duration.explicit_bounds) == DURATION_BOUNDARIES
    cost = recorded["gqlguard.cost.estimated"].data.data_points[0]
    assert tuple(cost.explicit_bounds) == tuple(float(b) for b in COST_BOUNDARIES)


def test_the_grafana_dashboard_reads_only_series_gqlguard_exports() -> None:
    import json
    import re
    from pathlib import Path

    from gqlguard import telemetry

    telemetry.record_check(0.001, ["DEPTH_LIMIT_EXCEEDED"], None, None)
    telemetry.record_check(0.001, [], 10.0, 2)
    telemetry.record_actual_cost(10.0, 8.0)
    telemetry.record_budget(90.0)
    # The Prometheus exporter's name for each instrument: dots become underscores, a unit of
    # seconds adds `_seconds`, a counter is read as `_total`, a histogram as `_bucket`.
    exported = set()
    for name, metric in _metrics().items():
        if not name.startswith("gqlguard."):
            continue
        base = name.replace(".", "_") + ("_seconds" if metric.unit == "s" else "")
        exported.add(
            base
            + (
                "_bucket"
                if hasattr(metric.data, "data_points")
                and hasattr(metric.data.data_points[0], "bucket_counts")
                else "_total"
            )
        )
    page = Path(__file__).parent.parent / "docs" / "grafana-dashboard.json"
    dashboard = json.loads(page.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"gqlguard_[a-z_]+", expr)}
    assert len(used) >= 5 and used <= exported, used - exported
