"""Calibration from real traffic (issue 17): measure mode logs every request's metrics, and
`gqlguard report` turns the log into percentiles, recommended limits and an HTML page."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from gqlguard import GuardConfig
from gqlguard.cli import main
from gqlguard.report import FLOORS, calibrate, measured_events

from .conftest import make_client

FEED = "query Feed {{ posts(limit: {n}) {{ title author {{ name }} }} }}"
DEEP = "query Deep { posts(limit: 1) { author { posts(limit: 1) { author { name } } } } }"
# One client's request under a real operation name: as deep and expensive as it likes.
HOSTILE_FEED = (
    "query Feed { posts(limit: 100) { author { posts(limit: 100) { author { posts(limit: 100)"
    " { title } } } } } }"
)
INVALID = "query Feed { posts(limit: 5) { titel } }"


async def _send(client: Any, query: str, address: str) -> None:
    response = await client.post(
        "/graphql", json={"query": query}, headers={"x-forwarded-for": address}
    )
    assert "data" in response.json() or query == INVALID  # measure mode never rejects a limit


async def test_measure_mode_writes_every_request_and_hostile_traffic_cannot_loosen_a_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "measure.log"
    config = GuardConfig(
        mode="measure", max_depth=4, measure_log=str(log), trusted_proxies=("127.0.0.1",)
    )
    sent = 0
    async with make_client(config) as client:
        # Ten clients read the feed with pages of 5 to 9; two of them run the deep report.
        for round_ in range(3):
            for number in range(10):
                await _send(client, FEED.format(n=5 + (round_ + number) % 5), f"10.0.0.{number}")
                sent += 1
        for number in range(2):
            await _send(client, DEEP, f"10.0.0.{number}")
            sent += 1
        # One client alone: a hostile document named Feed, twice; an operation nobody else sends.
        for _ in range(2):
            await _send(client, HOSTILE_FEED, "10.6.6.6")
            sent += 1
        await _send(client, "query Probe { posts(limit: 50) { title } }", "10.6.6.6")
        # Refused by validation (from three clients): never a sample.
        for number in range(3):
            await _send(client, INVALID, f"10.0.0.{number}")
        sent += 4
    # Every request is in the file, at INFO, though nothing configured logging to keep INFO.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    measured = [event for event in lines if event["event"] == "measured"]
    # A document validation refused is measured once; its replays are answered from the
    # rejection memory, unanalysed, and write their `rejected` event only.
    assert len(measured) == sent - 2
    assert {event["recorded"] for event in measured} == {"every_request"}
    assert [e["refused"] for e in measured if e["refused"]] == [["GRAPHQL_VALIDATION_FAILED"]]
    rejected = [event for event in lines if event["event"] == "rejected"]
    assert [event["codes"] for event in rejected] == [["GRAPHQL_VALIDATION_FAILED"]] * 3

    toml = tmp_path / "gqlguard.toml"
    toml.write_text("max_depth = 4\n")
    page = tmp_path / "report.html"
    assert main(["report", str(log), "--html", str(page), "--config", str(toml)]) == 0
    text = capsys.readouterr().out
    calibration = calibrate(measured_events(log.read_text().splitlines()), GuardConfig())
    feed = next(op for op in calibration.operations if op.operation == "Feed")
    # The hostile Feed is far beyond the feed's traffic: anomalous, left out.
    assert (feed.clients, feed.refused, feed.anomalous) == (10, 1, 2)
    assert feed.supported["max_depth"] == 3
    probe = next(op for op in calibration.operations if op.operation == "Probe")
    assert not probe.counted
    # Deep (depth 5, from two clients) sets max_depth: 5 + 20% = 6; cost comes from the feed.
    assert calibration.recommended["max_depth"] == 6
    assert calibration.recommended_by["max_depth"] == "Deep"
    assert calibration.recommended["max_aliases"] == FLOORS["max_aliases"]  # no alias: the floor
    honest_cost = max(
        float(e["metrics"][cost])
        for e in measured
        for cost in ("field_cost", "type_cost")
        if e["operation"] in ("Feed", "Deep") and not e["refused"] and e["client"] != "10.6.6.6"
    )
    assert calibration.recommended["max_cost"] <= honest_cost * 1.2 + 1
    assert "max_depth = 6    (now 4; from Deep)" in text
    assert "refused 1" in text and "from fewer than 2 clients" in text
    deep = text.split("Deep: 2 requests from 2 clients", 1)[1].split("\n\n", 1)[0]
    assert "depth" in deep and "OVER the current limit" in deep
    # Per client: the hostile one stands out (its two anomalous requests), in text and page.
    hostile = next(c for c in calibration.clients if c.client == "client:10.6.6.6")
    assert (hostile.requests, hostile.anomalous, hostile.largest["depth"]) == (3, 2, 6)
    assert "client:10.6.6.6: 3 requests, 2 operations, refused 0, anomalous 2" in text
    html = page.read_text()
    assert "<script" not in html and str(log.resolve()) in html
    assert '<tr class="client flagged" data-client="client:10.6.6.6">' in html


def test_a_value_one_client_alone_sent_never_raises_a_limit() -> None:
    # Too little traffic for the fence: the per-client rule alone keeps the outlier out.
    events = [
        {"operation": "Feed", "client": f"10.0.0.{i}", "metrics": {"depth": 3 + i % 2}}
        for i in range(6)
    ] + [{"operation": "Feed", "client": "10.6.6.6", "metrics": {"depth": 40}}]
    calibration = calibrate(events)
    assert calibration.operations[0].anomalous == 0
    assert calibration.operations[0].supported["max_depth"] == 4
    assert calibration.recommended["max_depth"] == 5
    assert calibrate(events, min_clients=1).recommended["max_depth"] == 48


def test_anomalous_requests_from_many_clients_are_left_out() -> None:
    events = [
        {"operation": "Feed", "client": f"10.0.0.{i % 10}", "metrics": {"field_cost": 20 + i % 7}}
        for i in range(60)
    ] + [
        {"operation": "Feed", "client": f"10.9.9.{i}", "metrics": {"field_cost": 50_000}}
        for i in range(3)
    ]
    calibration = calibrate(events)
    (feed,) = calibration.operations
    assert feed.anomalous == 3
    assert calibration.recommended["max_cost"] == math.ceil(26 * 1.2)
    # Without enough traffic to know what is normal, nothing is called anomalous.
    few = calibrate([e for e in events if e["client"] in ("10.0.0.1", "10.0.0.2")] + events[-3:])
    assert few.operations[0].anomalous == 0  # 5 clients: too few to know what is normal


def test_a_structural_limit_is_never_recommended_below_its_floor() -> None:
    events = [
        {"operation": "Ping", "client": f"c{i}", "metrics": {"depth": 1, "aliases": 0}}
        for i in range(5)
    ]
    recommended = calibrate(events).recommended
    assert (recommended["max_depth"], recommended["max_aliases"]) == (5, 5)


def test_over_limit_records_of_a_rollout_are_not_a_sample_of_the_traffic() -> None:
    events = [
        {"operation": "Feed", "client": f"c{i}", "recorded": "over_limit", "metrics": {"depth": 9}}
        for i in range(5)
    ]
    calibration = calibrate(events)
    assert calibration.operations[0].not_sampled == 5 and not calibration.recommended


def test_a_log_without_measurements_is_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_text("nothing measured here\n")
    assert main(["report", str(log)]) == 2


def test_analyze_prints_the_same_table_for_a_persisted_queries_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = Path(__file__).resolve().parent.parent / "persisted_queries"
    assert (
        main(["analyze", "--schema", "schema_example.schema:schema", "--query", str(folder)]) == 0
    )
    text = capsys.readouterr().out
    assert "10 measured requests, 10 operations" in text
    assert "recommended (the 1st largest client's maximum per operation + 20%" in text


def test_a_client_flooding_the_log_cannot_make_the_others_anomalous() -> None:
    honest = [
        {"operation": "Feed", "client": f"10.0.0.{i}", "metrics": {"field_cost": cost}}
        for i in range(10)
        for cost in (5, 120)
    ]
    flood = [{"operation": "Feed", "client": "6.6.6.6", "metrics": {"field_cost": 1}}] * 200
    alone, flooded = calibrate(honest), calibrate(honest + flood)
    assert alone.recommended["max_cost"] == flooded.recommended["max_cost"] == 144
    assert flooded.operations[0].anomalous == 0


def test_one_actor_with_and_without_its_token_is_one_client() -> None:
    events = [
        {"operation": "Feed", "client": f"10.0.0.{i}", "metrics": {"field_cost": 5}}
        for i in range(10)
    ] + [
        {"operation": "Feed", "client": "6.6.6.6", "metrics": {"field_cost": 900}},
        {
            "operation": "Feed",
            "client": "6.6.6.6",
            "principal": "mallory",
            "metrics": {"field_cost": 900},
        },
        # mallory's subject from another address later: still the same client
        {
            "operation": "Feed",
            "client": "7.7.7.7",
            "principal": "mallory",
            "metrics": {"field_cost": 900},
        },
    ]
    calibration = calibrate(events)
    assert calibration.recommended["max_cost"] == 6
    merged = next(c for c in calibration.clients if "mallory" in c.client)
    assert merged.client == "client:6.6.6.6 = client:7.7.7.7 = principal:mallory"
    assert merged.requests == 3


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400, "-3", "true", '"7"']
)
def test_a_malformed_metric_skips_its_event_and_is_counted(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [
        json.dumps(
            {"event": "measured", "operation": "Feed", "client": f"c{i}", "metrics": {"depth": 3}}
        )
        for i in range(3)
    ]
    bad = (
        '{"event": "measured", "operation": "Feed", "client": "x", "metrics": {"depth": '
        + value
        + "}}"
    )
    log = tmp_path / "measure.log"
    log.write_bytes(("\n".join([*good, bad, bad]) + "\n").encode() + b"\xff\xfe not utf-8\n")
    assert main(["report", str(log), "--html", str(tmp_path / "page.html")]) == 0
    text = capsys.readouterr().out
    assert text.startswith("3 measured requests") and "malformed 2" in text


def test_report_mistakes_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "measure.log"
    log.write_text(json.dumps({"event": "measured", "operation": "A", "metrics": {"depth": 1}}))
    for target in (tmp_path / "missing" / "page.html", tmp_path):
        assert main(["report", str(log), "--html", str(target)]) == 2
        error = capsys.readouterr().err
        assert error.startswith("gqlguard: cannot write") and error.count("\n") == 1


def test_the_cost_histogram_counts_each_request_once() -> None:
    events = [
        {"operation": "Feed", "client": f"c{i}", "metrics": {"field_cost": 10, "type_cost": 30}}
        for i in range(4)
    ]
    calibration = calibrate(events, GuardConfig())
    assert calibration.values("max_cost") == [30.0] * 4  # the larger of the two, once each
    only_fields = calibrate(events, GuardConfig(cost_limit_applies_to="field_cost"))
    assert only_fields.values("max_cost") == [10.0] * 4
