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

import logging
import os
from pathlib import Path

from gqlguard.config import GuardConfig
from gqlguard.starlette import create_app

from .schema import build_schema

DEMO_JWT_SECRET = "gqlguard-demo-secret-do-not-use-in-production"
DEMO_JWT_ISSUER = "gqlguard-demo"
DEMO_JWT_AUDIENCE = "gqlguard-demo"
DEMO_MANIFEST = Path(__file__).resolve().parent.parent / "persisted_queries" / "manifest.json"


def demo_config() -> GuardConfig:
    defaults: dict[str, str] = {}
    keys = ("GQLGUARD_JWT_SECRET", "GQLGUARD_JWT_PUBLIC_KEY", "GQLGUARD_JWT_JWKS_URL")
    # Only an absent variable means "use the demo secret": an empty one (a deployment
    # variable rendered empty) is a configuration error, never a fallback to a public secret.
    if not any(key in os.environ for key in keys):
        logging.getLogger("gqlguard.demo").warning(
            "JWT: using the public development secret (set GQLGUARD_JWT_SECRET for your own)"
        )
        defaults["jwt_secret"] = DEMO_JWT_SECRET
    if not os.environ.get("GQLGUARD_JWT_ISSUER"):
        defaults["jwt_issuer"] = DEMO_JWT_ISSUER
    if not os.environ.get("GQLGUARD_JWT_AUDIENCE"):
        defaults["jwt_audience"] = DEMO_JWT_AUDIENCE
    if not os.environ.get("GQLGUARD_PERSISTED_MODE"):
        defaults["persisted_mode"] = "log_unknown"
    if not os.environ.get("GQLGUARD_PERSISTED_MANIFEST") and DEMO_MANIFEST.is_file():
        defaults["persisted_manifest"] = str(DEMO_MANIFEST)
    return GuardConfig(**defaults)


config = demo_config()
schema = build_schema(config)
app = create_app(schema, config)
