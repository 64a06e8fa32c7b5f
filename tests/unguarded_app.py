"""The demo schema with no guard at all: the control that shows an attack tool works."""

from strawberry.asgi import GraphQL

from schema_example.schema import build_schema

app = GraphQL(build_schema(guarded=False), graphql_ide=None)
