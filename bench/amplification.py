"""Attacker amplification (issue 13): what one hostile request costs the server, as a ratio to
a realistic query, measured side by side in one run.

Run: `.venv/bin/python bench/amplification.py` (part of `make bench`). Three parts:

1. Pre-execution CPU per request (`Guard.check`, default configuration, unique texts so no
   cache helps: each text gets its own trailing comment), for the realistic query and every
   hostile shape within the limits; the same shapes through plain Strawberry's pre-execution
   work (graphql-core parse + validate, which its ParserCache/ValidationCache cannot save for
   unique texts). Over-limit documents: the time to refuse them, as a ratio to graphql-core
   parsing the same text.
2. End to end under uvicorn: server CPU per request (from /proc), guard vs plain Strawberry.
3. Under load: a legitimate client's p99 latency alone, and while 4 connections flood
   hostile documents against a cost budget (they are throttled; it is not).

Writes the "attacker amplification" section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphql import parse, specified_rules, validate

from bench.report import write_section
from gqlguard import Guard, GuardConfig
from gqlguard.tokens import mint_token
from schema_example.app import DEMO_JWT_AUDIENCE, DEMO_JWT_ISSUER, DEMO_JWT_SECRET
from schema_example.schema import DEMO_POLICIES, build_schema
from tests.servers import serve

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
SERVER_REQUESTS = int(os.environ.get("BENCH_SERVER_REQUESTS", "150"))
GRAPHQL_SCHEMA = build_schema(GuardConfig(), guarded=False)._schema

REALISTIC = """
query Dashboard {
  users(first: 5) {
    nodes { id name posts(limit: 3) { id title comments(limit: 2) { id body author { name } } } }
  }
  products(first: 3) {
    nodes { id name price reviews(limit: 2) { id rating body author { name } } }
  }
  posts(limit: 5) { id title author { id name } }
}
"""


def _fragments(count: int, body: str) -> str:
    spreads = " ".join(f"...F{i}" for i in range(count))
    definitions = " ".join(f"fragment F{i} on Post {{ {body} }}" for i in range(count))
    return f"{{ posts(limit: 1) {{ {spreads} }} }} {definitions}"


WITHIN = {
    "realistic query (~45 fields)": REALISTIC,
    "`id` x 600": "{ posts(limit: 1) { " + "id " * 600 + "} }",
    "`author { name }` x 247": "{ posts(limit: 1) { " + "author { name } " * 247 + "} }",
    "`__typename` x 990": "{ " + "__typename " * 990 + "}",
    "aliases to one name (15) x 40": "{ posts(limit: 1) { "
    + " ".join(f"a{i % 15}: title" for i in range(15))
    + " "
    + "title " * 500
    + "} }",
    "one fragment spread x 300": "{ posts(limit: 1) { "
    + "...F " * 300
    + "} } fragment F on Post { author { name } }",
    "different fragments, same field x 60": _fragments(60, "author { name }"),
    "nested repeats 6 x 6 x 6": "{ posts(limit: 1) { "
    + ("author { " + ("posts(limit: 1) { " + "title " * 6 + "} ") * 6 + "} ") * 6
    + "} }",
    "duplicates in the operation not run": "query Run { __typename } "
    + "query Other { posts(limit: 1) { "
    + "author { name } " * 240
    + "} }",
    "deep list literal (100 levels)": 'query Run { search(term: "a", limit: 1) { __typename } } '
    + "query V($x: [[Int]] = "
    + "[" * 100
    + "1"
    + "]" * 100
    + ") { __typename }",
    "long string (14 kB)": '{ search(term: "' + "y" * 14_000 + '", limit: 1) { __typename } }',
    "many variable definitions (120)": "query Q("
    + ", ".join(f"$v{i}: Int" for i in range(120))
    + ") { posts(limit: 1) { id } }",
    "many small fragments (100)": _fragments(100, "id"),
}
OVER = {
    "1,200 tokens, 13 kB": "{ posts(limit: 1) { " + "title author { name } " * 300 + "} }",
    "1,100 comments": "{ posts(limit: 1) { id } }\n" + "# c\n" * 1_100,
    "20,000 characters of whitespace": "{ posts(limit: 1) { id } }" + " " * 20_000,
    "5,000 nested brackets": "{ " + "a { " * 2_500 + "b" + " }" * 2_500 + " }",
}


def cpu_per_call(action: Callable[[str], object], text: str) -> float:
    """Median over ROUNDS of the best of 3 calls' CPU time, each call on a new unique text."""
    samples = []
    for round_number in range(ROUNDS):
        best = float("inf")
        for call in range(3):
            unique = f"{text}\n# {round_number}.{call}.{time.time_ns()}"
            started = time.process_time()
            action(unique)
            best = min(best, time.process_time() - started)
        samples.append(best)
    return statistics.median(samples)


def strawberry_pre_execution(text: str) -> None:
    try:
        validate(GRAPHQL_SCHEMA, parse(text), specified_rules)
    except Exception:  # a syntax error ends Strawberry's work too
        return


def guard_check(guard: Guard, name: str | None) -> Callable[[str], object]:
    return lambda text: guard.check(text, operation_name=name)


def _name(query: str) -> str | None:
    return "Run" if "query Run" in query else ("Q" if "query Q(" in query else None)


# The guard's CPU per document of WITHIN, as pre_execution() measured it: the flood without a
# budget sends the costliest of them (the worst documents found, whatever they are today).
MEASURED: dict[str, float] = {}


def pre_execution() -> list[str]:
    guard = Guard(GRAPHQL_SCHEMA, GuardConfig(), policies=DEMO_POLICIES)
    realistic = cpu_per_call(guard_check(guard, None), REALISTIC)
    lines = [
        "| document (within every default limit) | verdict | `Guard.check` CPU | x realistic "
        "| plain Strawberry (parse + validate) | x realistic |",
        "|---|---|---|---|---|---|",
    ]
    plain_realistic = cpu_per_call(strawberry_pre_execution, REALISTIC)
    for label, query in WITHIN.items():
        name = _name(query)
        verdict = guard.check(query, operation_name=name)
        outcome = "accepted" if verdict.accepted else verdict.errors[0].code.value
        ours = MEASURED[label] = cpu_per_call(guard_check(guard, name), query)
        theirs = cpu_per_call(strawberry_pre_execution, query)
        lines.append(
            f"| {label} | {outcome} | {ours * 1000:.2f} ms | {ours / realistic:.1f} "
            f"| {theirs * 1000:.2f} ms | {theirs / plain_realistic:.1f} |"
        )
    lines += [
        "",
        "| document over a pre-parse limit | code | refused in | graphql-core parse | ratio |",
        "|---|---|---|---|---|",
    ]
    for label, query in OVER.items():
        verdict = guard.check(query)
        refused = cpu_per_call(guard_check(guard, None), query)
        try:
            parsing = cpu_per_call(parse, query)
            parse_cell, ratio = f"{parsing * 1000:.2f} ms", f"{refused / parsing:.3f}"
        except Exception:  # graphql-core cannot parse it at all
            parse_cell, ratio = "RecursionError", "n/a"
        lines.append(
            f"| {label} | {verdict.errors[0].code.value} | {refused * 1000:.3f} ms "
            f"| {parse_cell} | {ratio} |"
        )
    return lines


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(app: str, env: dict[str, str], query: str) -> float:
    pids: list[int] = []
    with serve(app, env=env, pids=pids) as url, httpx.Client(timeout=60) as http:
        path = url if app.startswith("schema_example") else url.rsplit("/", 1)[0] + "/graphql"
        for n in range(20):  # warm-up
            http.post(path, json={"query": f"{query}\n# w{n}"})
        before = _cpu_seconds(pids[0])
        for n in range(SERVER_REQUESTS):
            http.post(path, json={"query": f"{query}\n# {n}.{time.time_ns()}"})
        return (_cpu_seconds(pids[0]) - before) / SERVER_REQUESTS


def end_to_end() -> list[str]:
    env = {"GQLGUARD_PERSISTED_MODE": "off"}
    shapes = {
        "realistic query": REALISTIC,
        "`id` x 600": WITHIN["`id` x 600"],
        "`author { name }` x 247": WITHIN["`author { name }` x 247"],
        "`__typename` x 990": WITHIN["`__typename` x 990"],
        "1,200 tokens (over the limit)": OVER["1,200 tokens, 13 kB"],
    }
    lines = [
        "| request (unique text each time) | guarded demo: server CPU / request | x realistic "
        "| plain Strawberry | x realistic |",
        "|---|---|---|---|---|",
    ]
    guarded = {label: server_cpu("schema_example.app:app", env, q) for label, q in shapes.items()}
    plain = {label: server_cpu("tests.unguarded_app:app", env, q) for label, q in shapes.items()}
    for label in shapes:
        lines.append(
            f"| {label} | {guarded[label] * 1000:.2f} ms "
            f"| {guarded[label] / guarded['realistic query']:.1f} "
            f"| {plain[label] * 1000:.2f} ms | {plain[label] / plain['realistic query']:.1f} |"
        )
    return lines


async def _latencies(url: str, headers: dict[str, str], count: int) -> list[float]:
    async with httpx.AsyncClient(timeout=60) as http:
        latencies = []
        for n in range(count):
            started = time.perf_counter()
            await http.post(url, json={"query": f"{REALISTIC}\n# {n}"}, headers=headers)
            latencies.append(time.perf_counter() - started)
        return latencies


def worst() -> list[str]:
    """Without a budget, the flood sends the four documents whose check costs most (as
    measured above), and the over-limit token flood, in turn, each text unique."""
    costliest = sorted(MEASURED, key=MEASURED.__getitem__, reverse=True)[:4]
    return [WITHIN[label] for label in costliest] + [OVER["1,200 tokens, 13 kB"]]


async def _flood(url: str, stop: asyncio.Event, counts: list[int], documents: list[str]) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        turn = 0
        while not stop.is_set():
            hostile = documents[turn % len(documents)]
            turn += 1
            response = await http.post(
                url,
                json={"query": f"{hostile}\n# {time.time_ns()}", "operationName": _name(hostile)},
            )
            counts.append(response.status_code)


async def _under_flood(
    url: str, headers: dict[str, str], documents: list[str]
) -> tuple[list[float], list[int]]:
    stop = asyncio.Event()
    counts: list[int] = []
    flooders = [asyncio.create_task(_flood(url, stop, counts, documents)) for _ in range(4)]
    await asyncio.sleep(1.0)  # the flooders drain their bucket first
    latencies = await _latencies(url, headers, 200)
    stop.set()
    await asyncio.gather(*flooders)
    return latencies, counts


def _gc_stats(url: str) -> dict[str, list[float]]:
    stats: dict[str, list[float]] = httpx.get(url.replace("/graphql", "/gc-stats")).json()
    return stats


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def under_load() -> list[str]:
    env = {
        "GQLGUARD_PERSISTED_MODE": "off",
        "GQLGUARD_BUDGET_CAPACITY": "200",
        "GQLGUARD_BUDGET_RESTORE_RATE": "20",
    }
    token = mint_token(
        DEMO_JWT_SECRET, subject="legit", issuer=DEMO_JWT_ISSUER, audience=DEMO_JWT_AUDIENCE
    )
    headers = {"authorization": f"Bearer {token}"}  # its own bucket (by `sub`)
    with serve(env=env) as url:
        idle = asyncio.run(_latencies(url, headers, 200))
        loaded, statuses = asyncio.run(
            _under_flood(url, headers, [WITHIN["`author { name }` x 247"]])
        )
    with serve("bench.gc_probe:app", env={"GQLGUARD_PERSISTED_MODE": "off"}) as url:
        idle_open = asyncio.run(_latencies(url, headers, 200))
        before = _gc_stats(url)
        flood_started = time.perf_counter()
        flood = worst()
        names = [label for label, text in WITHIN.items() if text in flood]
        loaded_open, flooded = asyncio.run(_under_flood(url, headers, flood))
        flood_seconds = time.perf_counter() - flood_started
        after = _gc_stats(url)["2"]
        full = [after[0] - before["2"][0], after[1] - before["2"][1], after[2]]
    refused = statuses.count(429) / max(len(statuses), 1)
    return [
        "| legitimate client (realistic query, one connection) | p50 | p99 |",
        "|---|---|---|",
        f"| alone | {statistics.median(idle) * 1000:.1f} ms | {p99(idle) * 1000:.1f} ms |",
        f"| while 4 connections flood `author {{ name }}` x 247 | "
        f"{statistics.median(loaded) * 1000:.1f} ms | {p99(loaded) * 1000:.1f} ms |",
        "",
        f"p99 under flood / p99 alone: **{p99(loaded) / p99(idle):.2f}**; the flooders sent "
        f"{len(statuses):,} requests, {refused:.0%} of them answered 429 (once their bucket is "
        "drained, before the body is read) "
        "(budget 200 points, 20 per second, 10 points per rejection).",
        "",
        "Without a budget (the same demo, no cost budget), 4 connections flooding the four "
        "documents whose check cost most in the first table ("
        + ", ".join(f"`{label}`" for label in names)
        + ") and the 1,200-token one, in turn, every text unique:",
        "",
        "| legitimate client (realistic query, one connection) | p50 | p99 |",
        "|---|---|---|",
        f"| alone | {statistics.median(idle_open) * 1000:.1f} ms "
        f"| {p99(idle_open) * 1000:.1f} ms |",
        f"| while 4 connections flood | {statistics.median(loaded_open) * 1000:.1f} ms "
        f"| {p99(loaded_open) * 1000:.1f} ms |",
        "",
        f"p99 under flood / p99 alone, no budget: **{p99(loaded_open) / p99(idle_open):.2f}** "
        "(one event loop serves every connection in turn: checks of long texts the guard has not "
        "seen run on one worker thread, one at a time per client (`offload_characters`), and "
        "the accepted documents execute on the loop; the cost budget above bounds what the "
        "flood may run).",
        "",
        f"During that flood ({flood_seconds:.1f} s, {len(flooded):,} flood requests) the "
        f"server's garbage collector made {full[0]:.0f} full collections, "
        f"{full[1]:.2f} s of CPU together (the longest {full[2] * 1000:.0f} ms): "
        "each walks every object the process holds but what the demo froze once it was built "
        "(`gc.freeze()` in schema_example/app.py), and the flood's large documents, alive "
        "across many young collections while they are checked, are what trigger them "
        "(bench/gc_probe.py counts them).",
    ]


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def memory() -> list[str]:
    """RSS growth of a server flooded with large unique documents (valid and invalid), with
    the default cache budget, a small one, and (for comparison) a budget too large to bind.
    Each valid one is sent twice: the guard keeps a text from its second sighting on."""
    from bench.work import LARGE_QUERIES

    page = LARGE_QUERIES["github-style dashboard"]  # accepted: ~1 kB, 235 tokens
    lines = [
        "| `cache_max_bytes` | documents sent (unique GitHub-style pages, ~1 kB; each valid one "
        "twice, so it is kept) | server RSS growth |",
        "|---|---|---|",
    ]
    for budget in ("8000000", "32000000", "10000000000"):
        pids: list[int] = []
        env = {"GQLGUARD_PERSISTED_MODE": "off", "GQLGUARD_CACHE_MAX_BYTES": budget}
        with serve(env=env, pids=pids) as url, httpx.Client(timeout=60) as http:
            http.post(url, json={"query": "{ posts(limit: 1) { id } }"})
            before = _rss_bytes(pids[0])
            for n in range(600):
                valid = f"{page}\n# {n}"
                http.post(url, json={"query": valid})
                http.post(url, json={"query": valid})
                http.post(url, json={"query": f"{page} {{ nope }}\n# {n}"})
            growth = _rss_bytes(pids[0]) - before
        label = f"{int(budget) / 1e6:,.0f} MB" if int(budget) < 10**9 else "unbounded (10 GB)"
        lines.append(f"| {label} | 1,200 (600 valid) | {growth / 1e6:.0f} MB |")
    return lines


def main() -> None:
    # One security-log line per rejection would be timed too (in main: importing this
    # module, as the tests do for its corpus, leaves logging alone).
    logging.disable(logging.CRITICAL)
    started = time.time()
    lines = [
        "## Attacker amplification (bench/amplification.py)",
        "",
        "What one hostile request costs before anything executes, as a ratio to a realistic "
        "query, measured side by side in one run on this 2-core machine (CPU time: median of "
        f"{ROUNDS} rounds, best of 3 calls each, every call on a new unique text).",
        "",
        *pre_execution(),
        "",
        f"End to end under uvicorn ({SERVER_REQUESTS} requests per row, server process CPU "
        "from /proc):",
        "",
        *end_to_end(),
        "",
        "Under load (the guarded demo with a cost budget; the legitimate client authenticates, "
        "so it has its own bucket):",
        "",
        *under_load(),
        "",
        "Memory under a flood of large unique documents (half valid, half invalid; rejected "
        "documents are never cached):",
        "",
        *memory(),
        "",
        f"_Measured in {time.time() - started:.0f} s._",
    ]
    print(write_section("amplification", lines))


if __name__ == "__main__":
    main()
