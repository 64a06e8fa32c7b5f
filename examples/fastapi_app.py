"""FastAPI with Strawberry's GraphQLRouter: ``uvicorn examples.fastapi_app:app``.

``GuardExtension`` (in the schema) checks every operation under Strawberry's own view: CSRF
prevention, persisted queries, the limits and cost, validation without suggestions,
authorization, masked errors. ``TransportGuard`` puts gqlguard's transport stage in front of
the router (body cap, strict JSON, envelope shape, batch cap), so a malformed request gets a
coded JSON error rather than the view's text.
"""

from __future__ import annotations

from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter

from gqlguard.asgi import TransportGuard

from .strawberry_library import CONFIG, schema

api = FastAPI()
api.include_router(GraphQLRouter(schema, graphql_ide=None), prefix="/graphql")
app = TransportGuard(api, CONFIG, path="/graphql")
