"""Configuration: every limit and policy of gqlguard in one validated, immutable model.

Sources, lowest precedence first: ``[tool.gqlguard]`` in a pyproject.toml (or any TOML file),
then ``GQLGUARD_*`` environment variables, then keyword arguments. Lists and maps in the
environment are JSON (``GQLGUARD_COST_WEIGHTS='{"Query.search": 10}'``).

>>> GuardConfig(max_depth=5).max_depth
5
>>> GuardConfig().mode
'enforce'
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GuardConfig", "default_config", "load_config"]

Mode = Literal["enforce", "measure"]
IntrospectionPolicy = Literal["off", "on", "scopes"]
PersistedMode = Literal["off", "apq", "safelist", "log_unknown"]
AuthorizationMode = Literal["filter", "reject", "dry_run"]


_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


class GuardConfig(BaseSettings):
    """Limits and policies. Every limit is inclusive: a document exactly at it passes."""

    model_config = SettingsConfigDict(
        env_prefix="GQLGUARD_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
    )

    mode: Mode = Field("enforce", description="`measure` never rejects; it reports and logs.")
    expose_limits: bool = Field(True, description="Report measured value and limit in errors.")

    # Pre-parse limits
    max_characters: int | None = Field(15_000, ge=0)
    max_tokens: int | None = Field(1_000, ge=0)
    max_comments: int | None = Field(1_000, ge=0)

    # Analysis limits
    max_depth: int | None = Field(10, ge=0)
    max_aliases: int | None = Field(15, ge=0)
    max_directives: int | None = Field(50, ge=0)
    max_fields: int | None = Field(2_000, ge=0)
    max_root_fields: int | None = Field(None, ge=0)
    max_operations: int | None = Field(20, ge=0)
    max_cost: float | None = Field(1_000, ge=0)
    # `both`: max_cost bounds the resolver runs (field_cost) *and* the objects produced
    # (type_cost), so a query for a million scalar-only objects is never cheap.
    cost_limit_applies_to: Literal["both", "field_cost", "type_cost"] = "both"

    # Cost model
    cost_weights: dict[str, float] = Field(default_factory=dict)
    default_list_size: int = Field(10, ge=0)
    max_list_size: int | None = Field(None, ge=0)
    # A requested page above max_list_size is refused unless the operator says the resolvers
    # themselves clamp to it: a clamp nobody enforces would make the estimate lower than what runs.
    reject_list_size_above_max: bool = True
    pagination_arguments: tuple[str, ...] = ("first", "last", "limit")
    mutation_cost: float = Field(10, ge=0)
    report_cost: bool = True

    # Memory: the guard's caches of parsed, validated and analysed documents hold at most about
    # this many bytes (estimated from the text: a parsed document costs ~125 bytes per
    # character), whatever the traffic; a rejected document is never kept.
    cache_max_bytes: int = Field(32_000_000, ge=0)

    # Transport
    max_batch: int | None = Field(5, ge=0)
    batching: bool = True
    max_body_bytes: int = Field(100_000, ge=1)
    batch_cost: Literal["sum", "each"] = Field(
        "sum", description="`sum`: a batch's summed estimated cost counts against max_cost."
    )
    # CSRF prevention (Apollo Server 4's rule): a request without a preflight-forcing
    # Content-Type must carry one of these headers, non-empty.
    csrf_prevention: bool = True
    csrf_required_headers: tuple[str, ...] = Field(
        ("x-apollo-operation-name", "apollo-require-preflight"), min_length=1
    )
    trusted_proxies: tuple[str, ...] = Field(
        (), description="Peers whose X-Forwarded-For names the client (budget key)."
    )

    # Cost budget per client (token bucket); off unless budget_capacity is set
    budget_capacity: float | None = Field(None, gt=0)
    budget_restore_rate: float = Field(10, ge=0)
    budget_store: Literal["memory", "redis"] = "memory"
    budget_on_store_error: Literal["closed", "open"] = "closed"
    # Points a rejected request draws (at least a cheap query's cost), so a client flooding
    # hostile documents is throttled like one flooding expensive ones.
    budget_rejection_charge: float = Field(10, ge=0)
    budget_key_prefix: str = "gqlguard:budget:"
    redis_url: str = Field(
        default_factory=lambda: os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )

    # Reconnaissance
    introspection: IntrospectionPolicy = "off"
    introspection_scopes: tuple[str, ...] = ()
    # `__schema`/`__type` subtrees: graphql-core's standard introspection query is depth 15,
    # field cost 14,966 at the default list size; twice that is refused.
    max_introspection_depth: int | None = Field(15, ge=0)
    max_introspection_cost: float | None = Field(20_000, ge=0)
    mask_errors: bool = True
    max_errors: int = Field(5, ge=1)

    # Authorization (@authenticated / @requiresScopes) and JWT principals
    authorization_mode: AuthorizationMode = "filter"
    hide_unauthorized_fields: bool = False
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = Field(None, description="PEM text or a path to a PEM file.")
    jwt_jwks_url: str | None = Field(None, description="https:// URL or a path to a JWKS file.")
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] | None = Field(
        None, description="Default: HS256 with a secret, RS256 and ES256 with public keys."
    )
    jwt_leeway: float = Field(10, ge=0, le=300)
    jwt_scope_claim: str = "scope"

    # Persisted queries: off | apq | safelist | log_unknown (see gqlguard.persisted)
    persisted_mode: PersistedMode = "off"
    persisted_manifest: str | None = Field(
        None, description="Path of an Apollo persisted-query manifest: the safelist."
    )
    persisted_store: Literal["memory", "redis"] = "memory"
    persisted_key_prefix: str = "gqlguard:pq:"
    persisted_apq_ttl: int = Field(86_400, ge=1, description="Seconds an APQ entry lives.")
    persisted_apq_max_entries: int = Field(1_000, ge=0, description="In-memory APQ store.")
    persisted_apq_max_bytes: int = Field(
        4_000_000, ge=0, description="In-memory APQ store: total characters of its bodies."
    )

    # Development conveniences (never on by default)
    graphiql: bool = False

    @classmethod
    def unlimited(cls, **overrides: Any) -> GuardConfig:
        """Every size limit off: for measuring (benchmarks, tests), never for serving."""
        limits = {
            name: None
            for name in cls.model_fields
            if name.startswith("max_") and name not in {"max_body_bytes", "max_errors"}
        }
        return cls(**{**limits, **overrides})

    @classmethod
    def development(cls, **overrides: Any) -> GuardConfig:
        """For a developer's machine: readable errors, introspection, GraphiQL.

        Suggestions stay hidden and every limit stays on.
        """
        return cls(**{"mask_errors": False, "introspection": "on", "graphiql": True, **overrides})

    @model_validator(mode="after")
    def _jwt_is_verifiable(self) -> GuardConfig:
        keys = [self.jwt_secret, self.jwt_public_key, self.jwt_jwks_url]
        if any(key is not None for key in keys):
            if sum(key is not None for key in keys) > 1:
                raise ValueError("configure one of jwt_secret, jwt_public_key, jwt_jwks_url")
            if not self.jwt_issuer or not self.jwt_audience:
                raise ValueError("JWT verification needs jwt_issuer and jwt_audience")
            if any(a.lower() == "none" for a in self.jwt_algorithms or ()):
                raise ValueError("the 'none' algorithm is never accepted")
        if self.jwt_secret is not None:
            secret = self.jwt_secret.get_secret_value()
            if not secret.strip():
                # An unset deployment variable rendered empty must never mean "some default".
                raise ValueError("jwt_secret is empty or blank")
            # RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
            needed = max(
                (_HMAC_KEY_BYTES.get(a.upper(), 0) for a in self.jwt_algorithms or ("HS256",)),
                default=32,
            )
            if len(secret.encode("utf-8")) < needed:
                raise ValueError(
                    f"jwt_secret is too short: HMAC needs at least {needed} bytes (RFC 7518 3.2)"
                )
        return self

    @field_validator(
        "pagination_arguments",
        "introspection_scopes",
        "jwt_algorithms",
        "trusted_proxies",
        "csrf_required_headers",
        mode="before",
    )
    @classmethod
    def _split_comma_string(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: Any, init_settings: Any, env_settings: Any, *_: Any, **__: Any
    ) -> tuple[Any, ...]:
        # Keyword arguments win over the environment; dotenv and secret files are not read.
        return (init_settings, env_settings)


_defaults: list[GuardConfig] = []


def default_config() -> GuardConfig:
    """``GuardConfig()`` (the environment applied), built once per process: reading the
    environment costs more than analysing a typical document."""
    if not _defaults:
        _defaults.append(GuardConfig())
    return _defaults[0]


def _read_toml_table(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("gqlguard", {})
    else:
        table = data.get("tool", {}).get("gqlguard", data)
    return {key: value for key, value in table.items() if key in GuardConfig.model_fields}


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> GuardConfig:
    """Build a config from a TOML file (default: ./pyproject.toml if present), env and kwargs.

    Environment variables override the file; keyword arguments override both.
    """
    file_values: dict[str, Any] = {}
    candidate = Path(path) if path is not None else Path("pyproject.toml")
    if candidate.is_file():
        file_values = _read_toml_table(candidate)
    elif path is not None:
        raise FileNotFoundError(str(candidate))
    env_values = GuardConfig().model_dump(exclude_unset=True)
    merged = {**file_values, **env_values, **overrides}
    return GuardConfig(**merged)
