"""Both sides of the cached-traffic comparison in one server process (bench/throughput.py's
paired batches): Strawberry with its ParserCache and ValidationCache at /cached/graphql, the
guarded demo at /guard/graphql. One process, so what differs from one server process to the
next (where its heap lies, its hash seed) weighs on both sides alike; serve it with
``GQLGUARD_PERSISTED_MODE=off`` (the library's defaults, as the other configurations)."""

from starlette.applications import Starlette
from starlette.routing import Mount

from bench.apps import cached_unguarded
from schema_example.app import app as guarded
from schema_example.collector import settle_collector

app = Starlette(routes=[Mount("/cached", app=cached_unguarded), Mount("/guard", app=guarded)])

settle_collector()  # after both apps are built, as each of them does alone
