"""Packaging (issue 15): the core runs on graphql-core and pydantic (with pydantic-settings)
alone, every adapter names the extra it needs in one line, the README names every core
dependency, and the wheel holds `gqlguard` only, with the LICENSE."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from importlib.metadata import requires
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


def distribution_name(requirement: str) -> str:
    """``pydantic-settings>=2.2`` -> ``pydantic-settings`` (PEP 508, normalized)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def test_the_readme_names_every_dependency_the_core_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {distribution_name(requirement) for requirement in project["dependencies"]}
    # What those bring that a user would not guess: pydantic-settings reads .env files.
    brought = {
        distribution_name(requirement)
        for requirement in requires("pydantic-settings") or []
        if "extra ==" not in requirement
    }
    assert "python-dotenv" in brought
    (row,) = [
        line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| (none) |")
    ]
    installs = {name.strip().strip("`") for name in row.rstrip(" |").split("|")[-1].split(",")}
    assert core | {"python-dotenv"} == installs


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder), str(ROOT)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    (path,) = folder.glob("gqlguard-*.whl")
    with zipfile.ZipFile(path) as built:
        yield built


@pytest.mark.slow
def test_the_wheel_holds_gqlguard_only(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"gqlguard"}


@pytest.mark.slow
def test_the_wheel_carries_the_license(wheel: zipfile.ZipFile) -> None:
    (dist_info,) = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" in name}
    assert wheel.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    metadata = wheel.read(f"{dist_info}/METADATA").decode().splitlines()
    assert "License-Expression: MIT" in metadata
    assert "License-File: LICENSE" in metadata
