"""What authorization costs (issue: @policy, object-level rules, no schema oracle).

Run: `.venv/bin/python bench/authorization.py` (part of `make bench`). CPU time
(`time.process_time`) of interleaved rounds, the median of ROUNDS, each figure as a ratio to
the plain check (or execution) measured in the same rounds, so a noisy machine moves both
sides alike. Writes a section of docs/benchmarks.md.

- The check of the same realistic text (cached: the document cache is warm), by principal:
  `dry_run` (every field counts, nothing is decided) is the base; the default `filter` (the
  fields the caller may not use measured as unknown, the decision cached per kind of
  principal); `hide_unauthorized_fields` (the principal's schema view, built once per kind).
- A fresh guard's first check with hiding (the view is built then, once per kind of
  principal) against a fresh guard's first check in `dry_run`.
- Execution of a page of users and their orders with the demo's object rule (one check per
  order returned) against the same schema without object rules, as an admin (nothing removed).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import strawberry

from bench.report import write_section
from gqlguard import Guard
from gqlguard.authorization import Principal
from gqlguard.strawberry import GuardExtension
from schema_example import schema as demo
from schema_example.app import demo_config

ROUNDS = 7
REPEAT = 300
TEXT = (
    '{ user(id: "3") { name email orders { id total } posts(limit: 3) { title } } '
    "posts(limit: 5) { title author { name } } auditLog(limit: 2) { action } }"
)
ANONYMOUS = Principal.anonymous()
ADMIN = Principal("9", frozenset({"admin", "users:email"}), {"sub": "9"})
PAGE = "{ users(first: 30) { nodes { name orders { id total status } } } }"


def _cpu(run: Callable[[], Any], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        run()
    return (time.process_time() - started) / repeat


def _guard(**changes: Any) -> Guard:
    config = demo_config().model_copy(update={"persisted_mode": "off", **changes})
    schema = demo.build_schema(config, guarded=False)
    return Guard(schema, config, policies=demo.DEMO_POLICIES)


def checks() -> dict[str, list[float]]:
    guards = {
        "dry_run": _guard(authorization_mode="dry_run"),
        "filter": _guard(),
        "hidden": _guard(hide_unauthorized_fields=True),
    }
    for guard in guards.values():
        guard.check(TEXT, principal=ANONYMOUS)  # warm: the document, the decision, the view
    samples: dict[str, list[float]] = {name: [] for name in guards}
    samples["first, dry_run"] = []
    samples["first, hidden"] = []
    for _ in range(ROUNDS):
        for name, guard in guards.items():
            samples[name].append(
                _cpu(lambda guard=guard: guard.check(TEXT, principal=ANONYMOUS), REPEAT)
            )
        # A fresh guard's first check: nothing cached (with hiding: the view is built too).
        for name, changes in (
            ("first, dry_run", {"authorization_mode": "dry_run"}),
            ("first, hidden", {"hide_unauthorized_fields": True}),
        ):
            fresh = [_guard(**changes) for _ in range(10)]
            started = time.process_time()
            for guard in fresh:
                guard.check(TEXT, principal=ANONYMOUS)
            samples[name].append((time.process_time() - started) / len(fresh))
    return samples


def _schema(object_rules: bool) -> strawberry.Schema:
    config = demo_config().model_copy(update={"persisted_mode": "off"})
    extension = GuardExtension(
        config,
        policies=demo.DEMO_POLICIES,
        object_rules=demo.DEMO_OBJECT_RULES if object_rules else (),
    )
    return strawberry.Schema(
        query=demo.Query,
        mutation=demo.Mutation,
        types=[demo.User, demo.Post, demo.Product],
        extensions=[extension],
    )


def executions() -> dict[str, list[float]]:
    schemas = {"without rules": _schema(False), "object rule": _schema(True)}
    loop = asyncio.new_event_loop()

    def run(schema: strawberry.Schema) -> None:
        result = loop.run_until_complete(schema.execute(PAGE, context_value={"principal": ADMIN}))
        assert not result.errors, result.errors

    for schema in schemas.values():
        run(schema)
    samples: dict[str, list[float]] = {name: [] for name in schemas}
    for _ in range(ROUNDS):
        for name, schema in schemas.items():
            samples[name].append(_cpu(lambda schema=schema: run(schema), 20))
    return samples


def main() -> None:
    check = {name: statistics.median(values) for name, values in checks().items()}
    run = {name: statistics.median(values) for name, values in executions().items()}
    base = check["dry_run"]
    lines = [
        "## Authorization (bench/authorization.py)",
        "",
        f"CPU per call, median of {ROUNDS} interleaved rounds, as ratios to the base measured",
        "in the same rounds. The realistic text names fields an anonymous caller may not use",
        "(`email`, `orders`, `auditLog`).",
        "",
        "| what | ratio |",
        "|---|---|",
        f"| check, cached text, `filter` (denied fields measured as unknown) / `dry_run` | "
        f"{check['filter'] / base:.2f} |",
        f"| check, cached text, `hide_unauthorized_fields` (the principal's schema view) / "
        f"`dry_run` | {check['hidden'] / base:.2f} |",
        f"| a fresh guard's first check, `hide_unauthorized_fields` (builds the view) / "
        f"`dry_run` | {check['first, hidden'] / check['first, dry_run']:.2f} |",
        f"| executing 30 users and their orders as an admin, with the demo's object rule / "
        f"without | {run['object rule'] / run['without rules']:.2f} |",
        "",
        f"Absolute, for scale only (this machine, this run): a cached check {base * 1e6:.0f} µs,",
        f"a first check {check['first, dry_run'] * 1e3:.1f} ms (hidden:",
        f"{check['first, hidden'] * 1e3:.1f} ms), the page {run['without rules'] * 1e3:.1f} ms.",
    ]
    print(write_section("authorization", lines))


if __name__ == "__main__":
    main()
