"""What a cached document holds, against what the document cache estimates (issue: the cost
bound; "cache bytes as estimated within 1.2x of retained bytes").

Run: `.venv/bin/python bench/cache_bytes.py` (part of `make bench`). For each legitimate
document of the work-meter corpus (persisted operations, GitHub/Shopify-style pages) and the
realistic query: 50 unique copies checked twice each by one guard (a text is kept from its
second sighting on), the bytes retained afterwards
measured with tracemalloc, against `Guard.cached_bytes`; then the same with five kinds of
principal checking each copy (what a document learns per kind: decisions, kept verdicts,
and with `hide_unauthorized_fields` its analyses and validations as each kind sees them).
Writes a section of docs/benchmarks.md.
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
from gqlguard.authorization import Principal
from schema_example.schema import DEMO_POLICIES

COPIES = 50
# Kinds of principal the demo's rules tell apart: anonymous, signed in, with the scopes of
# its @requiresScopes fields, an admin, staff (the `staff` policy).
KINDS = (
    Principal.anonymous(),
    Principal("reader"),
    Principal("member", frozenset({"users:email", "orders:read", "users:read"})),
    Principal("admin", frozenset({"admin"})),
    Principal("staff", frozenset({"staff"})),
)


def retained_and_estimated(
    text: str, principals: tuple[Principal, ...] = KINDS[:1], *, hide: bool = False
) -> tuple[float, float]:
    """Bytes per document: retained (tracemalloc) and estimated (the cache's own count)."""
    config = GuardConfig(max_work=10**9, hide_unauthorized_fields=hide)
    guard = Guard(SCHEMA, config, policies=DEMO_POLICIES)
    copies = [f"# copy {i}\n{text}" for i in range(COPIES)]  # unique texts, one shape
    # Warm the process-wide caches one validation fills once (rule dispatch plans) and the
    # guard's own (a schema view per kind of principal, when hiding) on another text, so
    # only what each document keeps is measured.
    for principal in principals:
        for warmed in (Guard(SCHEMA, config, policies=DEMO_POLICIES), guard):
            warmed.check(f"# warm\n{text}", principal=principal)
            warmed.check(f"# warm\n{text}", principal=principal)
    gc.collect()
    # A kept log record (pytest keeps every one) is not the cache's: none is written here.
    logging.disable(logging.CRITICAL)
    warm = guard.cached_bytes
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for copy in copies:
        for principal in principals:
            guard.check(copy, principal=principal)
            guard.check(copy, principal=principal)  # kept from its second sighting on
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    logging.disable(logging.NOTSET)
    retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return retained / COPIES, (guard.cached_bytes - warm) / COPIES


def corpus() -> dict[str, str]:
    return {**legitimate_documents(), "realistic query": REALISTIC}


def main() -> None:
    rows = []
    kinds_rows = []
    for name, text in corpus().items():
        retained, estimated = retained_and_estimated(text)
        rows.append((name, retained, estimated))
        kinds_rows.append(
            (
                name,
                retained_and_estimated(text, KINDS),
                retained_and_estimated(text, KINDS, hide=True),
            )
        )
    ratios = [estimated / retained for _, retained, estimated in rows]
    kinds_ratios = [
        estimated / retained for _, *measured in kinds_rows for retained, estimated in measured
    ]
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
        "",
        "Each copy checked twice by each of five kinds of principal (anonymous, signed in, "
        "with scopes, admin, staff), with `hide_unauthorized_fields` off and on:",
        "",
        "| document | off: retained | estimated | ratio | on: retained | estimated | ratio |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name} | {off[0]:,.0f} | {off[1]:,.0f} | {off[1] / off[0]:.2f} "
            f"| {on[0]:,.0f} | {on[1]:,.0f} | {on[1] / on[0]:.2f} |"
            for name, off, on in kinds_rows
        ),
        "",
        f"Every document within {min(kinds_ratios):.2f}–{max(kinds_ratios):.2f} of what it "
        "retained.",
    ]
    print(write_section("cache_bytes", lines))


if __name__ == "__main__":
    main()
