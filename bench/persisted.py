"""The same operation sent raw and by hash (issue: persisted queries).

Run: `.venv/bin/python bench/persisted.py` (part of `make bench`). Two measurements:

1. The guard stage in process — persisted lookup + Guard.check (parse, analysis, limits,
   validation, variables), i.e. everything before execution — per request, for: a raw query
   the guard has not seen (what an attacker varying the text forces), the same raw text
   repeated (the guard's text cache), and the operation by ``documentId`` (a safelist hit).
2. End to end: requests per second of the demo under uvicorn for the raw form and the
   persisted form, same operation and variables, best of interleaved rounds.

Writes the `persisted` section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section
from bench.throughput import WARMUP, load
from gqlguard.guard import Guard
from gqlguard.manifest import Manifest
from gqlguard.persisted import PersistedQueries
from schema_example.app import DEMO_MANIFEST, demo_config
from schema_example.schema import DEMO_POLICIES, build_schema
from tests.servers import serve

ITERATIONS = int(os.environ.get("BENCH_STAGE_ITERATIONS", "2000"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
OPERATION = "UserProfile"
VARIABLES = {"id": "1"}


def stage_timings() -> dict[str, float]:
    # The unseen-text case logs each unknown operation (log_unknown); keep the log quiet.
    logging.getLogger("gqlguard.security").setLevel(logging.ERROR)
    config = demo_config().model_copy(update={"persisted_mode": "log_unknown"})
    persisted = PersistedQueries(config)
    guard = Guard(build_schema(config), config, policies=DEMO_POLICIES)
    operation = next(op for op in Manifest.load(DEMO_MANIFEST).operations if op.name == OPERATION)
    Request = tuple[str | None, str, str | None]  # query, operation name, documentId

    def unseen(round_: int) -> list[Request]:
        names = [f"{OPERATION}R{round_}N{n}" for n in range(ITERATIONS)]
        return [(operation.body.replace(OPERATION, name, 1), name, None) for name in names]

    async def per_request(requests: list[Request]) -> float:
        started = time.perf_counter()
        for query, name, document_id in requests:
            lookup = await persisted.lookup(query, None, document_id)
            verdict = guard.check(lookup.query, VARIABLES, name, document_id=lookup.document_id)
            assert verdict.accepted, verdict.errors
        return (time.perf_counter() - started) / len(requests)

    async def run() -> dict[str, float]:
        results: dict[str, list[float]] = {"raw, unseen": [], "raw, repeated": [], "by id": []}
        by_id: Request = (None, OPERATION, f"sha256:{operation.id}")
        for round_ in range(ROUNDS):
            results["raw, unseen"].append(await per_request(unseen(round_)))
            repeated: Request = (operation.body, OPERATION, None)
            results["raw, repeated"].append(await per_request([repeated] * ITERATIONS))
            results["by id"].append(await per_request([by_id] * ITERATIONS))
        return {name: min(values) for name, values in results.items()}

    return asyncio.run(run())


def end_to_end() -> dict[str, float]:
    operation = next(op for op in Manifest.load(DEMO_MANIFEST).operations if op.name == OPERATION)
    forms = {
        "raw query": [{"query": operation.body, "variables": VARIABLES}],
        "documentId": [{"documentId": f"sha256:{operation.id}", "variables": VARIABLES}],
    }
    best: dict[str, float] = {}
    with serve("schema_example.app:app") as url:
        for form in forms.values():
            asyncio.run(load(url, WARMUP, form))
        for _ in range(ROUNDS):
            for name, form in forms.items():
                best[name] = max(best.get(name, 0.0), asyncio.run(load(url, REQUESTS, form)))
    return best


def main() -> None:
    stage = stage_timings()
    rates = end_to_end()
    unseen, repeated, by_id = stage["raw, unseen"], stage["raw, repeated"], stage["by id"]
    lines = [
        "## Persisted queries: raw vs. by hash (bench/persisted.py)",
        "",
        f"Operation `{OPERATION}` of the committed manifest (depth 4, two fragments), "
        f"variables {VARIABLES}. Guard stage = persisted lookup + `Guard.check` (parse, "
        "analysis, limits, validation, variable coercion, authorization): everything before "
        f"execution; {ITERATIONS:,} requests per form, best of {ROUNDS} rounds, in process.",
        "",
        "| form | guard stage per request | vs. by id |",
        "|---|---|---|",
        f"| raw query, text not seen before | {unseen * 1e6:,.1f} µs | {unseen / by_id:.1f}× |",
        f"| raw query, same text repeated | {repeated * 1e6:,.1f} µs | {repeated / by_id:.1f}× |",
        f"| `documentId` (safelist hit) | {by_id * 1e6:,.1f} µs | 1.0× |",
        "",
        "A hit is keyed by its sha256: no parse, no validation, and the analysis is reused "
        "while the variables it reads repeat. A raw query the guard has not seen pays for "
        "parsing and validation — the cost an attacker controls by varying the text. A "
        "repeated raw text hits the guard's text cache, but its full text is still hashed "
        "and compared (and, in log_unknown mode, sha256-hashed to look it up in the safelist).",
        "",
        f"End to end (uvicorn, loopback, {REQUESTS:,} requests, concurrency 8, best of "
        f"{ROUNDS} interleaved rounds, same variables):",
        "",
        "| form | requests/s |",
        "|---|---|",
        *(f"| {name} | {rate:,.0f} |" for name, rate in rates.items()),
        "",
        f"By id / raw: {rates['documentId'] / rates['raw query']:.2f}× (the raw text repeats, "
        "so the guard's text cache serves both and execution dominates: a difference within "
        "this 2-core machine's run-to-run noise, about ±20%, with the load generator on the "
        "same cores).",
    ]
    print(write_section("persisted", lines))


if __name__ == "__main__":
    main()
