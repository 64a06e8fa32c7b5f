"""End-to-end requests per second of the demo, with and without the guard (issue: transport).

Run: `.venv/bin/python bench/throughput.py` (part of `make bench`). Each app runs in its own
uvicorn process on a loopback port; one Python load generator sends the same realistic
queries, a bounded number of requests with fixed concurrency, after a warm-up. Configurations:
no guard (same endpoint, same schema), the guard on its defaults, the guard with a Redis cost
budget (skipped when Redis is not reachable). Then the cached baseline and the guard in one
server process, many short batches in pairs (``paired_batches``): the finer measure of the
guard's CPU per request on repeated texts. Writes a section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.report import write_section
from tests.servers import pin_process, process_cpu_seconds, serve, split_cores

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "150"))
PAIR_REQUESTS = int(os.environ.get("BENCH_PAIR_REQUESTS", "200"))
WARMUP = 300
CONCURRENCY = 8
QUERIES = [
    "{ users(first: 5) { nodes { name posts(limit: 3) { title comments(limit: 3) { body } } } } }",
    '{ product(id: "1") { name price reviews(limit: 5) { rating body author { name } } } }',
    '{ search(term: "a", limit: 5) { ... on Post { title } ... on User { name } } }',
    "{ posts(limit: 10) { id title author { name } } }",
]
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# The unique-text configurations: (their own names in the rounds, the table's labels).
UNIQUE_PLAIN = "unique texts: plain Strawberry (its own ASGI view, no guard)"
UNIQUE_SAME_ENDPOINT = "unique texts: no guard (same endpoint and schema)"
UNIQUE_GUARDED = "unique texts: guard, defaults"


async def load(
    url: str, count: int, bodies: list[dict[str, Any]] | None = None, *, unique: bool = False
) -> float:
    """Requests per second for ``count`` POSTs of ``bodies`` in turn (default: QUERIES);
    ``unique``: each query text made new by a trailing comment, so no cache can help."""
    bodies = bodies or [{"query": query} for query in QUERIES]
    nonce = time.time_ns()
    async with httpx.AsyncClient(timeout=30) as client:
        sent = 0

        async def worker() -> None:
            nonlocal sent
            while sent < count:
                body = bodies[sent % len(bodies)]
                if unique:
                    body = {**body, "query": f"{body['query']}\n# {nonce}.{sent}"}
                sent += 1
                response = await client.post(url, json=body)
                if response.status_code != 200 or "errors" in response.json():
                    raise SystemExit(f"unexpected answer: {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return count / (time.perf_counter() - started)


def measure(app: str, env: dict[str, str], unique: bool = False) -> tuple[float, float]:
    """Requests per second, and the server process's CPU seconds per request. The server
    runs on one core and the load generator on the other, so neither times the other."""
    server_core, client_cores = split_cores()
    pids: list[int] = []
    os.sched_setaffinity(0, client_cores)
    try:
        with serve(app, env=env, pids=pids) as url:
            pin_process(pids[0], server_core)
            asyncio.run(load(url, WARMUP, unique=unique))
            before = process_cpu_seconds(pids[0])
            rate = asyncio.run(load(url, REQUESTS, unique=unique))
            return rate, (process_cpu_seconds(pids[0]) - before) / REQUESTS
    finally:
        os.sched_setaffinity(0, server_core | client_cores)


# (app, environment, unique texts)
Configuration = tuple[str, dict[str, str], bool]
# Per configuration, every round's (requests per second, server CPU per request).
Rounds = dict[str, list[tuple[float, float]]]


def interleaved_rounds(configurations: dict[str, Configuration]) -> Rounds:
    # The machine is shared and noisy: configurations are interleaved round by round, so a
    # noisy moment weighs on every configuration of its round alike.
    rounds: Rounds = {name: [] for name in configurations}
    for _ in range(ROUNDS):
        for name, (app, env, unique) in configurations.items():
            rounds[name].append(measure(app, env, unique))
    return rounds


def best(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    """The best round's requests per second and CPU per request."""
    return max(rate for rate, _ in rounds), min(cpu for _, cpu in rounds)


def round_ratios(rounds: Rounds, name: str, base: str) -> list[float]:
    """Per round, ``name``'s CPU per request over ``base``'s in that round."""
    return [
        cpu / base_cpu for (_, cpu), (_, base_cpu) in zip(rounds[name], rounds[base], strict=True)
    ]


def cpu_ratio(rounds: Rounds, name: str, base: str) -> float:
    """The median over rounds of ``name``'s CPU per request over ``base``'s in that round."""
    return statistics.median(round_ratios(rounds, name, base))


def cpu_nanoseconds(pid: int) -> int:
    """The CPU time process ``pid``'s threads have used so far, to the nanosecond (the
    scheduler's own count: /proc's user and system times tick only every 10 ms)."""
    total = 0
    for thread in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((thread / "schedstat").read_text().split()[0])
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return total


def paired_batches() -> tuple[list[float], list[float]]:
    """Server CPU per request of the cached baseline and of the guard, PAIRS pairs of batches
    of PAIR_REQUESTS, both apps in one server process (bench/paired_app.py), each pair's two
    batches in random order: many short alternations, so the machine's noisy moments fall
    on both sides alike and the median of the pairs' ratios settles."""
    server_core, client_cores = split_cores()
    pids: list[int] = []
    order = random.Random(0)
    cached: list[float] = []
    guarded: list[float] = []
    os.sched_setaffinity(0, client_cores)
    try:
        env = {"GQLGUARD_PERSISTED_MODE": "off"}
        with serve("bench.paired_app:app", env=env, pids=pids) as url:
            pin_process(pids[0], server_core)
            base = url.rsplit("/graphql", 1)[0]
            sides = [(f"{base}/cached/graphql", cached), (f"{base}/guard/graphql", guarded)]
            for side_url, _ in sides:
                asyncio.run(load(side_url, WARMUP))
            for _ in range(PAIRS):
                for side_url, samples in order.sample(sides, 2):
                    before = cpu_nanoseconds(pids[0])
                    asyncio.run(load(side_url, PAIR_REQUESTS))
                    samples.append((cpu_nanoseconds(pids[0]) - before) / 1e9 / PAIR_REQUESTS)
    finally:
        os.sched_setaffinity(0, server_core | client_cores)
    return cached, guarded


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def main() -> None:
    # The library's defaults (persisted queries off); the demo's log_unknown mode is measured
    # apart, since it writes one security-log line per raw query outside the manifest.
    defaults = {"GQLGUARD_PERSISTED_MODE": "off"}
    budget = {
        **defaults,
        "GQLGUARD_BUDGET_CAPACITY": "1000000000",
        "GQLGUARD_BUDGET_RESTORE_RATE": "1000000",
        "GQLGUARD_BUDGET_STORE": "redis",
        "GQLGUARD_BUDGET_KEY_PREFIX": "gqlguard-bench:",
        "GQLGUARD_REDIS_URL": REDIS_URL,
    }
    configurations: dict[str, Configuration] = {
        "no guard (same endpoint and schema)": ("bench.apps:unguarded", {}, False),
        "no guard + Strawberry ParserCache/ValidationCache": (
            "bench.apps:cached_unguarded",
            {},
            False,
        ),
        "guard, defaults": ("schema_example.app:app", defaults, False),
        "guard, demo config (log_unknown: a log line per query)": (
            "schema_example.app:app",
            {},
            False,
        ),
    }
    if redis_reachable():
        configurations["guard + Redis cost budget"] = ("schema_example.app:app", budget, False)
    unique = {
        UNIQUE_PLAIN: ("tests.unguarded_app:app", {}, True),
        UNIQUE_SAME_ENDPOINT: ("bench.apps:unguarded", {}, True),
        UNIQUE_GUARDED: ("schema_example.app:app", defaults, True),
    }
    rounds = interleaved_rounds({**configurations, **unique})
    paired_cached, paired_guarded = paired_batches()
    paired = [g / c for g, c in zip(paired_guarded, paired_cached, strict=True)]
    quartiles = statistics.quantiles(paired, n=4)
    cached = "no guard + Strawberry ParserCache/ValidationCache"
    base = best(rounds[cached])
    lines = [
        "## End-to-end throughput (bench/throughput.py)",
        "",
        f"uvicorn, one worker per app, loopback, the server on one core and the load "
        f"generator on the other; {REQUESTS} requests after {WARMUP} warm-up, "
        f"concurrency {CONCURRENCY}, the same {len(QUERIES)} realistic queries in turn "
        "(connections, nested lists, a union search, a product with reviews); "
        f"{ROUNDS} interleaved rounds. Requests/s and CPU: the best round of each "
        "configuration; the ratio: the median over rounds of its server CPU per request "
        "over the cached baseline's in the same round (the machine is shared: one round's "
        "noise weighs on both sides of its ratio).",
        "",
        "| configuration | requests/s (best) | vs. cached baseline | server CPU / request "
        "(best) | CPU vs. cached baseline (median of rounds) |",
        "|---|---|---|---|---|",
    ]
    for name in configurations:
        rate, cpu = best(rounds[name])
        lines.append(
            f"| {name} | {rate:,.0f} | {rate / base[0]:.1%} | {cpu * 1000:.2f} ms "
            f"| {cpu_ratio(rounds, name, cached):.3f}x |"
        )
    guarded = best(rounds["guard, defaults"])
    per_round = round_ratios(rounds, "guard, defaults", cached)
    lines += [
        "",
        f"Guard overhead against the cached baseline: {1 - guarded[0] / base[0]:.1%} of "
        "requests per second (best rounds); server CPU per request "
        f"{statistics.median(per_round):.3f}x (median of the rounds' ratios; "
        f"rounds from {min(per_round):.2f}x to {max(per_round):.2f}x; "
        "the server process's CPU from /proc over the measured requests). "
        "Against plain Strawberry (no caches) the guard is faster: it caches the parsed, "
        "validated document and its variable-free analysis by query text. Per request the "
        "guard installs its field middleware only when something must be enforced while "
        "resolving (filter-mode denials, hidden introspection fields), and the response-cost "
        "walk follows a plan compiled once per document. The Redis budget adds two round "
        "trips per request (charge the estimate before execution, refund after).",
        "",
        f"Paired batches in one server process (bench/paired_app.py: the cached baseline "
        f"and the guard, defaults, served by one uvicorn process; {PAIRS} pairs of "
        f"{PAIR_REQUESTS}-request batches, each pair's two in random order; CPU from the "
        "scheduler's per-thread counts, to the nanosecond): the guard's server CPU per "
        f"request over the baseline's, median of the pairs' ratios "
        f"**{statistics.median(paired):.3f}x** (quartiles {quartiles[0]:.3f}x to "
        f"{quartiles[2]:.3f}x; over all batches {sum(paired_guarded) / sum(paired_cached):.3f}x; "
        f"median batch {statistics.median(paired_guarded) * 1000:.2f} ms vs "
        f"{statistics.median(paired_cached) * 1000:.2f} ms). Many short alternations in one "
        "process: what differs between server processes (heap layout, hash seed) weighs on "
        "both sides, and the machine's noisy moments fall on both sides alike.",
        "",
        "Unique texts: the same queries, each request's text made new by a trailing comment, "
        "so no cache helps anyone (the guard parses, analyses and validates every request; "
        "Strawberry parses and validates every request), in the same interleaved rounds:",
        "",
        "| unique texts | requests/s (best) | server CPU / request (best) "
        "| CPU vs. plain Strawberry (median of rounds) |",
        "|---|---|---|---|",
    ]
    for name in unique:
        rate, cpu = best(rounds[name])
        label = name.removeprefix("unique texts: ")
        lines.append(
            f"| {label} | {rate:,.0f} | {cpu * 1000:.2f} ms "
            f"| {cpu_ratio(rounds, name, UNIQUE_PLAIN):.3f}x |"
        )
    section = write_section("throughput", lines)
    print(section)


if __name__ == "__main__":
    main()
