"""The work meter's calibration and what a check costs (issue 21), measured side by side.

Run: `.venv/bin/python bench/work.py` (part of `make bench`). Two tables:

1. Calibration: the units each legitimate document spends (the demo's persisted operations and
   large queries of the kind GitHub's and Shopify's public APIs document, written against the
   demo schema) as a share of the default budget. The budget is set so the largest uses at
   most a quarter of it.
2. CPU per `Guard.check` on unique texts (a trailing comment each), as a ratio to the realistic
   query's, and as a ratio to graphql-core alone (parse + validate) on the same text, for the
   realistic query, the largest legitimate ones and the duplication shapes the meter stops.

Writes the "work" section of docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphql import parse, validate

from bench.report import write_section
from gqlguard import Guard, GuardConfig
from gqlguard.work import work_budget
from schema_example.schema import DEMO_POLICIES, build_schema

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
SCHEMA = build_schema(GuardConfig(), guarded=False)._schema
MANIFEST = Path(__file__).resolve().parent.parent / "persisted_queries" / "manifest.json"

# Large legitimate queries, shaped like the documented examples of public APIs: a repository
# page of GitHub's API (one fragment reused at many places, connections with edges, nodes and
# page info), and a storefront catalog page of Shopify's (products with nested lists, one
# fragment per card, aliases for two slices of one connection).
LARGE_QUERIES = {
    "github-style dashboard": """
query Dashboard($first: Int = 10, $after: String) {
  viewer { ...UserCard orders(first: 5) { ...OrderRow } reviews(limit: 5) { ...ReviewRow } }
  users(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...UserCard posts(limit: 3) { ...PostRow } } }
  }
  posts(limit: 10) {
    ...PostRow
    comments(limit: 5) { id body author { ...UserCard } post { id title } }
  }
  search(term: "graphql", limit: 5) {
    __typename
    ... on User { ...UserCard }
    ... on Post { ...PostRow }
    ... on Product { ...ProductCard }
  }
  node(id: "1") { id ... on User { ...UserCard } ... on Post { ...PostRow } }
}
fragment UserCard on User { id name role }
fragment PostRow on Post { id title body author { ...UserCard } }
fragment OrderRow on Order {
  id total status items { quantity price product { ...ProductCard } }
}
fragment ReviewRow on Review { id rating body product { ...ProductCard } author { ...UserCard } }
fragment ProductCard on Product { id name price }
""",
    "shopify-style catalog": """
query Catalog($first: Int = 12, $after: String) {
  featured: products(first: 4) { nodes { ...ProductTile } }
  products(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        ...ProductTile
        reviews(limit: 3) { id rating body author { id name } product { id name } }
      }
    }
  }
  product(id: "1") {
    ...ProductTile
    reviews(limit: 10) { id rating body author { id name reviews(limit: 2) { id rating } } }
  }
  viewer { id name orders(first: 3) { id total status items { quantity price product { ...ProductTile } } } }
}
fragment ProductTile on Product { id name price topReview: reviews(limit: 1) { id rating } }
""",
}


def legitimate_documents() -> dict[str, str]:
    """The calibration corpus: every persisted operation, then the large queries."""
    operations = json.loads(MANIFEST.read_text(encoding="utf-8"))["operations"]
    documents = {f"persisted {op['name']}": op["body"] for op in operations}
    documents.update(LARGE_QUERIES)
    return documents


def units(text: str) -> int:
    """The units a document spends, measured without a budget in the way."""
    verdict = Guard(SCHEMA, GuardConfig(max_work=10**12), policies=DEMO_POLICIES).check(
        text, document_only=True
    )
    if not verdict.accepted:
        raise ValueError(f"not a legitimate document: {verdict.formatted_errors()}")
    return verdict.work


_unique = itertools.count()
BATCH = int(os.environ.get("BENCH_BATCH", "20"))


def _batch(action: Callable[[str], object], text: str) -> float:
    """CPU seconds per call of ``action`` over a batch of unique variants of ``text`` (the
    collector's work the batch causes included, as a server pays it)."""
    variants = [f"{text}\n# {next(_unique)}\n" for _ in range(BATCH)]
    gc.collect()
    started = time.process_time()
    for variant in variants:
        action(variant)
    return (time.process_time() - started) / BATCH


def cpu(action: Callable[[str], object], text: str) -> float:
    """Median CPU seconds per call of ``action`` on unique variants of ``text``."""
    return statistics.median(_batch(action, text) for _ in range(ROUNDS))


def side_by_side(
    ours: Callable[[str], object], theirs: Callable[[str], object], text: str
) -> tuple[float, float]:
    """Median CPU per call of both, their batches interleaved round by round."""
    mine, others = [], []
    for _ in range(ROUNDS):
        mine.append(_batch(ours, text))
        others.append(_batch(theirs, text))
    return statistics.median(mine), statistics.median(others)


def graphql_core_alone(text: str) -> None:
    validate(SCHEMA, parse(text))


def main() -> None:
    # One security-log line per rejection would be timed too (in main: importing this
    # module, as the tests do for its corpus, leaves logging alone).
    logging.disable(logging.CRITICAL)
    from bench.amplification import REALISTIC, WITHIN

    budget = work_budget(GuardConfig())
    lines = [
        "## Work meter (bench/work.py)",
        "",
        f"Default budget: {budget} units (4 per token of `max_tokens`). Units spent by "
        "legitimate documents (budget share; the calibration keeps the largest at or under 25%):",
        "",
        "| document | units | share of budget |",
        "|---|---:|---:|",
    ]
    corpus = legitimate_documents()
    for name, text in corpus.items():
        spent = units(text)
        lines.append(f"| {name} | {spent} | {100 * spent / budget:.1f}% |")
    guard = Guard(SCHEMA, GuardConfig(), policies=DEMO_POLICIES)
    shapes = {
        "realistic query (~45 fields)": REALISTIC,
        **LARGE_QUERIES,
        **{name: WITHIN[name] for name in list(WITHIN)[1:8]},
    }
    realistic, _ = side_by_side(guard.check, graphql_core_alone, REALISTIC)
    lines += [
        "",
        f"CPU per `Guard.check` on unique texts, default configuration, median of {ROUNDS} "
        f"interleaved rounds of {BATCH} calls each (every call a new text; the collector's "
        "work included); ratios to the realistic query's check and to graphql-core alone "
        "(parse + validate) on the same text:",
        "",
        "| document | verdict | × realistic check | × graphql-core alone |",
        "|---|---|---:|---:|",
    ]
    for name, text in shapes.items():
        ours, theirs = side_by_side(guard.check, graphql_core_alone, text)
        verdict = guard.check(text)
        outcome = "accepted" if verdict.accepted else verdict.errors[0].code.value
        lines.append(
            f"| {name} | {outcome} | {ours / realistic:.2f} | {ours / max(theirs, 1e-9):.2f} |"
        )
    print(write_section("work", lines))


if __name__ == "__main__":
    main()
