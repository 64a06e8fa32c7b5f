"""The demo ASGI app: ``uvicorn schema_example.app:app``. Configured by ``GQLGUARD_*``."""

from __future__ import annotations

from gqlguard.config import GuardConfig
from gqlguard.starlette import create_app

from .schema import build_schema

config = GuardConfig()
schema = build_schema(config)
app = create_app(schema, config)
