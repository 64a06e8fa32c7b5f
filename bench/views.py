"""CPU per request of Strawberry's views: gqlguard's view classes against Strawberry's own view
with ``GuardExtension`` (the extension driving the stages from its hooks), create_app beside.

Run: `.venv/bin/python bench/views.py` (part of `make bench`). Each measurement is a whole
process of its own: it builds the demo schema (``GuardConfig()`` defaults), sends WARMUP then
REQUESTS realistic queries through one door in-process (httpx's ASGI transport, no socket,
so the figure is the door's own work), and reports its CPU seconds (``resource.getrusage``).
The doors run in turn, A B C A B C …, ROUNDS times; the ratios are taken pair by pair within a
round, so a machine getting slower or faster moves both sides of a ratio. Writes a section of
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1500"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
WARMUP = 200
QUERIES = [
    "{ users(first: 5) { nodes { name posts(limit: 3) { title comments(limit: 3) { body } } } } }",
    '{ product(id: "1") { name price reviews(limit: 5) { rating body author { name } } } }',
    '{ search(term: "a", limit: 5) { ... on Post { title } ... on User { name } } }',
    "{ posts(limit: 10) { id title author { name } } }",
]
ASYNC_DOORS = ("gqlguard view", "extension under Strawberry's view", "create_app")
SYNC_DOORS = ("gqlguard Django sync view", "extension under Strawberry's Django sync view")
DOORS = ASYNC_DOORS + SYNC_DOORS


def app_for(door: str) -> Any:
    from gqlguard import GuardConfig
    from schema_example.schema import build_schema

    schema = build_schema(GuardConfig())
    if door == "gqlguard view":
        from gqlguard.strawberry.views.asgi import GraphQL

        return GraphQL(schema, graphql_ide=None)
    if door == "extension under Strawberry's view":
        from strawberry.asgi import GraphQL as StrawberryGraphQL

        return StrawberryGraphQL(schema, graphql_ide=None)
    from gqlguard.starlette import create_app

    return create_app(schema)


async def send(app: Any, count: int) -> None:
    import httpx

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for index in range(count):
            response = await client.post(
                "/graphql",
                json={"query": QUERIES[index % len(QUERIES)]},
            )
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                raise SystemExit(f"unexpected answer: {response.text[:300]}")


def django_view(door: str) -> Any:
    import django
    from django.conf import settings

    from gqlguard import GuardConfig
    from schema_example.schema import build_schema

    settings.configure(SECRET_KEY="bench", ALLOWED_HOSTS=["*"], INSTALLED_APPS=[])
    django.setup()
    schema = build_schema(GuardConfig())
    if door == SYNC_DOORS[0]:
        from gqlguard.strawberry.views.django import GraphQLView
    else:
        from strawberry.django.views import GraphQLView
    return GraphQLView.as_view(schema=schema, graphql_ide=None)


def send_sync(view: Any, count: int) -> None:
    """A sync view called on this thread, as a WSGI server calls it (no event loop)."""
    import json

    from django.test import RequestFactory

    factory = RequestFactory(REMOTE_ADDR="127.0.0.1")
    for index in range(count):
        body = json.dumps({"query": QUERIES[index % len(QUERIES)]})
        request = factory.post("/graphql", data=body, content_type="application/json")
        response = view(request)
        if response.status_code != 200 or b'"errors"' in response.content:
            raise SystemExit(f"unexpected answer: {response.content[:300]!r}")


def child(door: str) -> None:
    """One measurement: CPU seconds for REQUESTS requests after WARMUP, printed."""
    import logging

    logging.disable(logging.CRITICAL)  # the protections line, nothing per request
    if door in SYNC_DOORS:
        view = django_view(door)
        send_sync(view, WARMUP)
        before = resource.getrusage(resource.RUSAGE_SELF)
        send_sync(view, REQUESTS)
        after = resource.getrusage(resource.RUSAGE_SELF)
    else:
        app = app_for(door)
        asyncio.run(send(app, WARMUP))
        before = resource.getrusage(resource.RUSAGE_SELF)
        asyncio.run(send(app, REQUESTS))
        after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{used:.6f}")


def measure(door: str) -> float:
    finished = subprocess.run(
        [sys.executable, __file__, "--child", door],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return float(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench.report import write_section

    per_request: dict[str, list[float]] = {door: [] for door in DOORS}
    for round_number in range(ROUNDS):
        for door in DOORS:
            per_request[door].append(measure(door) / REQUESTS)
        print(
            f"round {round_number + 1}/{ROUNDS}: "
            + ", ".join(f"{door} {per_request[door][-1] * 1e6:.0f} us" for door in DOORS)
        )
    lines = [
        "## Strawberry's views: gqlguard's view classes vs the extension (bench/views.py)",
        "",
        f"CPU per request of the whole process (user + system; the in-process client "
        f"included: httpx's ASGI transport, or Django's RequestFactory calling the sync view "
        f"on the process's thread as a WSGI server does), demo schema, `GuardConfig()` "
        f"defaults, {REQUESTS} requests after {WARMUP} per process, {ROUNDS} rounds, the "
        f"doors in turn; ratios pair by pair within a round, against Strawberry's own view "
        f"of the same kind with `GuardExtension` (the extension driving the stages).",
        "",
        "| door | CPU per request (median) | ratio to the extension (median, min–max) |",
        "|---|---|---|",
    ]
    for doors in (ASYNC_DOORS, SYNC_DOORS):
        base = doors[1]
        for door in doors:
            ratios = [a / b for a, b in zip(per_request[door], per_request[base], strict=True)]
            lines.append(
                f"| {door} | {statistics.median(per_request[door]) * 1e6:.0f} µs "
                f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f}) |"
            )
    print(write_section("views", lines))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
