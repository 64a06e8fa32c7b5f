"""Instructions per request, the guard against Strawberry, counted by valgrind's callgrind.

Run: `.venv/bin/python bench/instructions.py` (needs valgrind; part of `make bench`). The
CPU time of one request on this shared machine moves from one server process to the next by
more than a few percent (bench/throughput.py's rounds), so such a difference cannot be read
from it; an instruction count is the same whatever else the machine does. Each app is
called in process through its ASGI interface (no sockets, no HTTP parser: what differs
between the apps, and nothing else), the same realistic queries as bench/throughput.py in
turn, after a warm-up; per request = (count after 600 requests - count after 100) / 500, the
two runs side by side on the two cores; cached traffic also with 8 requests in flight at
once, as bench/throughput.py's load generator keeps them. Instructions are not time (a cache
miss costs more than an instruction): the CPU-time ratio is bench/throughput.py's. Writes a
section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from bench.throughput import CONCURRENCY as IN_FLIGHT  # noqa: E402
from bench.throughput import QUERIES  # noqa: E402

WARMUP = 50
FEWER, MORE = 100, 600
# (label, app, unique texts)
CACHED_TRAFFIC = [
    ("Strawberry + ParserCache/ValidationCache (no guard)", "bench.apps:cached_unguarded", False),
    ("guard, defaults", "schema_example.app:app", False),
]
UNIQUE_TRAFFIC = [
    ("plain Strawberry (its own ASGI view, no guard)", "tests.unguarded_app:app", True),
    ("guard, defaults", "schema_example.app:app", True),
]


async def _post(app: Any, body: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("localhost", 80),
    }
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays connected
        raise AssertionError("unreachable")

    answer: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    await app(scope, receive, send)
    status = answer[0]["status"]
    text = b"".join(message.get("body", b"") for message in answer[1:])
    if status != 200 or b'"errors"' in text:
        raise SystemExit(f"unexpected answer: {status} {text[:300]!r}")


def requests(app_path: str, count: int, unique: bool, in_flight: int) -> None:
    """The measured process: ``count`` requests after the warm-up, ``in_flight`` at once."""
    module, name = app_path.split(":")
    app = getattr(importlib.import_module(module), name)

    def body(number: int) -> bytes:
        query = QUERIES[number % len(QUERIES)]
        if unique:
            query = f"{query}\n# {number}"
        return json.dumps({"query": query}).encode()

    async def send_all() -> None:
        total = WARMUP + count
        for first in range(0, total, in_flight):
            wave = range(first, min(first + in_flight, total))
            await asyncio.gather(*(_post(app, body(number)) for number in wave))

    asyncio.run(send_all())


def instructions_per_request(app_path: str, unique: bool, in_flight: int = 1) -> float:
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("GQLGUARD_")},
        "GQLGUARD_PERSISTED_MODE": "off",  # the library's defaults, as bench/throughput.py
        "PYTHONHASHSEED": "0",
    }
    with tempfile.TemporaryDirectory() as scratch:
        runs = {
            count: subprocess.Popen(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={scratch}/{count}.out",
                    sys.executable,
                    __file__,
                    "--requests",
                    app_path,
                    str(count),
                    str(int(unique)),
                    str(in_flight),
                ],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for count in (FEWER, MORE)
        }
        totals = {}
        for count, run in runs.items():
            if run.wait() != 0:
                raise SystemExit(f"{app_path}: the measured process failed")
            summary = next(
                line
                for line in Path(f"{scratch}/{count}.out").read_text().splitlines()
                if line.startswith(("summary:", "totals:"))
            )
            totals[count] = int(summary.split()[1])
    return (totals[MORE] - totals[FEWER]) / (MORE - FEWER)


def table(traffic: list[tuple[str, str, bool]], versus: str, in_flight: int = 1) -> list[str]:
    counts = {
        label: instructions_per_request(app, unique, in_flight) for label, app, unique in traffic
    }
    base = counts[traffic[0][0]]
    lines = [f"| configuration | instructions / request | vs. {versus} |", "|---|---|---|"]
    for label, count in counts.items():
        lines.append(f"| {label} | {count / 1e6:.3f} M | {count / base:.3f}x |")
    return lines


def main() -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/instructions.py needs valgrind (Debian: apt install valgrind)")
    lines = [
        "## Instructions per request (bench/instructions.py)",
        "",
        "valgrind's callgrind, each app called in process through ASGI (the same "
        f"{len(QUERIES)} realistic queries as bench/throughput.py in turn, after {WARMUP} "
        f"warm-up requests; (count after {MORE} - count after {FEWER}) / {MORE - FEWER}; "
        "PYTHONHASHSEED=0). Deterministic where CPU time on this shared machine is not "
        "(see bench/throughput.py's per-round ratios); instructions are not time (cache "
        "misses are not counted), so the CPU-time ratio stays bench/throughput.py's.",
        "",
        "Cached traffic (the same texts again and again):",
        "",
        *table(CACHED_TRAFFIC, "Strawberry with its caches"),
        "",
        f"The same with {IN_FLIGHT} requests in flight at once (as bench/throughput.py's "
        "load generator keeps them): what the guard does only when requests overlap (the "
        "turns on the loop, its locks) is counted too:",
        "",
        *table(CACHED_TRAFFIC, "Strawberry with its caches", IN_FLIGHT),
        "",
        "Unique texts (each request's text new, so no cache helps):",
        "",
        *table(UNIQUE_TRAFFIC, "plain Strawberry"),
    ]
    print(write_section("instructions", lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--requests"]:
        requests(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5]))
    else:
        main()
