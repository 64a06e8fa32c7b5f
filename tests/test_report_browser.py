"""The calibration page, read in a real browser (headless Chromium): every limit's histogram
draws the current limit and the recommendation where their values fall among the bars, the
counts add up, over-limit operations are marked, and the page says when, from where and
against which configuration. Run by ``make browser`` (which installs Chromium when missing)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gqlguard import GuardConfig
from gqlguard.report import calibrate, html_report

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Chromium on a machine without a network: no background connections, no first-run work.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONFIG = GuardConfig(max_depth=4, max_cost=1000)


def traffic() -> list[dict[str, Any]]:
    """Five clients read Feed (depth 3, cost 10 to 14); two run Deep (depth 5, over the
    limit of 4); one client alone sends depth 40."""
    events: list[dict[str, Any]] = []
    for i in range(30):
        events.append(
            {
                "operation": "Feed",
                "client": f"10.0.0.{i % 5}",
                "ts": f"2026-12-01T10:{i:02d}:00.000+00:00",
                "metrics": {"depth": 3, "aliases": 0, "field_cost": 10 + i % 5, "type_cost": 4},
            }
        )
    for i in range(2):
        events.append(
            {
                "operation": "Deep",
                "client": f"10.0.0.{i}",
                "ts": "2026-12-01T11:00:00.000+00:00",
                "metrics": {"depth": 5, "aliases": 0, "field_cost": 12, "type_cost": 4},
            }
        )
    events.append(
        {
            "operation": "Probe",
            "client": "10.6.6.6",
            "ts": "2026-12-01T09:30:00.000+00:00",
            "metrics": {"depth": 40, "aliases": 0, "field_cost": 9000, "type_cost": 4},
        }
    )
    return events


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: `make browser` installs it"
    calibration = calibrate(traffic(), CONFIG)
    path = tmp_path_factory.mktemp("report") / "calibration.html"
    path.write_text(html_report(calibration, CONFIG, source="/var/log/gqlguard/measure.log"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(path.as_uri())
            yield tab
        finally:
            browser.close()


def box(page: Any, selector: str) -> dict[str, float]:
    element = page.locator(selector)
    assert element.count() == 1, f"{selector}: {element.count()} elements"
    found: dict[str, float] = element.bounding_box()
    return found


def bar_holding(page: Any, figure: str, value: float) -> dict[str, float]:
    """The bounding box of the bar whose bin holds ``value``."""
    bars = page.locator(f'figure[data-limit="{figure}"] rect.bar')
    for index in range(bars.count()):
        bar = bars.nth(index)
        low, high = float(bar.get_attribute("data-low")), float(bar.get_attribute("data-high"))
        if low <= value < high:
            found: dict[str, float] = bar.bounding_box()
            return found
    raise AssertionError(f"no bar of {figure} holds {value}")


def test_the_markers_fall_where_their_values_do_among_the_bars(page: Any) -> None:
    figure = 'figure[data-limit="max_depth"]'
    limit = box(page, f"{figure} line.marker.limit")
    recommended = box(page, f"{figure} line.marker.recommendation")
    assert page.locator(f"{figure} line.marker.limit").get_attribute("data-value") == "4"
    # Deep (depth 5, two clients) sets the recommendation: 5 + 20%, rounded up.
    assert page.locator(f"{figure} line.marker.recommendation").get_attribute("data-value") == "6"
    feed, deep = bar_holding(page, "max_depth", 3), bar_holding(page, "max_depth", 5)
    # The limit (4) lies between the bar of 3 and the bar of 5; the recommendation beyond 5.
    assert feed["x"] + feed["width"] <= limit["x"] <= deep["x"]
    assert recommended["x"] >= deep["x"] + deep["width"]
    # The lone client's depth 40 is not among the counted bars.
    assert all(
        float(bar.get_attribute("data-high")) < 40
        for bar in page.locator(f"{figure} rect.bar").all()
    )


def test_every_bar_carries_its_count_and_the_counts_add_up(page: Any) -> None:
    for figure in page.locator("figure[data-limit]").all():
        bars = figure.locator("rect.bar").all()
        labels = figure.locator("text.count").all()
        assert len(bars) == len(labels) > 0
        counts = [int(bar.get_attribute("data-count")) for bar in bars]
        assert [int(label.text_content()) for label in labels] == counts
        caption = figure.locator("figcaption").text_content()
        assert f"({sum(counts)} counted requests" in caption
        # Taller bars for larger counts: the browser's layout, not only the attributes.
        heights = [bar.bounding_box()["height"] for bar in bars]
        assert heights[counts.index(max(counts))] == max(heights)


def test_the_axes_are_labelled_on_a_log_scale(page: Any) -> None:
    ticks = page.locator('figure[data-limit="max_cost"] text.tick-label').all()
    values = [float(tick.text_content()) for tick in ticks]
    assert values[:4] == [0, 1, 2, 5] and 1000 in values
    xs = [tick.bounding_box()["x"] for tick in ticks]
    assert xs == sorted(xs)
    # A log(1 + v) scale: every decade as wide as the next once v is well above 1 (a
    # linear axis would make 100 to 1000 ten times 10 to 100).
    ten, hundred, thousand = (xs[values.index(v)] for v in (10, 100, 1000))
    assert abs((hundred - ten) - (thousand - hundred)) < 0.1 * (hundred - ten)


def test_over_limit_operations_are_marked_in_the_per_operation_table(page: Any) -> None:
    deep = page.locator('tr.operation[data-operation="Deep"]')
    assert "over" in (deep.get_attribute("class") or "")
    over_cell = deep.locator("td.over")
    assert over_cell.count() == 1 and over_cell.text_content() == "5 / 5 / 5"
    colour = over_cell.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert colour == "rgb(248, 208, 204)"
    feed = page.locator('tr.operation[data-operation="Feed"]')
    assert "over" not in (feed.get_attribute("class") or "")
    probe = page.locator('tr.operation[data-operation="Probe"]')
    assert "no: fewer than 2 clients" in probe.text_content()


def test_the_page_says_when_from_where_and_against_which_configuration(page: Any) -> None:
    time_range = page.locator("#time-range").text_content()
    assert "2026-12-01T09:30:00.000+00:00 to 2026-12-01T11:00:00.000+00:00" in time_range
    assert "/var/log/gqlguard/measure.log" in page.locator("#source").text_content()
    config = {
        row.locator("th").text_content(): row.locator("td").text_content()
        for row in page.locator("#config tr").all()
    }
    assert (config["max_depth"], config["max_cost"], config["mode"]) == ("4", "1000", "enforce")
    recommended = page.locator('#recommended tr[data-limit="max_depth"] td.recommended')
    assert recommended.text_content() == "6"
