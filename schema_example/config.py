"""The demo's configuration: ``GQLGUARD_*`` variables (and ``[tool.gqlguard]``), over the
demo's own defaults: its public development JWT secret (only when no key variable exists at
all), its issuer and audience, and the committed manifest in ``log_unknown`` mode.

Any variable works alone: ``GQLGUARD_JWT_SECRET=<32+ bytes> make demo`` keeps the demo's
issuer and audience. A mistake is one :class:`gqlguard.config.ConfigError` line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gqlguard.config import GuardConfig, load_config

DEMO_JWT_SECRET = "gqlguard-demo-secret-do-not-use-in-production"
DEMO_JWT_ISSUER = "gqlguard-demo"
DEMO_JWT_AUDIENCE = "gqlguard-demo"
DEMO_MANIFEST = Path(__file__).resolve().parent.parent / "persisted_queries" / "manifest.json"


def uses_demo_secret() -> bool:
    """Whether the demo falls back to its public development secret (no key variable)."""
    keys = ("GQLGUARD_JWT_SECRET", "GQLGUARD_JWT_PUBLIC_KEY", "GQLGUARD_JWT_JWKS_URL")
    return not any(key in os.environ for key in keys)


def warn_about_the_demo_secret() -> None:
    """Said where the demo serves (its app, ``make demo``), never by a tool that only imports
    the schema (``gqlguard analyze --schema schema_example.schema:schema``)."""
    if uses_demo_secret():
        logging.getLogger("gqlguard.demo").warning(
            "JWT: using the public development secret (set GQLGUARD_JWT_SECRET for your own)"
        )


def demo_config() -> GuardConfig:
    defaults: dict[str, str] = {}
    # Only an absent variable means "use the demo secret": an empty one (a deployment
    # variable rendered empty) is a configuration error, never a fallback to a public secret.
    if uses_demo_secret():
        defaults["jwt_secret"] = DEMO_JWT_SECRET
    if not os.environ.get("GQLGUARD_JWT_ISSUER"):
        defaults["jwt_issuer"] = DEMO_JWT_ISSUER
    if not os.environ.get("GQLGUARD_JWT_AUDIENCE"):
        defaults["jwt_audience"] = DEMO_JWT_AUDIENCE
    if not os.environ.get("GQLGUARD_PERSISTED_MODE"):
        defaults["persisted_mode"] = "log_unknown"
    if not os.environ.get("GQLGUARD_PERSISTED_MANIFEST") and DEMO_MANIFEST.is_file():
        defaults["persisted_manifest"] = str(DEMO_MANIFEST)
    # The demo's defaults yield to the environment: only the absent variables get one.
    return load_config(**defaults)
