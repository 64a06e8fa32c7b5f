"""gqlguard.testing against the demo: hostile requests keep every promise; limits are exact;
and the checker itself catches an app that breaks a promise."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from graphql import GraphQLSchema
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gqlguard import ErrorCode, Guard, GuardConfig, analyze
from gqlguard.limits import LIMITS
from gqlguard.testing import (
    GuardChecker,
    HttpRequest,
    hostile_documents,
    hostile_requests,
    valid_queries,
)
from schema_example.app import demo_config
from schema_example.schema import DEMO_POLICIES
from schema_example.schema import build_schema as build_demo_schema

from .conftest import examples

CONFIG = demo_config()
DEMO = build_demo_schema(CONFIG)


@pytest.fixture(scope="module")
def checker() -> Iterator[GuardChecker]:
    logging.getLogger("gqlguard").setLevel(logging.CRITICAL)  # floods of rejections
    logging.getLogger("strawberry").setLevel(logging.CRITICAL)
    with GuardChecker(DEMO, CONFIG, max_check_seconds=5.0) as running:
        yield running
    logging.getLogger("gqlguard").setLevel(logging.NOTSET)
    logging.getLogger("strawberry").setLevel(logging.NOTSET)


@settings(max_examples=examples(150))
@given(request=hostile_requests(DEMO, CONFIG))
def test_the_demo_keeps_every_promise_under_hostile_requests(
    checker: GuardChecker, request: HttpRequest
) -> None:
    checker.run(request)


# Found by Hypothesis: in filter mode an allowed root field (`__typename`) resolves, the denied
# non-null `auditLog` is nulled and the null bubbles to `data` — executed, not rejected.
@example(query="{ __typename auditLog(limit: 1) { id } }")
@given(query=valid_queries(DEMO))
def test_valid_queries_are_answered_without_leaks(checker: GuardChecker, query: str) -> None:
    outcome = checker.run(HttpRequest.post_json({"query": query}))
    assert outcome.status in {200, 400}


# Found by `make fuzz`: a syntax error quoting the client's own word `Traceback` is no leak.
@example(document="Traceback")
@given(document=st.one_of(st.text(max_size=50), st.just("{ __typename }")))
def test_documents_quoting_leak_markers_are_not_leaks(
    library: GraphQLSchema, document: str
) -> None:
    GuardChecker(library, GuardConfig(), max_check_seconds=5.0).check_document(document)


@given(document=st.data())
def test_a_plain_graphql_core_schema_keeps_them_too(
    library: GraphQLSchema, document: st.DataObject
) -> None:
    text = document.draw(st.one_of(hostile_documents(library), valid_queries(library)))
    GuardChecker(library, GuardConfig(), max_check_seconds=5.0).check_document(text)


# -- exact limits ------------------------------------------------------------------------------

# dry_run: every field counts, whatever the anonymous caller may use.
OPEN = GuardConfig.unlimited(introspection="on", mask_errors=False, authorization_mode="dry_run")


def _limit_codes(guard: Guard, query: str) -> set[str]:
    return {error.code.value for error in guard.check(query).errors}


@settings(max_examples=examples(80))
@given(query=hostile_documents(DEMO, CONFIG))
def test_every_limit_is_exact(query: str) -> None:
    """A document exactly at a limit passes it; one unit under the document, it is refused."""
    try:
        measured = analyze(DEMO, query, config=OPEN)
    except Exception:  # does not parse: no metric to be exact about
        return
    if measured.problems:
        return
    open_guard = Guard(DEMO, OPEN, policies=DEMO_POLICIES)
    if [e.code for e in open_guard.check(query).errors] == [ErrorCode.WORK_LIMIT_EXCEEDED]:
        # graphql-core's field merging would pass the budget: refused before any analysis
        # limit applies (the pre-parse floor, or the meter), as a text over max_tokens is.
        return
    if measured.unknown_names:
        # No schema oracle: a document naming fields the schema lacks is answered by
        # validation whatever limit it is over.
        strict = Guard(
            DEMO, OPEN.model_copy(update={"max_depth": 1, "max_fields": 1}), policies=DEMO_POLICIES
        )
        assert _limit_codes(strict, query) == {"GRAPHQL_VALIDATION_FAILED"}
        return
    for limit in LIMITS:
        # Under the defaults max_cost bounds both costs: the larger one is the one at the limit.
        value = (
            max(measured.field_cost, measured.type_cost)
            if limit.metric == "cost"
            else getattr(measured, limit.metric)
        )
        if value < 1 or value >= 2**53:
            # Found by `make fuzz`: above 2**53 a float has no "one unit under" (value - 1
            # rounds back to value); nothing to be exact about.
            continue
        at = Guard(DEMO, OPEN.model_copy(update={limit.option: value}), policies=DEMO_POLICIES)
        under = Guard(
            DEMO, OPEN.model_copy(update={limit.option: value - 1}), policies=DEMO_POLICIES
        )
        refused = [e for e in under.check(query).errors if e.code == limit.code]
        assert limit.code.value not in _limit_codes(at, query), (limit.option, value)
        assert refused, (limit.option, value)
        assert refused[0].limit == value - 1
    at = Guard(DEMO, OPEN.model_copy(update={"max_characters": len(query)}), policies=DEMO_POLICIES)
    under = Guard(
        DEMO, OPEN.model_copy(update={"max_characters": len(query) - 1}), policies=DEMO_POLICIES
    )
    assert "CHARACTER_LIMIT_EXCEEDED" not in _limit_codes(at, query)
    assert "CHARACTER_LIMIT_EXCEEDED" in _limit_codes(under, query)
    at = Guard(
        DEMO,
        OPEN.model_copy(update={"max_operations": measured.operations}),
        policies=DEMO_POLICIES,
    )
    under = Guard(
        DEMO,
        OPEN.model_copy(update={"max_operations": measured.operations - 1}),
        policies=DEMO_POLICIES,
    )
    assert "OPERATION_LIMIT_EXCEEDED" not in _limit_codes(at, query)
    assert "OPERATION_LIMIT_EXCEEDED" in _limit_codes(under, query)


# -- the checker catches broken apps -----------------------------------------------------------


def _app(status: int, body: Any, run_resolvers: bool = False) -> Any:
    """A deliberately broken ASGI app: answers ``body`` (after executing, if asked)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if run_resolvers:
            await DEMO.execute("{ posts(limit: 2) { title } }")
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


REJECTION = {"errors": [{"message": "no", "extensions": {"code": "DEPTH_LIMIT_EXCEEDED"}}]}
BROKEN = {
    "5xx": (_app(500, REJECTION), "500"),
    "traceback": (
        _app(
            400,
            {
                "errors": [
                    {"message": 'Traceback: File "x.py"', "extensions": {"code": "BAD_REQUEST"}}
                ]
            },
        ),
        "leaked",
    ),
    "undocumented code": (
        _app(400, {"errors": [{"message": "no", "extensions": {"code": "NOPE"}}]}),
        "undocumented",
    ),
    "no code": (_app(400, {"errors": [{"message": "no"}]}), "undocumented"),
    "list for one request": (_app(400, [REJECTION]), "not a batch"),
    "not JSON": (_app(400, b"<html>oops</html>"), "not JSON"),
    "resolvers ran, then rejected": (_app(400, REJECTION, run_resolvers=True), "resolver"),
}


@pytest.mark.parametrize(("app", "complaint"), BROKEN.values(), ids=BROKEN.keys())
def test_the_checker_catches_an_app_that_breaks_a_promise(app: Any, complaint: str) -> None:
    with (
        GuardChecker(DEMO, CONFIG, app=app) as broken,
        pytest.raises(AssertionError, match=complaint),
    ):
        broken.run(HttpRequest.post_json({"query": "{ __typename }"}))


def test_the_checker_catches_a_batch_answered_item_by_item_over_the_cap() -> None:
    items = [REJECTION] * 7
    broken_app = _app(200, items)
    with (
        GuardChecker(DEMO, CONFIG, app=broken_app) as broken,
        pytest.raises(AssertionError, match="over the cap"),
    ):
        broken.run(HttpRequest.post_json([{"query": "{ __typename }"}] * 7))


def test_users_fuzz_their_own_schema_in_three_lines(gqlguard_fuzz: Any) -> None:
    # What a user writes (README): the fixture comes from gqlguard's pytest plugin.
    gqlguard_fuzz(DEMO, CONFIG, max_examples=40, derandomize=True)


def test_the_checker_refuses_a_schema_nothing_guards() -> None:
    with pytest.raises(ValueError, match="no GuardExtension"):
        GuardChecker(build_demo_schema(guarded=False), CONFIG)


# -- the fixture on any schema (issue 17's fuzz-fixture findings) ------------------------------


def _argument_free_schema() -> Any:
    from graphql import build_schema

    return build_schema("type Query { a: Int b: B } type B { c: String b: B }")


def _custom_scalar_schema() -> Any:
    from graphql import (
        GraphQLArgument,
        GraphQLField,
        GraphQLNonNull,
        GraphQLObjectType,
        GraphQLScalarType,
        GraphQLSchema,
        GraphQLString,
    )

    date = GraphQLScalarType("Date")
    return GraphQLSchema(
        GraphQLObjectType(
            "Query",
            {
                "at": GraphQLField(
                    GraphQLString, args={"when": GraphQLArgument(GraphQLNonNull(date))}
                ),
                "now": GraphQLField(date),
            },
        )
    )


def _sdl_first_schema() -> Any:
    from graphql import build_schema

    return build_schema(
        "type Query { user(id: ID!): User users(first: Int): [User] }"
        " type User { id: ID! name: String friends(first: Int): [User] }"
    )


@pytest.mark.parametrize(
    "make_schema",
    [_argument_free_schema, _custom_scalar_schema, _sdl_first_schema],
    ids=["no arguments", "custom scalars only", "SDL-first graphql-core"],
)
def test_the_fuzz_fixture_works_on_any_schema(
    make_schema: Any, gqlguard_fuzz: Callable[..., None]
) -> None:
    gqlguard_fuzz(make_schema(), GuardConfig(max_depth=6), max_examples=25)
