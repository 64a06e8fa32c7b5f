"""OpenTelemetry metrics (issue 17): requests and rejections by code, estimated and actual
cost under Apollo Router's instrument names, check duration, budget remaining — read with the
SDK's in-memory reader."""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from gqlguard import GuardConfig

from .conftest import make_client

READER = InMemoryMetricReader()
# The global provider can be set once per process; gqlguard's instruments bind to it late.
metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


def _points(name: str) -> list[Any]:
    data = READER.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


async def test_requests_rejections_costs_and_budget_are_recorded() -> None:
    config = GuardConfig(budget_capacity=1000, budget_restore_rate=0)
    async with make_client(config) as client:
        await client.post("/graphql", json={"query": "{ posts(limit: 3) { title } }"})
        await client.post("/graphql", json={"query": "{ a" + " { a" * 12 + " }" * 13})
    rejections = {p.attributes["code"]: p.value for p in _points("gqlguard.rejections")}
    assert rejections.get("DEPTH_LIMIT_EXCEEDED", 0) >= 1
    outcomes = {p.attributes["outcome"]: p.value for p in _points("gqlguard.requests")}
    assert outcomes.get("accepted", 0) >= 1 and outcomes.get("rejected", 0) >= 1
    assert sum(p.count for p in _points("cost.estimated")) >= 1
    assert sum(p.count for p in _points("cost.actual")) >= 1
    assert sum(p.count for p in _points("gqlguard.check.duration")) >= 2
    assert sum(p.count for p in _points("gqlguard.budget.remaining")) >= 1
