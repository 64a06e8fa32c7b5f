"""The apps bench/throughput.py serves: the demo schema with the guard and without it."""

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from gqlguard import GuardConfig
from gqlguard.starlette import create_app
from schema_example.schema import (
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
