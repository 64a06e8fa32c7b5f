from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema, build_schema
from hypothesis import HealthCheck, settings

from gqlguard import DIRECTIVES_SDL, GuardConfig, testing
from gqlguard.execution import Execution
from gqlguard.starlette import create_app
from gqlguard.strawberry import strawberry_executor
from schema_example.schema import build_schema as build_demo_schema

from .servers import REDIS_URL, redis_reachable, require

# CI: derandomized with a fixed budget; `make fuzz` (FUZZ_PROFILE=long) runs long and random.
settings.register_profile(
    "ci",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Per run of `make fuzz`; the session repeats runs with new seeds until its time is up.
settings.register_profile(
    "long",
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LONG_FUZZ = os.environ.get("FUZZ_PROFILE") == "long"
settings.load_profile("long" if LONG_FUZZ else "ci")


def examples(ci: int) -> int:
    """A test's example budget: ``ci`` in the suite, the long profile's under `make fuzz`."""
    return 2_000 if LONG_FUZZ else ci


def fuzz_deadline() -> float | None:
    """When `make fuzz` ends (``FUZZ_DEADLINE``, seconds since the epoch), if it runs us."""
    value = os.environ.get("FUZZ_DEADLINE", "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise pytest.UsageError(f"FUZZ_DEADLINE={value!r} is not seconds since the epoch") from None


FUZZ_DEADLINE = fuzz_deadline()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under `make fuzz`, a test that would start after the session's deadline is skipped, so
    FUZZ_MINUTES bind inside a run too (overshoot: the test running at the deadline). A test
    that has started runs to its verdict: a failure is never cut short into a pass."""
    if FUZZ_DEADLINE is not None and time.time() >= FUZZ_DEADLINE:
        pytest.skip("FUZZ_MINUTES are up: make fuzz's deadline has passed")


# What a non-browser client (or Apollo Client) sends so CSRF prevention lets a GET through.
PREFLIGHT = dict(testing.PREFLIGHT)

LIBRARY_SDL = (
    DIRECTIVES_SDL
    + """
interface Node { id: ID! }
type Book implements Node { id: ID! title: String author: Author pages: Int @cost(weight: 2) }
type Author implements Node { id: ID! name: String books(first: Int): [Book!]! }
union Item = Book | Author
type Query {
  book(id: ID!): Book
  books(limit: Int): [Book!]!
  items: [Item!]!
  node(id: ID!): Node
  authors: [Author!]! @listSize(assumedSize: 4)
}
"""
)


@pytest.fixture(scope="session")
def library() -> GraphQLSchema:
    return build_schema(LIBRARY_SDL)


@pytest.fixture(scope="session")
def demo_schema() -> Any:
    return build_demo_schema(GuardConfig())


def make_client(config: GuardConfig | None = None) -> httpx.AsyncClient:
    config = config if config is not None else GuardConfig()
    app = guarded_app(build_demo_schema(config), config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


# The resolver_calls fixtures active now: every app built by guarded_app() records into them.
_RECORDERS: list[list[int]] = []


def guarded_app(schema: Any, config: GuardConfig | None = None) -> Any:
    """``create_app(schema, config)``, whose executor (a public hook) records, for the
    ``resolver_calls`` fixture, how many resolvers each executed operation ran."""
    if not _RECORDERS:
        return create_app(schema, config)
    seen = _RECORDERS[-1]
    inner = strawberry_executor(schema)

    async def recording(execution: Execution) -> Any:
        try:
            return await inner(execution)
        finally:
            seen.append(execution.context["resolver_calls"])

    return create_app(schema, config, execute=recording)


@pytest.fixture
def resolver_calls() -> Iterator[list[int]]:
    """Resolver calls of every operation executed by apps built in the test (an operation
    refused before execution adds nothing)."""
    seen: list[int] = []
    _RECORDERS.append(seen)
    yield seen
    _RECORDERS.remove(seen)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted afterwards."""
    require(redis_reachable(REDIS_URL), f"Redis is not reachable at {REDIS_URL}")
    import redis

    prefix = f"gqlguard-test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
