"""The demo schema with no guard at all: the control that shows an attack tool works."""

from strawberry.asgi import GraphQL

from schema_example.collector import settle_collector
from schema_example.schema import build_schema

app = GraphQL(build_schema(guarded=False), graphql_ide=None)

# Deployed as the demo is, so a comparison measures the guard's work, not a difference in
# the collector's.
settle_collector()
