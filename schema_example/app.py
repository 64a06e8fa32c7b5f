"""The demo ASGI app: ``uvicorn schema_example.app:app``. Configured by ``GQLGUARD_*``.

Bearer tokens are verified with a development HS256 secret unless the environment names a
key of its own (``GQLGUARD_JWT_SECRET``, ``_PUBLIC_KEY`` or ``_JWKS_URL``). The secret is
public — it is in this file — so it is for the demo only; mint a token with ``make token``.

Persisted queries: the committed manifest (``persisted_queries/manifest.json``, built by
``gqlguard manifest build``) in ``log_unknown`` mode — safelisted ids and APQ work, raw
queries still run and the unknown ones are logged. ``GQLGUARD_PERSISTED_MODE=safelist``
turns it into a strict safelist.
"""

from __future__ import annotations

from gqlguard.starlette import create_app

from .collector import settle_collector
from .config import (
    DEMO_JWT_AUDIENCE,
    DEMO_JWT_ISSUER,
    DEMO_JWT_SECRET,
    DEMO_MANIFEST,
    demo_config,
    warn_about_the_demo_secret,
)
from .schema import build_schema

__all__ = [
    "DEMO_JWT_AUDIENCE",
    "DEMO_JWT_ISSUER",
    "DEMO_JWT_SECRET",
    "DEMO_MANIFEST",
    "app",
    "config",
    "demo_config",
    "schema",
]

config = demo_config()
warn_about_the_demo_secret()
schema = build_schema(config)
app = create_app(schema, config)
settle_collector()  # schema_example/collector.py: freeze what is built, size the young generation
