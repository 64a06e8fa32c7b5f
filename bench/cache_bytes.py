"""What a cached document holds, against what the document cache estimates (issue: the cost
bound; "cache bytes as estimated within 1.2x of retained bytes").

Run: `.venv/bin/python bench/cache_bytes.py` (part of `make bench`). For each legitimate
document of the work-meter corpus (persisted operations, GitHub/Shopify-style pages) and the
realistic query: 50 unique copies checked twice each by one guard (a text is kept from its
second sighting on), the bytes retained afterwards
measured with tracemalloc, against `Guard.cached_bytes`. Writes a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import logging
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.amplification import REALISTIC
from bench.report import write_section
from bench.work import SCHEMA, legitimate_documents
from gqlguard import Guard, GuardConfig
from schema_example.schema import DEMO_POLICIES

COPIES = 50


def retained_and_estimated(text: str) -> tuple[float, float]:
    """Bytes per document: retained (tracemalloc) and estimated (the cache's own count)."""
    guard = Guard(SCHEMA, GuardConfig(max_work=10**9), policies=DEMO_POLICIES)
    copies = [f"# copy {i}\n{text}" for i in range(COPIES)]  # unique texts, one shape
    # Warm the process-wide caches one validation fills once (rule dispatch plans), so
    # only what each document keeps is measured.
    Guard(SCHEMA, GuardConfig(max_work=10**9), policies=DEMO_POLICIES).check(f"# warm\n{text}")
    gc.collect()
    # A kept log record (pytest keeps every one) is not the cache's: none is written here.
    logging.disable(logging.CRITICAL)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for copy in copies:
        guard.check(copy)
        guard.check(copy)  # kept from its second sighting on
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    logging.disable(logging.NOTSET)
    retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return retained / COPIES, guard.cached_bytes / COPIES


def corpus() -> dict[str, str]:
    return {**legitimate_documents(), "realistic query": REALISTIC}


def main() -> None:
    rows = []
    for name, text in corpus().items():
        retained, estimated = retained_and_estimated(text)
        rows.append((name, retained, estimated))
    ratios = [estimated / retained for _, retained, estimated in rows]
    lines = [
        "## Cache bytes: estimated vs retained (bench/cache_bytes.py)",
        "",
        f"Per document, {COPIES} unique copies checked twice each by one guard (kept from the "
        "second sighting); retained bytes measured",
        "with tracemalloc after a collection.",
        "",
        "| document | retained | estimated | estimated / retained |",
        "|---|---|---|---|",
        *(
            f"| {name} | {retained:,.0f} | {estimated:,.0f} | {estimated / retained:.2f} |"
            for name, retained, estimated in rows
        ),
        "",
        f"Every document within {min(ratios):.2f}–{max(ratios):.2f} of what it retained.",
    ]
    print(write_section("cache_bytes", lines))


if __name__ == "__main__":
    main()
