"""Calibration from real traffic (issue 17): measure mode logs every request's metrics, and
`gqlguard report` turns the log into percentiles, recommended limits and an HTML page."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gqlguard import GuardConfig
from gqlguard.cli import main

from .conftest import make_client

TRAFFIC = [
    "query Feed { posts(limit: 5) { title author { name } } }",
    "query Feed { posts(limit: 9) { title author { name } } }",
    "query Deep { posts(limit: 1) { author { posts(limit: 1) { author { name } } } } }",
    "{ __typename }",
]


async def test_measure_mode_traffic_becomes_a_calibration_report(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="gqlguard.security")
    async with make_client(GuardConfig(mode="measure", max_depth=4)) as client:
        for query in TRAFFIC * 3:
            response = await client.post("/graphql", json={"query": query})
            assert "data" in response.json()  # measure mode never rejects
    log = tmp_path / "security.log"
    log.write_text(
        "\n".join(
            f"2026-11-22 {r.levelname}:{r.name}:{r.getMessage()}"
            for r in caplog.records
            if r.name == "gqlguard.security"
        )
    )
    config = tmp_path / "gqlguard.toml"
    config.write_text("max_depth = 4\n")
    page = tmp_path / "report.html"
    assert main(["report", str(log), "--html", str(page), "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("12 measured requests, 3 operations")
    assert "Feed: 6 requests" in text and "(anonymous): 3 requests" in text
    # Deep is 5 fields deep: over the configured max_depth of 4, so it is flagged.
    deep = text.split("Deep: 3 requests", 1)[1].split("\n\n", 1)[0]
    assert "REJECTED by the current configuration: depth 5 > max_depth 4" in deep
    assert "max_depth = 6" in text  # p99 5, plus 20%, rounded up
    html = page.read_text()
    assert html.count("<svg") >= 5 and "<script" not in html


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
    assert "recommended (p99 of all traffic + 20%):" in text
