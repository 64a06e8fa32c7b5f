"""Configuration: every limit and policy of gqlguard in one validated, immutable model.

Sources, lowest precedence first: ``[tool.gqlguard]`` in ./pyproject.toml (or the TOML file
given to :func:`load_config`), then ``GQLGUARD_*`` environment variables, then keyword
arguments. Lists and maps in the environment are JSON
(``GQLGUARD_COST_WEIGHTS='{"Query.search": 10}'``). ``GuardConfig(**kw)`` and
``load_config(**kw)`` are one entry point: the same sources, the same result, and every mistake
(an unknown key or variable, a bad value) is one :class:`ConfigError` line naming where it was.

>>> GuardConfig(max_depth=5).max_depth
5
>>> GuardConfig().mode
'enforce'
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "OFF",
    "ConfigError",
    "GuardConfig",
    "check_environment",
    "default_config",
    "explain",
    "load_config",
]

Mode = Literal["enforce", "measure"]
IntrospectionPolicy = Literal["off", "on", "scopes"]
PersistedMode = Literal["off", "apq", "safelist", "log_unknown"]
AuthorizationMode = Literal["filter", "reject", "dry_run"]


_HMAC_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
# The analysis limits (gqlguard.limits.LIMITS) a rollout can measure before it enforces them.
_MEASURABLE_LIMITS = frozenset(
    {
        "max_depth",
        "max_aliases",
        "max_directives",
        "max_fields",
        "max_root_fields",
        "max_cost",
        "max_introspection_depth",
        "max_introspection_cost",
    }
)
MIN_HS256_SECRET_BYTES = _HMAC_KEY_BYTES["HS256"]
OFF = "off"
# Limits that can be turned off (None): `GQLGUARD_MAX_DEPTH=off`, `max_depth = "off"`.
OPTIONAL_LIMITS = (
    "max_characters",
    "max_tokens",
    "max_comments",
    "max_depth",
    "max_aliases",
    "max_directives",
    "max_fields",
    "max_root_fields",
    "max_operations",
    "max_cost",
    "max_list_size",
    "max_batch",
    "budget_capacity",
    "max_introspection_depth",
    "max_introspection_cost",
    "offload_characters",
)
# Keys of [tool.gqlguard] that are not GuardConfig fields but belong to the CLI.
_TOOL_KEYS = frozenset({"schema"})


class ConfigError(ValueError):
    """A configuration mistake, in one line naming the variable or key, the value and what
    is expected (``load_config`` raises only this)."""


# The TOML file load_config names for the GuardConfig it builds (None: ./pyproject.toml).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("gqlguard_config_file", default=None)


class GuardConfig(BaseSettings):
    """Limits and policies. Every limit is inclusive: a document exactly at it passes."""

    model_config = SettingsConfigDict(
        env_prefix="GQLGUARD_",
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        # Environment values reach the validators as text: lists accept "a,b" as well as
        # JSON, maps JSON, and every optional limit the word "off".
        enable_decoding=False,
    )

    def __init__(self, **values: Any) -> None:
        # One path for every source, so `GuardConfig()` and `load_config()` cannot drift: the
        # file, then the environment (checked for typos), then the keywords.
        path = _CONFIG_FILE.get()
        candidate = path if path is not None else Path("pyproject.toml")
        file_values = _read_toml_table(candidate) if candidate.is_file() else {}
        check_environment()
        for key in values:
            if key not in type(self).model_fields:
                raise ConfigError(f"unknown setting {key!r}{_nearest(key)}")
        # The environment's values are text, read by the validators as pydantic-settings
        # would read them (enable_decoding=False).
        env_values = {
            variable[len("GQLGUARD_") :].lower(): value
            for variable, value in os.environ.items()
            if variable.upper().startswith("GQLGUARD_")
        }
        try:
            super().__init__(**{**file_values, **env_values, **values})
        except ValidationError as error:
            raise explain(error, file_values, values) from None

    mode: Mode = Field(
        default="enforce", description="`measure` never rejects; it reports and logs."
    )
    expose_limits: bool = Field(
        default=True, description="Report measured value and limit in errors."
    )
    # Every security event (in measure mode: one per request) appended to this file, or "-"
    # for standard error, whatever the logging configuration: what `gqlguard report` reads.
    measure_log: str | None = None

    # Pre-parse limits
    max_characters: int | None = Field(default=15_000, ge=1)
    max_tokens: int | None = Field(default=1_000, ge=1)
    max_comments: int | None = Field(default=1_000, ge=0)
    # Units of pre-execution work one document may spend (gqlguard.work); None derives the
    # budget from max_tokens. It cannot be turned off: some budget always bounds a check.
    max_work: int | None = Field(default=None, ge=1)

    # Analysis limits
    max_depth: int | None = Field(default=10, ge=1)
    max_aliases: int | None = Field(default=15, ge=0)
    max_directives: int | None = Field(default=50, ge=0)
    max_fields: int | None = Field(default=2_000, ge=1)
    max_root_fields: int | None = Field(default=None, ge=1)
    max_operations: int | None = Field(default=20, ge=1)
    max_cost: float | None = Field(default=1_000, ge=0)
    # `both`: max_cost bounds the resolver runs (field_cost) *and* the objects produced
    # (type_cost), so a query for a million scalar-only objects is never cheap.
    cost_limit_applies_to: Literal["both", "field_cost", "type_cost"] = "both"
    # Per-limit rollout: these analysis limits are measured (a `measured` security event for
    # each request over them) but never refuse, while the others enforce — one protection
    # at a time, as graphql-armor's plugins roll out. `mode = "measure"` does it for all.
    measure_limits: tuple[str, ...] = ()
    # Persisted operations (of persisted_manifest) the analysis limits measure but never
    # refuse, by operation name or by id; held as the sha256 of each text, so a client's
    # operation name alone exempts nothing (gqlguard.exemptions).
    exempt_operations: tuple[str, ...] = ()
    exempt_persisted_ids: tuple[str, ...] = ()

    # Cost model
    cost_weights: dict[str, float] = Field(default_factory=dict)
    default_list_size: int = Field(default=10, ge=0)
    max_list_size: int | None = Field(default=None, ge=0)
    # A requested page above max_list_size is refused unless the operator says the resolvers
    # themselves clamp to it: a clamp nobody enforces would make the estimate lower than what runs.
    reject_list_size_above_max: bool = True
    pagination_arguments: tuple[str, ...] = ("first", "last", "limit")
    mutation_cost: float = Field(default=10, ge=0)
    report_cost: bool = True

    # Memory: the guard's caches of parsed, validated and analysed documents hold at most about
    # this many bytes (estimated from the text: a parsed document costs ~125 bytes per
    # character), whatever the traffic; a rejected document is never kept.
    cache_max_bytes: int = Field(default=32_000_000, ge=0)
    # Refusals that depend on the text alone, remembered by hash (gqlguard.rejections), so a
    # replayed expensive document is refused without being checked again.
    rejection_cache_max_bytes: int = Field(default=1_000_000, ge=0)
    # Async doors check a text longer than this that the guard has not seen on one worker
    # thread, one check at a time per client, so the event loop keeps serving everyone else
    # (gqlguard.offload); None checks every text on the loop.
    offload_characters: int | None = Field(default=1_000, ge=0)

    # Transport
    max_batch: int | None = Field(default=5, ge=0)
    batching: bool = True
    max_body_bytes: int = Field(default=100_000, ge=1)
    batch_cost: Literal["sum", "each"] = Field(
        default="sum", description="`sum`: a batch's summed estimated cost counts against max_cost."
    )
    # CSRF prevention (Apollo Server 4's rule): a request without a preflight-forcing
    # Content-Type must carry one of these headers, non-empty.
    csrf_prevention: bool = True
    # WebSocket handshakes: origins allowed besides the server's own (same-origin by
    # default; "*" allows any). See gqlguard.origins.
    websocket_origins: tuple[str, ...] = ()
    # Per WebSocket connection (create_app): operations in flight at once, and the seconds a
    # client has to send connection_init (graphql-ws's own servers wait 3).
    websocket_max_operations: int = Field(default=20, ge=1)
    websocket_init_timeout: float = Field(default=10, gt=0, le=600)
    csrf_required_headers: tuple[str, ...] = Field(
        default=("x-apollo-operation-name", "apollo-require-preflight"), min_length=1
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="Peers whose X-Forwarded-For names the client (budget key)."
    )

    # Cost budget per client (token bucket); off unless budget_capacity is set
    budget_capacity: float | None = Field(default=None, gt=0)
    budget_restore_rate: float = Field(default=10, ge=0)
    budget_store: Literal["memory", "redis"] = "memory"
    budget_on_store_error: Literal["closed", "open"] = "closed"
    # Points a rejected request draws (at least a cheap query's cost), so a client flooding
    # hostile documents is throttled like one flooding expensive ones.
    budget_rejection_charge: float = Field(default=10, ge=0)
    budget_key_prefix: str = "gqlguard:budget:"
    redis_url: str = Field(
        default_factory=lambda: os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )

    # Reconnaissance
    introspection: IntrospectionPolicy = "off"
    introspection_scopes: tuple[str, ...] = ()
    # `__schema`/`__type` subtrees: graphql-core's standard introspection query is depth 15,
    # field cost 14,966 at the default list size; twice that is refused.
    max_introspection_depth: int | None = Field(default=15, ge=0)
    max_introspection_cost: float | None = Field(default=20_000, ge=0)
    mask_errors: bool = True
    max_errors: int = Field(default=5, ge=1)

    # Authorization (@authenticated / @requiresScopes) and JWT principals
    authorization_mode: AuthorizationMode = "filter"
    hide_unauthorized_fields: bool = False
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = Field(
        default=None, description="PEM text or a path to a PEM file."
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="https:// URL or a path to a JWKS file."
    )
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_algorithms: tuple[str, ...] | None = Field(
        default=None, description="Default: HS256 with a secret, RS256 and ES256 with public keys."
    )
    jwt_leeway: float = Field(default=10, ge=0, le=300)
    jwt_scope_claim: str = "scope"

    # Persisted queries: off | apq | safelist | log_unknown (see gqlguard.persisted)
    persisted_mode: PersistedMode = "off"
    persisted_manifest: str | None = Field(
        default=None, description="Path of an Apollo persisted-query manifest: the safelist."
    )
    persisted_store: Literal["memory", "redis"] = "memory"
    persisted_key_prefix: str = "gqlguard:pq:"
    persisted_apq_ttl: int = Field(default=86_400, ge=1, description="Seconds an APQ entry lives.")
    # Cache-Control for successful GETs of persisted queries sent without credentials, e.g.
    # "public, max-age=300": lets a CDN serve them (what useGETForHashedQueries is for). Off:
    # every response stays no-store, errors and credentialed requests always do.
    persisted_get_cache_control: str | None = None
    # `gqlguard manifest`: bodies as Apollo Client 4 sends them (`__typename` added below the
    # root), so ids match Apollo's generator; false for clients that send documents untouched.
    manifest_add_typename: bool = True
    persisted_apq_max_entries: int = Field(default=1_000, ge=0, description="In-memory APQ store.")
    persisted_apq_max_bytes: int = Field(
        default=4_000_000, ge=0, description="In-memory APQ store: total characters of its bodies."
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

    @model_validator(mode="after")
    def _measure_limits_are_limits(self) -> GuardConfig:
        known = _MEASURABLE_LIMITS
        unknown = sorted(set(self.measure_limits) - known)
        if unknown:  # a typo would leave the limit enforcing (or, worse, silently measured)
            raise ValueError(
                f"measure_limits: {', '.join(unknown)} not a limit "
                f"(one of {', '.join(sorted(known))})"
            )
        return self

    @model_validator(mode="after")
    def _exemptions_name_persisted_operations(self) -> GuardConfig:
        if (self.exempt_operations or self.exempt_persisted_ids) and not self.persisted_manifest:
            raise ValueError(
                "exempt_operations and exempt_persisted_ids name operations of "
                "persisted_manifest, which is unset"
            )
        return self

    @model_validator(mode="after")
    def _safelist_has_a_list(self) -> GuardConfig:
        if (
            self.persisted_mode == "safelist"
            and self.persisted_store == "memory"
            and not self.persisted_manifest
        ):
            # A safelist with nothing in it would refuse every request, silently.
            raise ValueError("persisted_mode 'safelist' needs persisted_manifest (or Redis)")
        return self

    @field_validator(
        "pagination_arguments",
        "measure_limits",
        "exempt_operations",
        "exempt_persisted_ids",
        "introspection_scopes",
        "jwt_algorithms",
        "trusted_proxies",
        "csrf_required_headers",
        "websocket_origins",
        mode="before",
    )
    @classmethod
    def _split_comma_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cost_weights", mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError('expected a JSON object, e.g. {"Query.search": 10}') from None

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads true as 1: `max_depth = true` would be a limit of one level.
        if isinstance(value, bool) and info.field_name in _NUMERIC_SETTINGS:
            raise ValueError("expected a number, not a boolean")
        return value

    @field_validator(*OPTIONAL_LIMITS, mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        # One spelling turns an optional limit off, in the environment and in TOML alike.
        return None if isinstance(value, str) and value.strip().lower() == OFF else value

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: Any, init_settings: Any, env_settings: Any, *_: Any, **__: Any
    ) -> tuple[Any, ...]:
        # __init__ merges the file, the environment and the keywords itself; dotenv and
        # secret files are not read.
        return (init_settings,)


# Settings whose value is a number (a boolean there is a mistake, never 0 or 1).
_NUMERIC_SETTINGS = frozenset(
    name
    for name, info in GuardConfig.model_fields.items()
    if info.annotation in (int, float, int | None, float | None)
)

_defaults: list[GuardConfig] = []


def default_config() -> GuardConfig:
    """``GuardConfig()`` (the environment applied), built once per process: reading the
    environment costs more than analysing a typical document."""
    if not _defaults:
        _defaults.append(GuardConfig())
    return _defaults[0]


def _read_toml_table(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("gqlguard", {})
    else:
        table = data.get("tool", {}).get("gqlguard", data)
    for key in table:
        if key not in GuardConfig.model_fields and key not in _TOOL_KEYS:
            raise ConfigError(f"[tool.gqlguard] in {path}: unknown key {key!r}{_nearest(key)}")
    return {key: value for key, value in table.items() if key in GuardConfig.model_fields}


def _nearest(name: str) -> str:
    close = difflib.get_close_matches(name.lower(), list(GuardConfig.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse ``GQLGUARD_*`` variables that name no setting: a typo must not leave the limit
    its author meant to set at its default."""
    environ = os.environ if environ is None else environ
    for variable in environ:
        if not variable.upper().startswith("GQLGUARD_"):
            continue
        name = variable[len("GQLGUARD_") :].lower()
        if name not in GuardConfig.model_fields:
            close = difflib.get_close_matches(name, list(GuardConfig.model_fields), n=1)
            hint = f" (did you mean GQLGUARD_{close[0].upper()}?)" if close else ""
            raise ConfigError(f"unknown environment variable {variable}{hint}")


def explain(
    error: ValidationError,
    file_values: Mapping[str, Any] | None = None,
    keywords: Mapping[str, Any] | None = None,
) -> ConfigError:
    """One line for pydantic's report: the variable or key, the value, what is expected."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    variable = f"GQLGUARD_{field.upper()}"
    if field and keywords is not None and field in keywords:
        where = f"{field}={keywords[field]!r}"
    elif field and variable in {key.upper() for key in os.environ}:
        value = next(v for k, v in os.environ.items() if k.upper() == variable)
        where = f"{variable}={value!r}"
    elif field and file_values is not None and field in file_values:
        where = f"[tool.gqlguard] {field} = {file_values[field]!r}"
    elif field:
        where = f"{field}={first.get('input')!r}"
    else:
        where = "configuration"
    expected = first["msg"].removeprefix("Value error, ")
    if field in OPTIONAL_LIMITS:
        expected += f" (or {OFF!r} to turn it off)"
    return ConfigError(f"{where}: {expected}")


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> GuardConfig:
    """``GuardConfig(**overrides)`` with its file named: ``path`` (a pyproject.toml's
    ``[tool.gqlguard]``, or a TOML file of settings) instead of ./pyproject.toml.

    A path that does not exist is a :class:`ConfigError`, as every other mistake is.
    """
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"configuration file not found: {path}")
    token = _CONFIG_FILE.set(Path(path) if path is not None else None)
    try:
        return GuardConfig(**overrides)
    finally:
        _CONFIG_FILE.reset(token)


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _or_off(value: float | None) -> str:
    return "off" if value is None else str(_plain(value))


def protections_summary(config: GuardConfig, *, guarded: bool = True) -> str:
    """One line saying which protections are on, logged when a pipeline starts."""
    if not guarded:
        return "transport only: the schema has no GuardExtension, no limit is enforced"
    limits = " ".join(
        f"{name.removeprefix('max_')}={_or_off(getattr(config, name))}"
        for name in (
            "max_depth",
            "max_aliases",
            "max_directives",
            "max_fields",
            "max_tokens",
            "max_characters",
            "max_cost",
            "max_batch",
        )
    )
    budget = (
        f"{_plain(config.budget_capacity)}@{_plain(config.budget_restore_rate)}/s"
        f" ({config.budget_store})"
        if config.budget_capacity is not None
        else "off"
    )
    jwt = "on" if (config.jwt_secret or config.jwt_public_key or config.jwt_jwks_url) else "off"
    return (
        f"mode={config.mode} {limits} cost_on={config.cost_limit_applies_to} "
        f"introspection={config.introspection} mask_errors={config.mask_errors} "
        f"csrf={'on' if config.csrf_prevention else 'off'} persisted={config.persisted_mode} "
        f"budget={budget} jwt={jwt} authorization={config.authorization_mode}"
    )
