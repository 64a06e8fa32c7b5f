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

import json
import logging
import os
import socket
import statistics
import subprocess
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
from tests.servers import pin_process, process_cpu_seconds, serve, split_cores

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


def _best_of_three(action: Callable[[str], object], text: str, round_number: int) -> float:
    """The least CPU time of 3 calls, each on a new unique text."""
    best = float("inf")
    for call in range(3):
        unique = f"{text}\n# {round_number}.{call}.{time.time_ns()}"
        started = time.process_time()
        action(unique)
        best = min(best, time.process_time() - started)
    return best


def cpu_per_call(action: Callable[[str], object], text: str) -> float:
    """Median over ROUNDS of the best of 3 calls' CPU time, each call on a new unique text."""
    return statistics.median(_best_of_three(action, text, n) for n in range(ROUNDS))


def interleaved_cpu(calls: list[tuple[Callable[[str], object], str]]) -> list[list[float]]:
    """Per (action, text), its best-of-3 CPU time in each of ROUNDS rounds; every round runs
    every call in turn, so a noisy moment of the machine weighs on all of them alike."""
    samples: list[list[float]] = [[] for _ in calls]
    for round_number in range(ROUNDS):
        for held, (action, text) in zip(samples, calls, strict=True):
            held.append(_best_of_three(action, text, round_number))
    return samples


def median_ratio(samples: list[float], baseline: list[float]) -> float:
    """The median over rounds of a sample over the baseline's in the same round."""
    return statistics.median(x / y for x, y in zip(samples, baseline, strict=True))


def strawberry_pre_execution(text: str) -> None:
    try:
        validate(GRAPHQL_SCHEMA, parse(text), specified_rules)
    except Exception:  # a syntax error ends Strawberry's work too
        return


def guard_check(guard: Guard, name: str | None) -> Callable[[str], object]:
    return lambda text: guard.check(text, operation_name=name)


def _name(query: str) -> str | None:
    return "Run" if "query Run" in query else ("Q" if "query Q(" in query else None)


# The guard's CPU per document of WITHIN over the realistic query's (the median of the rounds'
# ratios), as pre_execution() measured it: the flood without a budget sends the costliest of
# them (the worst documents found, whatever they are today).
MEASURED: dict[str, float] = {}


def pre_execution() -> list[str]:
    guard = Guard(GRAPHQL_SCHEMA, GuardConfig(), policies=DEMO_POLICIES)
    lines = [
        "| document (within every default limit) | verdict | `Guard.check` CPU | x realistic "
        "| plain Strawberry (parse + validate) | x realistic |",
        "|---|---|---|---|---|---|",
    ]
    for label, query in WITHIN.items():
        name = _name(query)
        verdict = guard.check(query, operation_name=name)
        outcome = "accepted" if verdict.accepted else verdict.errors[0].code.value
        ours, realistic, theirs, plain_realistic = interleaved_cpu(
            [
                (guard_check(guard, name), query),
                (guard_check(guard, None), REALISTIC),
                (strawberry_pre_execution, query),
                (strawberry_pre_execution, REALISTIC),
            ]
        )
        MEASURED[label] = median_ratio(ours, realistic)
        lines.append(
            f"| {label} | {outcome} | {statistics.median(ours) * 1000:.2f} ms "
            f"| {MEASURED[label]:.1f} | {statistics.median(theirs) * 1000:.2f} ms "
            f"| {median_ratio(theirs, plain_realistic):.1f} |"
        )
    lines += [
        "",
        "| document over a pre-parse limit | code | refused in | graphql-core parse | ratio |",
        "|---|---|---|---|---|",
    ]
    for label, query in OVER.items():
        verdict = guard.check(query)
        try:
            parse(query)
        except Exception as error:  # graphql-core cannot parse it at all
            refused = cpu_per_call(guard_check(guard, None), query)
            parse_cell, ratio = f"fails ({type(error).__name__})", "n/a"
        else:
            refusals, parses = interleaved_cpu([(guard_check(guard, None), query), (parse, query)])
            refused = statistics.median(refusals)
            parse_cell = f"{statistics.median(parses) * 1000:.2f} ms"
            ratio = f"{median_ratio(refusals, parses):.3f}"
        lines.append(
            f"| {label} | {verdict.errors[0].code.value} | {refused * 1000:.3f} ms "
            f"| {parse_cell} | {ratio} |"
        )
    return lines


def server_cpu(app: str, env: dict[str, str], query: str) -> float:
    pids: list[int] = []
    with serve(app, env=env, pids=pids) as url, httpx.Client(timeout=60) as http:
        path = url if app.startswith("schema_example") else url.rsplit("/", 1)[0] + "/graphql"
        for n in range(20):  # warm-up
            http.post(path, json={"query": f"{query}\n# w{n}"})
        before = process_cpu_seconds(pids[0])
        for n in range(SERVER_REQUESTS):
            http.post(path, json={"query": f"{query}\n# {n}.{time.time_ns()}"})
        return (process_cpu_seconds(pids[0]) - before) / SERVER_REQUESTS


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


LEGIT_REQUESTS = int(os.environ.get("BENCH_LEGIT_REQUESTS", "400"))
FLOOD_ROUNDS = int(os.environ.get("BENCH_FLOOD_ROUNDS", "3"))
BUDGET_GAP = 0.05  # seconds between the legitimate client's requests under a budget
PAUSED_GAP = 0.02  # a legitimate client that pauses between requests (a user, a page)

# The flooder: its own process (an attacker's CPU is not the server's), on the clients' core,
# at the lowest priority (so the legitimate client, sharing that core, is not timed waiting
# for it); 4 connections, each sending the documents in turn, every text unique.
_FLOODER = """
import asyncio, json, os, sys, time
import httpx
os.nice(19)
url, documents = sys.argv[1], json.loads(sys.stdin.read())
async def connection(http):
    for turn in range(10**9):
        query, name = documents[turn % len(documents)]
        await http.post(url, json={"query": f"{query}\\n# {time.time_ns()}", "operationName": name})
async def main():
    async with httpx.AsyncClient(timeout=60) as http:
        await asyncio.gather(*(connection(http) for _ in range(4)))
asyncio.run(main())
"""

# What the machine adds by itself: a process of the same priority on the clients' core
# that only burns CPU (no request to the server at all).
_BURNER = "import os\nos.nice(19)\nwhile True:\n    pass\n"


def worst() -> list[str]:
    """Without a budget, the flood sends the four documents whose check costs most (as
    measured above), and the over-limit token flood, in turn, each text unique."""
    costliest = sorted(MEASURED, key=MEASURED.__getitem__, reverse=True)[:4]
    return [WITHIN[label] for label in costliest] + [OVER["1,200 tokens, 13 kB"]]


def _legit_latencies(url: str, token: str, count: int, gap: float = 0.0) -> list[float]:
    """A legitimate client: one keep-alive connection, the realistic query (a unique text
    each time), one request at a time (``gap`` seconds apart); a raw socket, so the client's
    own work is a few microseconds of each latency."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    latencies = []
    with socket.create_connection((host, int(port))) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for n in range(count):
            body = json.dumps({"query": f"{REALISTIC}\n# {n}.{time.time_ns()}"}).encode()
            head = (
                "POST /graphql HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
                f"authorization: Bearer {token}\r\ncontent-length: {len(body)}\r\n\r\n"
            )
            started = time.perf_counter()
            connection.sendall(head.encode() + body)
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(65536)
            status_line, rest = received.split(b"\r\n", 1)
            headers, answer = rest.split(b"\r\n\r\n", 1)
            length = next(
                int(line.split(b":")[1])
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(answer) < length:
                answer += connection.recv(65536)
            latencies.append(time.perf_counter() - started)
            time.sleep(gap)
            if b" 200 " not in status_line or b'"errors"' in answer:
                raise RuntimeError(f"the legitimate request failed: {status_line!r}")
    return latencies


def _flood_rounds(
    app: str,
    env: dict[str, str],
    documents: list[str],
    token: str,
    gap: float = 0.0,
    rounds_and_requests: tuple[int, int] | None = None,
) -> tuple[list[tuple[list[float], list[float]]], list[float]]:
    """FLOOD_ROUNDS rounds of (the legitimate client alone, the same under the flood), side
    by side on one server (``rounds_and_requests`` for fewer); with bench.gc_probe's app,
    its full collections during floods (count, CPU, longest)."""
    count, requests = rounds_and_requests or (FLOOD_ROUNDS, LEGIT_REQUESTS)
    server_core, client_cores = split_cores()
    os.sched_setaffinity(0, client_cores)
    pids: list[int] = []
    flood = json.dumps([(query, _name(query)) for query in documents])
    rounds = []
    collections = [0.0, 0.0, 0.0]
    with serve(app, env=env, pids=pids) as url:
        pin_process(pids[0], server_core)
        _legit_latencies(url, token, 50, gap)  # warm-up
        for _ in range(count):
            alone = _legit_latencies(url, token, requests, gap)
            before = _gc_stats(url) if "gc_probe" in app else None
            script = _BURNER if documents == [] else _FLOODER
            flooder = subprocess.Popen(
                [sys.executable, "-c", script, url], stdin=subprocess.PIPE, text=True
            )
            assert flooder.stdin is not None
            flooder.stdin.write(flood)
            flooder.stdin.close()
            try:
                time.sleep(1.0)  # its connections open; a budget's bucket drains
                pin_process(pids[0], server_core)  # threads started since (the check worker)
                flooded = _legit_latencies(url, token, requests, gap)
            finally:
                flooder.kill()
                flooder.wait()
            if before is not None:
                after = _gc_stats(url)["2"]
                collections[0] += after[0] - before["2"][0]
                collections[1] += after[1] - before["2"][1]
                collections[2] = max(collections[2], after[2])
            rounds.append((alone, flooded))
    os.sched_setaffinity(0, server_core | client_cores)
    return rounds, collections


def _gc_stats(url: str) -> dict[str, list[float]]:
    stats: dict[str, list[float]] = httpx.get(url.replace("/graphql", "/gc-stats")).json()
    return stats


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _flood_table(rounds: list[tuple[list[float], list[float]]]) -> list[str]:
    lines = [
        "| round | alone p50 | alone p99 | flooded p50 | flooded p99 | p50 ratio | p99 ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, (alone, flooded) in enumerate(rounds, 1):
        lines.append(
            f"| {number} | {statistics.median(alone) * 1000:.1f} ms | {p99(alone) * 1000:.1f} ms "
            f"| {statistics.median(flooded) * 1000:.1f} ms | {p99(flooded) * 1000:.1f} ms "
            f"| {statistics.median(flooded) / statistics.median(alone):.2f} "
            f"| {p99(flooded) / p99(alone):.2f} |"
        )
    return lines


def _median_ratio(rounds: list[tuple[list[float], list[float]]]) -> float:
    return statistics.median(p99(flooded) / p99(alone) for alone, flooded in rounds)


def under_load() -> list[str]:
    token = mint_token(
        DEMO_JWT_SECRET, subject="legit", issuer=DEMO_JWT_ISSUER, audience=DEMO_JWT_AUDIENCE
    )
    open_env = {"GQLGUARD_PERSISTED_MODE": "off"}
    # Sized for the legitimate client: the realistic query is charged ~110 points, and it
    # sends one every 50 ms (2,200 points a second of 3,000 restored).
    budget_env = {
        **open_env,
        "GQLGUARD_BUDGET_CAPACITY": "10000",
        "GQLGUARD_BUDGET_RESTORE_RATE": "3000",
    }
    flood = worst()
    names = [label for label, text in WITHIN.items() if text in flood]
    short = [REALISTIC, WITHIN["deep list literal (100 levels)"]]
    floor, _ = _flood_rounds("schema_example.app:app", open_env, [], token)
    budgeted, _ = _flood_rounds("schema_example.app:app", budget_env, flood, token, gap=BUDGET_GAP)
    worst_rounds, collections = _flood_rounds("bench.gc_probe:app", open_env, flood, token)
    short_rounds, _ = _flood_rounds("bench.gc_probe:app", open_env, short, token)
    short_paused, _ = _flood_rounds("bench.gc_probe:app", open_env, short, token, gap=PAUSED_GAP)
    # Plain Strawberry answers slowly under the worst flood: one round of 100 requests each.
    plain_worst, _ = _flood_rounds("tests.unguarded_app:app", open_env, flood, token, 0.0, (1, 100))
    plain_short, _ = _flood_rounds("tests.unguarded_app:app", open_env, short, token, 0.0, (1, 100))
    server_core, client_cores = split_cores()
    return [
        f"Method: the server (one uvicorn worker) pinned to core {sorted(server_core)}; the "
        f"flooder (its own process, 4 connections, nice 19) and the legitimate client on "
        f"{sorted(client_cores)}. The legitimate client sends the realistic query (a unique text "
        f"each time) on one keep-alive connection, one request at a time, {LEGIT_REQUESTS} "
        "requests alone, then as many while the flood runs, "
        f"{FLOOD_ROUNDS} rounds side by side on one server. It authenticates, so it is a "
        "client of its own (its own budget bucket, its own CPU account).",
        "",
        "What the machine adds by itself — in place of the flooder, a process of the same "
        "priority on the clients' core that only burns CPU, no request to the server:",
        "",
        *_flood_table(floor),
        "",
        f"Median p99 ratio: **{_median_ratio(floor):.2f}** (the floor the rows below stand on).",
        "",
        "With a cost budget (10,000 points, 3,000 restored a second, 10 per rejection; the "
        "legitimate client sends one request every 50 ms, well within it), 4 connections "
        "flooding the worst documents (below):",
        "",
        *_flood_table(budgeted),
        "",
        "Without a budget, 4 connections flooding the four documents whose check cost most in "
        "the first table (" + ", ".join(f"`{label}`" for label in names) + ") and the "
        "1,200-token one, in turn, every text unique:",
        "",
        *_flood_table(worst_rounds),
        "",
        f"Median p99 ratio: **{_median_ratio(worst_rounds):.2f}**. During these floods the "
        f"server's garbage collector made {collections[0]:.0f} full collections, "
        f"{collections[1]:.2f} s of CPU together (the longest {collections[2] * 1000:.0f} ms; "
        "bench/gc_probe.py counts them; the demo's collector settings: "
        "schema_example/collector.py).",
        "",
        "Without a budget, 4 connections flooding short documents checked on the event loop "
        "(the realistic query itself and `deep list literal (100 levels)`):",
        "",
        *_flood_table(short_rounds),
        "",
        f"Median p99 ratio: **{_median_ratio(short_rounds):.2f}**. Here the legitimate "
        "client, sending its next request the moment one is answered, uses as much CPU as "
        "the flood gets: the two share the core (the turns go to the client that used less "
        "lately, and neither did), so its requests take about twice as long. A client that "
        f"pauses {PAUSED_GAP * 1000:.0f} ms between requests uses less than the flood and "
        "goes first:",
        "",
        *_flood_table(short_paused),
        "",
        f"Median p99 ratio: **{_median_ratio(short_paused):.2f}**.",
        "",
        "What the two floods do to plain Strawberry (the demo's schema, no guard; "
        "tests/unguarded_app.py), measured the same way (one round of 100 requests) — p99 "
        "ratio: worst documents "
        f"**{_median_ratio(plain_worst):.2f}**, short documents "
        f"**{_median_ratio(plain_short):.2f}**.",
        "",
        "Why the guarded server holds: long texts it has not seen are checked on a worker "
        "thread that gives the interpreter back every tenth of a millisecond and waits while the "
        "loop serves a client that used less CPU lately (gqlguard/pacing.py); on the loop, "
        "each CPU-bound stage (a check, each step of an execution) takes a turn granted to the "
        "client with the least recent CPU (gqlguard/cpu_turns.py), so a flooding client's "
        "queued requests wait behind the legitimate one, not in front of it.",
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
        f"{ROUNDS} rounds, best of 3 calls each, every call on a new unique text; each row's "
        "rounds interleave its document with the realistic query, for the guard and for "
        "plain Strawberry alike, and its ratios are the median of the rounds' ratios).",
        "",
        *pre_execution(),
        "",
        f"End to end under uvicorn ({SERVER_REQUESTS} requests per row, server process CPU "
        "from /proc):",
        "",
        *end_to_end(),
        "",
        "Under load: a legitimate client's latency alone and while 4 connections flood the server.",
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
