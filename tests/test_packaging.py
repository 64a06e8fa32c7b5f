"""Packaging (issue 15): the core runs on graphql-core and pydantic alone, every adapter names
the extra it needs in one line, and the wheel holds `gqlguard` only."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Run in a subprocess: every extra made unimportable before anything imports gqlguard.
CORE_WITHOUT_EXTRAS = """
import importlib
import importlib.abc
import sys
from typing import Any

BLOCKED = {
    "strawberry",
    "starlette",
    "redis",
    "jwt",
    "hypothesis",
    "httpx",
    "uvicorn",
    "hypothesis_graphql",
}


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, Block())
from graphql import build_schema

from gqlguard import Guard, GuardConfig, analyze

s = build_schema("type Query { a: [A] } type A { b: Int }")
print(analyze(s, "{ a { b } }").depth, Guard(s).check("{ a { b } }").accepted)
import asyncio

import gqlguard.asgi
import gqlguard.cli
import gqlguard.manifest
import gqlguard.persisted  # noqa: F401 - importable without extras
from gqlguard.execution import graphql_core_executor
from gqlguard.http import GuardRequest, Pipeline

# The whole request pipeline runs on the core dependencies alone.
pipeline = Pipeline(Guard(s), graphql_core_executor(s))
answer = asyncio.run(
    pipeline.handle(
        GuardRequest("POST", {"content-type": "application/json"}, body=b'{"query": "{ a { b } }"}')
    )
)
print("pipeline", answer.status, answer.body)

for mod in ["gqlguard.starlette", "gqlguard.strawberry", "gqlguard.testing"]:
    try:
        importlib.import_module(mod)
    except ImportError as e:
        print(mod, "->", e)
from gqlguard.budget import RedisBudget

try:
    RedisBudget("redis://x", 1, 1)
except ImportError as e:
    print("redis ->", e)
from gqlguard.tokens import JWTAuthenticator

try:
    JWTAuthenticator(GuardConfig(jwt_secret="x" * 32, jwt_issuer="i", jwt_audience="a"))
except ImportError as e:
    print("jwt ->", e)
"""


def test_the_core_runs_without_any_extra_and_adapters_name_theirs() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CORE_WITHOUT_EXTRAS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = run.stdout.splitlines()
    assert lines[0] == "2 True"  # analyze and Guard.check work
    assert any(line.startswith("pipeline 200 {'data': {'a': None}") for line in lines)
    for extra in ("starlette", "strawberry", "testing", "redis", "jwt"):
        assert any(f"pip install 'gqlguard[{extra}]'" in line for line in lines), extra
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_the_wheel_holds_gqlguard_only(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("gqlguard-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"gqlguard"}
