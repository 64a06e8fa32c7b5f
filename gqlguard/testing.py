"""Fuzz your own guarded API: Hypothesis strategies for hostile requests, and a checker.

    from gqlguard.testing import fuzz

    def test_my_api_survives_hostile_requests():
        fuzz(schema, GuardConfig(max_depth=8))

(or, with the pytest plugin this package registers, take the ``gqlguard_fuzz`` fixture).

Strategies, for any graphql-core or Strawberry schema:

- :func:`valid_queries` — schema-valid operations (hypothesis-graphql);
- :func:`hostile_documents` — documents shaped like real attacks: deep nesting along the
  schema's own cycles, alias and field floods, fragment bombs (2-way and 5-way), fragment
  cycles, directive floods, huge literals and strings, many operations, introspection in
  disguise (aliases, fragments, inline fragments, second operations, BOM and comments),
  invalid queries (one schema violation each);
- :func:`hostile_requests` — HTTP requests carrying those documents, batches (within and over
  the cap), GET mutations, form posts, and malformed envelopes (invalid UTF-8, truncated and
  100,000-deep JSON, huge numbers, wrong types, ``\\u005f``-escaped introspection).

:class:`GuardChecker` sends a request to a guarded ASGI app (or checks a document against a
plain graphql-core schema) and asserts what gqlguard promises for *any* input: no 5xx, no
exception text, a rejection is one JSON object whose errors carry documented codes, no
resolver ran for a rejected request, and the guard's check of any document within the size
caps finished within ``max_check_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    default_field_resolver,
    execute_sync,
    get_named_type,
)

from .config import GuardConfig
from .errors import ErrorCode
from .extras import missing
from .guard import Guard, graphql_schema_of
from .policies import Policies

try:
    import httpx
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("testing", "gqlguard.testing") from error

__all__ = [
    "DOCUMENTED_CODES",
    "HOSTILE_LITERALS",
    "HOSTILE_VARIABLES",
    "GuardChecker",
    "HttpRequest",
    "fuzz",
    "hostile_documents",
    "hostile_requests",
    "hostile_value_requests",
    "valid_queries",
]

DOCUMENTED_CODES = frozenset(code.value for code in ErrorCode)
# What must never reach a client, whatever it sent.
LEAK_MARKERS = ("Traceback", 'File "', '.py"', ".py:", "Exception")


# -- the schema's shape ----------------------------------------------------------------------


def _literal(input_type: GraphQLInputType, depth: int = 0) -> str | None:
    """A literal that satisfies ``input_type`` (required input fields only), or None."""
    if isinstance(input_type, GraphQLNonNull):
        return _literal(input_type.of_type, depth)
    if isinstance(input_type, GraphQLList):
        inner = _literal(input_type.of_type, depth)
        return None if inner is None else f"[{inner}]"
    if isinstance(input_type, GraphQLEnumType):
        return next(iter(input_type.values), None)
    if isinstance(input_type, GraphQLInputObjectType):
        if depth > 3:
            return None
        parts = []
        for name, input_field in input_type.fields.items():
            if isinstance(input_field.type, GraphQLNonNull) and input_field.default_value is None:
                value = _literal(input_field.type, depth + 1)
                if value is None:
                    return None
                parts.append(f"{name}: {value}")
        return "{" + ", ".join(parts) + "}"
    return {"Int": "1", "Float": "1.5", "String": '"a"', "Boolean": "true", "ID": '"1"'}.get(
        getattr(input_type, "name", ""), '"1"'
    )


def _call(name: str, definition: GraphQLField, given: dict[str, str] | None = None) -> str | None:
    """``name(argument: literal, ...)`` for the ``given`` arguments and every required one,
    or None when a required argument cannot be written."""
    given = given or {}
    arguments = [f"{argument}: {value}" for argument, value in given.items()]
    for argument_name, argument in definition.args.items():
        if argument_name in given:
            continue
        if isinstance(argument.type, GraphQLNonNull) and argument.default_value is None:
            value = _literal(argument.type)
            if value is None:
                return None
            arguments.append(f"{argument_name}: {value}")
    return f"{name}({', '.join(arguments)})" if arguments else name


Edge = tuple[str, GraphQLObjectType | GraphQLInterfaceType]


def _edges(owner: Any) -> list[Edge]:
    """Fields of ``owner`` leading to object or interface types, written as calls."""
    edges = []
    for name, definition in getattr(owner, "fields", {}).items():
        target = get_named_type(definition.type)
        if name.startswith("__") or not isinstance(
            target, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        call = _call(name, definition)
        if call is not None:
            edges.append((call, target))
    return edges


@dataclass(frozen=True)
class _Shape:
    """What hostile documents need from a schema: a way into a cycle, a string argument."""

    prefix: tuple[str, ...]  # calls from the query root to the cycle's first type
    cycle: tuple[str, ...]  # calls that lead from that type back to itself
    string_field: str | None  # a root field call with a String argument, {} to fill in

    def nested(self, depth: int) -> str:
        """A selection ``depth`` fields deep, ending in ``__typename``."""
        calls: list[str] = list(self.prefix)
        while self.cycle and len(calls) < depth - 1:
            calls.extend(self.cycle)
        calls = calls[: max(depth - 1, 0)]
        return (
            "{ " + "".join(f"{call} {{ " for call in calls) + "__typename" + " }" * (len(calls) + 1)
        )


def _shape(schema: GraphQLSchema) -> _Shape:
    root = schema.query_type
    path: list[tuple[str, Any]] = []
    seen: set[str] = set()

    def search(owner: Any) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        seen.add(owner.name)
        for call, target in _edges(owner):
            start = next((i for i, (_, node) in enumerate(path) if node.name == target.name), None)
            if start is not None:
                calls = [c for c, _ in path[1:]] + [call]
                return tuple(calls[:start]), tuple(calls[start:])
            if target.name not in seen and len(path) < 12:
                path.append((call, target))
                found = search(target)
                path.pop()
                if found:
                    return found
        return None

    found = None
    if root is not None:
        path.append(("", root))
        found = search(root)
    string_field = None
    composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
    for name, definition in (root.fields if root is not None else {}).items():
        strings = [
            a for a, arg in definition.args.items() if get_named_type(arg.type).name == "String"
        ]
        call = _call(name, definition, {strings[0]: "{}"}) if strings else None
        if call is not None:
            selection = (
                " { __typename }" if isinstance(get_named_type(definition.type), composite) else ""
            )
            string_field = call + selection
            break
    prefix, cycle = found if found else ((), ())
    return _Shape(prefix, cycle, string_field)


# -- strategies ------------------------------------------------------------------------------


def valid_queries(schema: Any) -> st.SearchStrategy[str]:
    """Schema-valid queries (hypothesis-graphql), as text. Custom scalars get strings (the
    scalar may refuse them: then the document is invalid, which the checks handle too)."""
    from hypothesis_graphql import queries

    graphql_schema = graphql_schema_of(schema)
    return queries(graphql_schema, custom_scalars=_custom_scalar_strategies(graphql_schema)).map(
        str
    )


def _custom_scalar_strategies(schema: GraphQLSchema) -> dict[str, st.SearchStrategy[Any]]:
    from graphql import GraphQLScalarType, specified_scalar_types
    from hypothesis_graphql import nodes

    return {
        name: st.text(alphabet="abc0123456789-:", max_size=12).map(nodes.String)
        for name, named in schema.type_map.items()
        if isinstance(named, GraphQLScalarType)
        and name not in specified_scalar_types
        and not name.startswith("__")
    }


def _invalid_queries(schema: GraphQLSchema) -> st.SearchStrategy[str]:
    """Schema-invalid documents: hypothesis-graphql's NEGATIVE mode where it applies (it needs
    arguments to break), and always unknown names and misplaced selections."""
    from hypothesis_graphql import Mode, queries

    unknown = st.from_regex(r"\A[a-z][a-z0-9]{0,7}\Z").map(
        lambda name: "{ " + name + "_unknown_field }"
    )
    misplaced = st.just("{ __typename { nope } }")
    if not _has_arguments(schema):
        return st.one_of(unknown, misplaced)
    negative = queries(schema, mode=Mode.NEGATIVE, custom_scalars=_custom_scalar_strategies(schema))
    return st.one_of(negative.map(str), unknown, misplaced)


def _has_arguments(schema: GraphQLSchema) -> bool:
    return any(
        definition.args
        for named in schema.type_map.values()
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
        and not named.name.startswith("__")
        for definition in named.fields.values()
    )


def _fragment_bomb(levels: int, fan: int, on: str) -> str:
    spreads = [" ".join([f"...F{level + 1}"] * fan) for level in range(levels)]
    fragments = [f"fragment F{level} on {on} {{ {spreads[level]} }}" for level in range(levels)]
    fragments.append(f"fragment F{levels} on {on} {{ __typename }}")
    return "{ ...F0 } " + " ".join(fragments)


INTROSPECTION_DISGUISES = (
    "{ __schema { types { name } } }",
    "{ a: __schema { queryType { name } } }",
    '{ t: __type(name: "Query") { fields { name } } }',
    "{ ...F } fragment F on Query { __schema { types { name fields { name } } } }",
    "{ ... on Query { __schema { types { name } } } }",
    "query A { __typename } query B { __schema { types { name } } }",
    "\ufeff{ __schema { types { name } } }",
    "{ __schema # a comment between tokens\n { types { name } } }",
    "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }",
)


def hostile_documents(schema: Any, config: GuardConfig | None = None) -> st.SearchStrategy[str]:
    """Documents shaped like real attacks, sized around ``config``'s limits."""
    config = config if config is not None else GuardConfig()
    graphql_schema = graphql_schema_of(schema)
    shape = _shape(graphql_schema)
    root = graphql_schema.query_type.name if graphql_schema.query_type else "Query"
    depth = config.max_depth or 10
    aliases = config.max_aliases or 15
    directives = config.max_directives or 50
    operations = config.max_operations or 20
    characters = config.max_characters or 15_000

    def around(limit: int) -> st.SearchStrategy[int]:
        return st.integers(0, 2 * limit + 5)

    def many(unit: Callable[[int], str], count: int) -> str:
        return "{ " + " ".join(unit(index) for index in range(count)) + " }"

    strategies = [
        around(depth).map(lambda n: shape.nested(max(n, 1))),
        around(aliases).map(lambda n: many(lambda i: f"a{i}: __typename", n)),
        st.integers(0, 5_000).map(lambda n: many(lambda i: "__typename", max(n, 1))),
        st.tuples(st.integers(1, 40), st.sampled_from([2, 5])).map(
            lambda t: _fragment_bomb(t[0], t[1], root)
        ),
        st.integers(1, 6).map(
            lambda n: (
                "{ ...C0 } "
                + " ".join(f"fragment C{i} on {root} {{ ...C{(i + 1) % n} }}" for i in range(n))
            )
        ),
        around(directives).map(lambda n: "{ __typename" + " @include(if: true)" * n + " }"),
        st.integers(1, 3 * characters).map(
            lambda n: f'query($s: String = "{"x" * n}") {{ __typename }}'
        ),
        st.integers(1, 400).map(lambda n: f"query($n: Int = {'9' * n}) {{ __typename }}"),
        around(operations).map(
            lambda n: " ".join(f"query Q{index} {{ __typename }}" for index in range(max(n, 1)))
        ),
        st.sampled_from(INTROSPECTION_DISGUISES),
        _invalid_queries(graphql_schema),
        st.text(max_size=200),
    ]
    if shape.string_field is not None:
        template = shape.string_field
        strategies.append(
            st.integers(0, 2 * characters).map(
                lambda n: "{ " + template.replace("{}", json.dumps("y" * n), 1) + " }"
            )
        )
    return st.one_of(strategies)


# Literal values of any magnitude and of the wrong type, as GraphQL text: every one must be
# a verdict (a code), never an exception, wherever the document puts it.
HOSTILE_LITERALS: tuple[str, ...] = (
    "9" * 400,
    "-" + "9" * 400,
    "9" * 5_000,
    "1e400",
    "-1e400",
    "1.7976931348623157e309",
    "2147483648",
    "-2147483649",
    "-1",
    "0",
    "1.5",
    '"many"',
    "null",
    "true",
    "ENUM_VALUE",
    "[1, 2, 3]",
    "[[" + "9" * 400 + "]]",
    "{a: " + "9" * 5_000 + "}",
)
# The same as JSON variable values (Python objects, as a JSON body decodes them).
HOSTILE_VARIABLES: tuple[Any, ...] = (
    10**400,
    -(10**400),
    float("inf"),
    float("-inf"),
    1.7976931348623157e308,
    2**31,
    -1,
    0,
    1.5,
    "many",
    None,
    True,
    [1, 2, 3],
    [10**400],
    {"a": 10**400},
)


def _argument_sites(schema: GraphQLSchema) -> list[tuple[str, str, str]]:
    """(selection before, selection after, argument type) around one argument of every field
    reachable in one or two steps from the query root: ``before + VALUE + after`` is a query."""
    root = schema.query_type
    if root is None:
        return []
    composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType
    sites: list[tuple[str, str, str]] = []

    def fields_of(owner: Any, prefix: str, suffix: str, depth: int) -> None:
        for name, definition in getattr(owner, "fields", {}).items():
            if name.startswith("__"):
                continue
            target = get_named_type(definition.type)
            selection = " { __typename }" if isinstance(target, composite) else ""
            for argument_name, argument in definition.args.items():
                call = _call(name, definition, {argument_name: "{}"})
                if call is None:
                    continue
                before, after = call.split("{}", 1)
                sites.append((prefix + before, after + selection + suffix, str(argument.type)))
            if depth == 0 and isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
                call = _call(name, definition)
                if call is not None:
                    fields_of(target, f"{prefix}{call} {{ ", " }" + suffix, 1)

    fields_of(root, "", "", 0)
    return sites


def hostile_value_requests(
    schema: Any,
) -> st.SearchStrategy[tuple[str, dict[str, Any] | None, str | None]]:
    """(query, variables, operationName) putting hostile values in every argument position the
    schema has: literal arguments, inside lists and input objects, variables, variable
    defaults (used or not), directive arguments, and an operation that is not the one run."""
    graphql_schema = graphql_schema_of(schema)
    sites = _argument_sites(graphql_schema)
    literal = st.sampled_from(HOSTILE_LITERALS)
    variable = st.sampled_from(HOSTILE_VARIABLES)
    strategies: list[st.SearchStrategy[tuple[str, dict[str, Any] | None, str | None]]] = [
        literal.map(lambda v: ("{ __typename @include(if: " + v + ") }", None, None)),
        literal.map(lambda v: ("query($v: Int = " + v + ") { __typename }", None, None)),
        variable.map(
            lambda v: ("query($v: Boolean!) { __typename @skip(if: $v) }", {"v": v}, None)
        ),
    ]
    if sites:
        site = st.sampled_from(sites)
        strategies += [
            st.tuples(site, literal).map(
                lambda p: ("{ " + p[0][0] + p[1] + p[0][1] + " }", None, None)
            ),
            st.tuples(site, literal).map(
                lambda p: ("{ " + p[0][0] + "[" + p[1] + "]" + p[0][1] + " }", None, None)
            ),
            st.tuples(site, literal).map(
                lambda p: ("{ " + p[0][0] + "{x: " + p[1] + "}" + p[0][1] + " }", None, None)
            ),
            st.tuples(site, variable).map(
                lambda p: (
                    f"query Q($v: {p[0][2]}) {{ " + p[0][0] + "$v" + p[0][1] + " }",
                    {"v": p[1]},
                    None,
                )
            ),
            st.tuples(site, literal).map(
                lambda p: (
                    f"query Q($v: {p[0][2].rstrip('!')} = {p[1]}) {{ "
                    + p[0][0]
                    + "$v"
                    + p[0][1]
                    + " }",
                    None,
                    None,
                )
            ),
            st.tuples(site, literal).map(
                lambda p: (
                    "query A { " + p[0][0] + p[1] + p[0][1] + " } query B { __typename }",
                    None,
                    "B",
                )
            ),
        ]
    return st.one_of(strategies)


PREFLIGHT: tuple[tuple[str, str], ...] = (("apollo-require-preflight", "true"),)


@dataclass(frozen=True)
class HttpRequest:
    """One request for :class:`GuardChecker`; ``documents`` are the GraphQL texts it carries."""

    method: str = "POST"
    content: bytes | None = None
    params: dict[str, str] | None = None
    content_type: str = "application/json"
    documents: tuple[str, ...] = ()
    batch: bool = False
    # Extra headers, e.g. the preflight header CSRF prevention asks of a GET.
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def post_json(cls, payload: Any) -> HttpRequest:
        bodies = payload if isinstance(payload, list) else [payload]
        documents = tuple(
            body["query"]
            for body in bodies
            if isinstance(body, dict) and isinstance(body.get("query"), str)
        )
        return cls(
            content=json.dumps(payload).encode(),
            documents=documents,
            batch=isinstance(payload, list),
        )


def hostile_requests(
    schema: Any, config: GuardConfig | None = None
) -> st.SearchStrategy[HttpRequest]:
    """HTTP requests carrying hostile documents, batches and malformed envelopes."""
    config = config if config is not None else GuardConfig()
    documents = st.one_of(hostile_documents(schema, config), valid_queries(schema))
    envelope = st.fixed_dictionaries(
        {"query": documents},
        optional={
            "variables": st.one_of(st.none(), st.dictionaries(st.text(max_size=5), st.integers())),
            "operationName": st.one_of(st.none(), st.sampled_from(["A", "B", "Q0"])),
        },
    )
    batch_cap = config.max_batch or 5
    malformed = st.sampled_from(
        [
            HttpRequest(content=b"\xff\xfe{"),
            HttpRequest(content=b'{"query": "{ __typename }"'),
            HttpRequest(content=b"[" * 100_000 + b"]" * 100_000),
            HttpRequest(content=b'{"query": "{ __typename }", "variables": {"n": 1e999999}}'),
            HttpRequest(content=b'{"query": "{ __typename }", "variables": {"n": NaN}}'),
            HttpRequest(content=b'{"query": 1}'),
            HttpRequest(content=b'{"query": ["{ __typename }"]}'),
            HttpRequest(content=b'{"query": "{ __typename }", "variables": []}'),
            HttpRequest(content=b'{"query": "{ __typename }", "operationName": 7}'),
            HttpRequest(content=b'{"query": "{ __typename }", "extensions": "x"}'),
            HttpRequest(content=b'"just a string"'),
            HttpRequest(content=b"[]"),
            HttpRequest(content=b""),
            HttpRequest(
                content=b'{"query": "{ \\u005f\\u005fschema { types { name } } }"}',
                documents=("{ __schema { types { name } } }",),
            ),
            HttpRequest(
                content=b"query={ __typename }", content_type="application/x-www-form-urlencoded"
            ),
            HttpRequest(content=b'{"query": "{ __typename }"}', content_type="text/plain"),
            HttpRequest(method="PUT", content=b'{"query": "{ __typename }"}'),
            HttpRequest(
                method="GET",
                params={"query": "mutation { __typename }"},
                documents=("mutation { __typename }",),
                headers=PREFLIGHT,
            ),
            # A cross-site GET (no preflight header): refused by CSRF prevention.
            HttpRequest(
                method="GET", params={"query": "{ __typename }"}, documents=("{ __typename }",)
            ),
            HttpRequest(
                content=json.dumps(
                    {"query": "{ __typename }", "extensions": {"persistedQuery": {"version": 1}}}
                ).encode()
            ),
        ]
    )
    values = hostile_value_requests(schema).map(
        lambda request: {
            "query": request[0],
            **({"variables": request[1]} if request[1] is not None else {}),
            **({"operationName": request[2]} if request[2] is not None else {}),
        }
    )
    return st.one_of(
        envelope.map(HttpRequest.post_json),
        values.map(HttpRequest.post_json),
        st.lists(envelope, min_size=1, max_size=batch_cap + 3).map(HttpRequest.post_json),
        documents.map(
            lambda document: HttpRequest(
                method="GET", params={"query": document}, documents=(document,), headers=PREFLIGHT
            )
        ),
        malformed,
    )


# -- the checker -----------------------------------------------------------------------------


@dataclass
class Outcome:
    status: int
    body: Any
    resolver_calls: int
    rejected: bool


@dataclass
class GuardChecker:
    """Asserts gqlguard's promises for one request at a time (requests run one by one).

    ``schema`` is a Strawberry schema carrying ``GuardExtension`` (the app defaults to
    ``gqlguard.starlette.create_app(schema, config)``) or a graphql-core schema (Ariadne's,
    Graphene's ``graphql_schema``; without an ``app``, documents go through
    :class:`~gqlguard.guard.Guard` and graphql-core's executor). Requests go to ``app``
    in process, or to a running server at ``url`` (then serving ``schema`` in this process,
    so its resolvers can be counted). Resolver calls are counted for the checker's lifetime
    (an extension on a Strawberry schema, a wrapper around each resolver of a graphql-core
    schema): use it as a context manager.
    """

    schema: Any
    config: GuardConfig = field(default_factory=GuardConfig)
    app: Any = None
    path: str = "/graphql"
    max_check_seconds: float | None = 2.0
    resolver_calls: int = 0
    url: str | None = None

    def __post_init__(self) -> None:
        # The checker's own verdicts: a policy it cannot run denies (fails closed).
        self.guard = Guard(self.schema, self.config, policies=Policies.unavailable())
        self._resolvers_wrapped = False
        self._strawberry = not isinstance(
            getattr(self.schema, "graphql_schema", self.schema), GraphQLSchema
        )
        if self.app is None and self.url is None and self._strawberry:
            from .starlette import create_app
            from .strawberry import GuardExtension

            if not any(isinstance(e, GuardExtension) for e in self.schema.extensions):
                # Every promise would hold vacuously: nothing would ever be rejected.
                raise ValueError("the schema has no GuardExtension: nothing guards it")

            self.app = create_app(self.schema, self.config)

    @contextmanager
    def counting(self) -> Iterator[GuardChecker]:
        if not self._strawberry:
            with self._counting_resolvers():
                yield self
            return
        from strawberry.extensions import SchemaExtension

        checker = self

        class CountResolvers(SchemaExtension):
            def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
                checker.resolver_calls += 1
                return _next(root, info, *args, **kwargs)

        original = self.schema.extensions
        # Innermost (first): it counts resolvers that really run, after the guard's hook.
        self.schema.extensions = (CountResolvers, *original)
        try:
            yield self
        finally:
            self.schema.extensions = original

    @contextmanager
    def _counting_resolvers(self) -> Iterator[None]:
        # Each field's resolver (graphql-core's default one where none is set) wrapped once.
        originals: list[tuple[Any, Any]] = []
        for named in self.guard.schema.type_map.values():
            if named.name.startswith("__") or not isinstance(named, GraphQLObjectType):
                continue
            for definition in named.fields.values():
                originals.append((definition, definition.resolve))
                definition.resolve = self._counted(definition.resolve or default_field_resolver)
        self._resolvers_wrapped = True
        try:
            yield
        finally:
            self._resolvers_wrapped = False
            for definition, resolve in originals:
                definition.resolve = resolve

    def _counted(self, resolve: Any) -> Any:
        def counted(root: Any, info: Any, **arguments: Any) -> Any:
            self.resolver_calls += 1
            return resolve(root, info, **arguments)

        return counted

    def __enter__(self) -> GuardChecker:
        self._context = self.counting()
        return self._context.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)

    # -- checks -----------------------------------------------------------------------

    def check_document(self, query: str, variables: Any = None) -> Outcome:
        """Guard.check then (if accepted) graphql-core execution; assert the invariants."""
        self._check_bounded(query)
        self.resolver_calls = 0
        verdict = self.guard.check(query, variables)
        body: dict[str, Any]
        if verdict.accepted and verdict.document is not None:
            result = execute_sync(
                self.guard.schema,
                verdict.document,
                variable_values=variables,
                # Counted here unless every resolver is already wrapped (inside `with checker`).
                middleware=None if self._resolvers_wrapped else [self._count_middleware],
            )
            body = {"data": result.data}
            if result.errors:
                body["errors"] = [
                    {"message": "error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
                ]
        else:
            body = {"errors": verdict.formatted_errors()}
        return self._assert_body(200, json.dumps(body), body, batch=False, sent=query)

    async def check_request(self, request: HttpRequest) -> Outcome:
        """Send ``request`` to the app; assert the invariants; return what happened."""
        for document in request.documents:
            self._check_bounded(document)
        self.resolver_calls = 0
        if self.url is not None:
            client = httpx.AsyncClient(base_url=self.url, timeout=30)
        else:
            transport = httpx.ASGITransport(app=self.app)
            client = httpx.AsyncClient(transport=transport, base_url="http://fuzz")
        async with client:
            response = await client.request(
                request.method,
                self.path,
                content=request.content,
                params=request.params,
                headers={
                    **({"content-type": request.content_type} if request.content else {}),
                    **dict(request.headers),
                },
            )
        assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(f"not JSON: {response.text[:300]}") from None
        sent = " ".join(
            [
                (request.content or b"").decode("utf-8", "replace"),
                *(request.params or {}).values(),
                *request.documents,
            ]
        )
        return self._assert_body(response.status_code, response.text, body, request.batch, sent)

    def run(self, request: HttpRequest) -> Outcome:
        return asyncio.run(self.check_request(request))

    # -- the invariants ---------------------------------------------------------------

    def _assert_body(
        self, status: int, text: str, body: Any, batch: bool, sent: str = ""
    ) -> Outcome:
        for marker in LEAK_MARKERS:
            # A parse error may quote what the client wrote; only what it did not is a leak.
            assert marker not in text or marker in sent, f"leaked {marker!r}: {text[:300]}"
        if isinstance(body, list):
            assert batch, "a list answered a request that was not a batch"
            cap = self.config.max_batch
            assert cap is None or len(body) <= cap, "a batch over the cap was answered per item"
            answers = body
        else:
            assert isinstance(body, dict), f"not a JSON object: {text[:300]}"
            answers = [body]
        # Not rejections: resolver errors, and filter-mode denials (the denied fields are
        # nulled during execution, and a null can bubble up to ``data`` itself).
        executed = {"INTERNAL_SERVER_ERROR"}
        if self.config.authorization_mode == "filter":
            executed.add("UNAUTHORIZED_FIELD_OR_TYPE")
        rejected = []
        for answer in answers:
            assert isinstance(answer, dict), f"not a JSON object: {answer!r}"
            errors = answer.get("errors") or []
            for error in errors:
                code = (error.get("extensions") or {}).get("code")
                assert code in DOCUMENTED_CODES, f"undocumented error code {code!r}: {error}"
            codes = {(e.get("extensions") or {}).get("code") for e in errors}
            rejected.append(bool(errors) and answer.get("data") is None and not codes & executed)
        whole = all(rejected)
        if whole:
            assert self.resolver_calls == 0, (
                f"{self.resolver_calls} resolver(s) ran for a rejected request: {text[:300]}"
            )
        return Outcome(status, body, self.resolver_calls, whole)

    def _check_bounded(self, document: str) -> None:
        limit = self.config.max_characters
        if self.max_check_seconds is None or (limit is not None and len(document) > limit):
            return
        # CPU time of this thread: a loaded machine makes wall-clock time lie, CPU time not.
        started = time.thread_time()
        self.guard.check(document)
        elapsed = time.thread_time() - started
        assert elapsed <= self.max_check_seconds, (
            f"checking a {len(document)}-character document took {elapsed:.2f} s of CPU"
        )

    def _count_middleware(self, _next: Any, root: Any, info: Any, **arguments: Any) -> Any:
        self.resolver_calls += 1
        return _next(root, info, **arguments)


def fuzz(
    schema: Any,
    config: GuardConfig | None = None,
    *,
    app: Any = None,
    url: str | None = None,
    max_examples: int = 200,
    derandomize: bool = False,
    max_check_seconds: float | None = 2.0,
) -> None:
    """Fuzz ``schema`` (served by ``app``, default ``create_app(schema, config)``, or by the
    server at ``url``) with hostile requests and valid queries; raise AssertionError with the
    falsifying example."""
    config = config if config is not None else GuardConfig()
    checker = GuardChecker(schema, config, app=app, url=url, max_check_seconds=max_check_seconds)
    strategy = (
        hostile_requests(schema, config)
        if checker._strawberry or app is not None or url is not None
        else st.one_of(hostile_documents(schema, config), valid_queries(schema))
    )

    @settings(
        max_examples=max_examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def survives(example: Any) -> None:
        if isinstance(example, HttpRequest):
            checker.run(example)
        else:
            checker.check_document(example)

    with checker:
        survives()
