"""Strawberry's own ASGI app: ``uvicorn examples.strawberry_asgi:app``.

As the FastAPI example: ``GuardExtension`` checks the operations, ``TransportGuard`` the
requests. For the whole pipeline (cost budget, bearer JWTs, actual-cost refunds) serve the same
schema with ``gqlguard.starlette.create_app(schema)`` instead.
"""

from __future__ import annotations

from strawberry.asgi import GraphQL

from gqlguard.asgi import TransportGuard

from .strawberry_library import CONFIG, schema

app = TransportGuard(GraphQL(schema, graphql_ide=None), CONFIG)
