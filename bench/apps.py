"""The apps the benchmarks serve: the demo schema with the guard and without it (bench/throughput.py),
its graphql-core schema under create_app (bench/subscriptions.py)."""

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from gqlguard import GuardConfig
from gqlguard.starlette import create_app
from schema_example.collector import settle_collector
from schema_example.schema import (
    DEMO_OBJECT_RULES,
    DEMO_POLICIES,
    Mutation,
    Post,
    Product,
    Query,
    ResolverCounter,
    User,
    build_schema,
)

# The same Starlette endpoint and schema; Strawberry alone parses and validates.
unguarded = create_app(build_schema(guarded=False), GuardConfig.unlimited())

# The fair baseline: Strawberry's own parse and validation caches, as the guard caches too.
cached_unguarded = create_app(
    strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[User, Post, Product],
        extensions=[ResolverCounter, ParserCache(), ValidationCache()],
    ),
    GuardConfig.unlimited(),
)

# The demo's graphql-core schema under create_app (gqlguard's own WebSocket handler), with
# the demo's policies and object rules: bench/subscriptions.py runs both doors.
graphql_core = create_app(
    build_schema(guarded=False)._schema,
    GuardConfig(persisted_mode="off"),
    policies=DEMO_POLICIES,
    object_rules=DEMO_OBJECT_RULES,
)

# Deployed as the demo is, so a comparison measures the guard's work, not a difference in
# the collector's.
settle_collector()
