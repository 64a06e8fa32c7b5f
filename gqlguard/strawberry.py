"""Strawberry adapter: the one-line extension and the code-first schema directives.

    schema = strawberry.Schema(query=Query, extensions=[GuardExtension(GuardConfig())])

``GuardExtension`` is a factory: Strawberry asks it for a fresh extension per request, while
the :class:`~gqlguard.guard.Guard` (its caches, its analyzer) is built once, on the first
request, and shared. The extension runs the whole guard in ``on_parse`` and hands Strawberry
the parsed, validated document, so Strawberry neither parses nor validates again (and never
with suggestions).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLResolveInfo

from .extras import missing

try:
    import strawberry
    from strawberry.extensions import SchemaExtension
    from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
    from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
    from strawberry.schema_directive import Location
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise missing("strawberry", "gqlguard.strawberry") from error

from .analysis import plain_number
from .authorization import ALLOWED, UNAUTHORIZED_MESSAGE, Principal
from .config import GuardConfig
from .csrf import CsrfPrevention
from .errors import ErrorCode
from .events import facts_of, security_event
from .guard import Guard, IntrospectionHook, Verdict
from .masking import mask_execution_errors
from .persisted import NO_CACHE_HEADERS, Lookup, PersistedQueries, PersistedQueryError

__all__ = ["Authenticated", "Cost", "GuardExtension", "ListSize", "RequiresScopes"]


@strawberry.schema_directive(
    name="cost",
    locations=[
        Location.FIELD_DEFINITION,
        Location.ARGUMENT_DEFINITION,
        Location.INPUT_FIELD_DEFINITION,
        Location.OBJECT,
        Location.SCALAR,
        Location.ENUM,
        Location.INTERFACE,
        Location.UNION,
    ],
)
class Cost:
    weight: float

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "cost", {"weight": self.weight}


@strawberry.schema_directive(name="listSize", locations=[Location.FIELD_DEFINITION])
class ListSize:
    assumed_size: int | None = None
    slicing_arguments: list[str] | None = None
    sized_fields: list[str] | None = None
    require_one_slicing_argument: bool = True

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "listSize", {
            "assumedSize": self.assumed_size,
            "slicingArguments": self.slicing_arguments,
            "sizedFields": self.sized_fields,
            "requireOneSlicingArgument": self.require_one_slicing_argument,
        }


_AUTH_LOCATIONS = [
    Location.FIELD_DEFINITION,
    Location.OBJECT,
    Location.INTERFACE,
    Location.SCALAR,
    Location.ENUM,
]


@strawberry.schema_directive(name="authenticated", locations=_AUTH_LOCATIONS)
class Authenticated:
    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "authenticated", {}


@strawberry.schema_directive(name="requiresScopes", locations=_AUTH_LOCATIONS)
class RequiresScopes:
    scopes: list[list[str]]

    def gqlguard_directive(self) -> tuple[str, dict[str, Any]]:
        return "requiresScopes", {"scopes": [list(group) for group in self.scopes]}


class _ExpectedRejections(logging.Filter):
    """Drops Strawberry's error log records for the guard's own coded answers: a rejection is
    an expected event, logged once (as one JSON line) by gqlguard, never as a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if isinstance(error, GraphQLError):
            code = (error.extensions or {}).get("code")
            return not (code in _EXPECTED_CODES or code == _DENIED_MARKER)
        return True


_EXPECTED_CODES = frozenset(code.value for code in ErrorCode) - {
    ErrorCode.INTERNAL_SERVER_ERROR.value
}
_STRAWBERRY_FILTER = _ExpectedRejections()


class GuardExtension:
    """Factory handed to ``strawberry.Schema(extensions=[...])``; shares one Guard."""

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        introspection_allowed: IntrospectionHook | None = None,
        on_verdict: Callable[[Verdict, Any], None] | None = None,
        principal_of: Callable[[Any], Principal | None] | None = None,
    ) -> None:
        self.config = config if config is not None else GuardConfig()
        strawberry_log = logging.getLogger("strawberry.execution")
        if _STRAWBERRY_FILTER not in strawberry_log.filters:
            strawberry_log.addFilter(_STRAWBERRY_FILTER)
        self.introspection_allowed = introspection_allowed
        self.on_verdict = on_verdict
        self.principal_of = principal_of if principal_of is not None else principal_in_context
        self._guard: Guard | None = None
        self._lock = threading.Lock()
        self.csrf = (
            CsrfPrevention(self.config.csrf_required_headers)
            if self.config.csrf_prevention
            else None
        )
        # Built now, so an unusable manifest stops the server at start, not at a request.
        self.persisted = (
            PersistedQueries(self.config) if self.config.persisted_mode != "off" else None
        )

    def __call__(self) -> SchemaExtension:
        if self.persisted is not None:
            return _PersistedGuardSchemaExtension(self)
        return _GuardSchemaExtension(self)

    def guard_for(self, schema: Any, rules: tuple[Any, ...]) -> Guard:
        guard = self._guard
        if guard is None:
            with self._lock:
                guard = self._guard
                if guard is None:
                    guard = self._guard = Guard(
                        schema,
                        self.config,
                        validation_rules=(
                            *rules,
                            MaybeNullValidationRule,
                            OneOfInputValidationRule,
                        ),
                        introspection_allowed=self.introspection_allowed,
                    )
        return guard


_DENIED_MARKER = "_GQLGUARD_DENIED"
# An adapter that already checked the request (the Starlette app, to charge a budget before
# execution) leaves (query, operation name, verdict) under this context key.
VERDICT_KEY = "gqlguard_verdict"
_HIDING = frozenset({"__Type", "__Schema"})


class GuardRejectedError(GraphQLError):
    """The error Strawberry reports when the guard rejects a document it could not parse."""


class _GuardSchemaExtension(SchemaExtension):
    def __init__(self, factory: GuardExtension) -> None:
        super().__init__()
        self.factory = factory
        self.verdict: Verdict | None = None
        self.principal = Principal.anonymous()
        self.denied: frozenset[Any] = frozenset()
        self.hidden_introspection = False
        self.lookup: Lookup | None = None

    def _implements_resolve(self) -> bool:  # type: ignore[override]
        # Strawberry asks each extension instance, before parsing, whether to install its
        # ``resolve`` hook as field middleware for this request. The hook only enforces
        # filter-mode denials and hides introspection fields; when an adapter has already
        # checked the request and neither applies, leaving it out saves a call per field.
        # Without an adapter's verdict the hook stays: the check runs later, in on_parse.
        context = self.execution_context
        verdict = _checked_by_adapter(context.context, context.query, context.operation_name)
        return verdict is None or self._enforces_while_resolving(verdict)

    def _enforces_while_resolving(self, verdict: Verdict) -> bool:
        denies = not verdict.authorization.allowed
        return (denies and self.factory.config.authorization_mode == "filter") or (
            self._hides_introspection(verdict)
        )

    def _hides_introspection(self, verdict: Verdict | None) -> bool:
        """Whether introspection answers must drop what this principal may not see."""
        analysis = verdict.analysis if verdict is not None else None
        guard = self.factory._guard
        return bool(
            self.factory.config.hide_unauthorized_fields
            and analysis is not None
            and analysis.introspection
            and guard is not None
            and guard.authorizer.has_rules
        )

    def on_operation(self) -> Iterator[None]:
        self._refuse_cross_site()
        self._refuse_persisted_query()
        yield None

    def _refuse_persisted_query(self) -> None:
        # persisted_mode="off": an APQ client sending only a hash must hear "not supported"
        # (200, as Apollo Server answers) to fall back to sending its query — not Strawberry's
        # 400 text/plain "No GraphQL query found", which makes it give up.
        context = self.execution_context
        extensions = context.operation_extensions
        if (
            context.query is None
            and isinstance(extensions, dict)
            and extensions.get("persistedQuery")
        ):
            refused = PersistedQueryError(ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED)
            _answer_with(context.context, refused.status, NO_CACHE_HEADERS)
            raise GuardRejectedError(refused.error.message, extensions=refused.error.extensions())

    def _refuse_cross_site(self) -> None:
        # Under Strawberry's own HTTP views the request is in the context; without one
        # (schema.execute called directly) there is no browser to forge anything.
        csrf = self.factory.csrf
        if csrf is None:
            return
        context = self.execution_context.context
        request = context.get("request") if isinstance(context, dict) else None
        request = request if request is not None else getattr(context, "request", None)
        headers = getattr(request, "headers", None)
        if headers is None:
            return
        refused = csrf.violation(headers)
        if refused is not None:
            _answer_with(context, 400, {})
            raise GuardRejectedError(refused.message, extensions=refused.extensions())

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None:
            guard = self.factory.guard_for(context.schema, context.validation_rules)
            self.principal = self._principal(context.context)
            verdict = _checked_by_adapter(context.context, context.query, context.operation_name)
            if verdict is None:
                verdict = guard.check(
                    context.query or "",
                    context.variables,
                    context.operation_name,
                    context=context.context,
                    principal=self.principal,
                    document_id=self.lookup.document_id if self.lookup is not None else None,
                )
            self.verdict = verdict
            if self.factory.on_verdict is not None:
                self.factory.on_verdict(verdict, context.context)
            if not verdict.accepted and verdict.analysis is None:
                first = verdict.errors[0]
                raise GuardRejectedError(
                    first.message, extensions=first.extensions(verdict.expose_limits)
                )
            context.graphql_document = verdict.document
            # An empty list tells Strawberry validation already ran (with our rules).
            context.pre_execution_errors = verdict.graphql_errors()
        yield None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        verdict = self.verdict
        decision = verdict.authorization if verdict is not None else ALLOWED
        mode = self.factory.config.authorization_mode
        if not decision.allowed and mode == "filter":
            if decision.nothing_left:
                # Nothing is left to run: answer without executing anything at all.
                context.result = GraphQLExecutionResult(data=decision.empty_data(), errors=[])
            else:
                self.denied = decision.denied
        self.hidden_introspection = self._hides_introspection(verdict)
        yield None
        result = context.result
        if result is None:
            return
        errors = [
            error
            for error in (getattr(result, "errors", None) or ())
            if (error.extensions or {}).get("code") != _DENIED_MARKER
        ]
        if not decision.allowed and mode == "filter":
            errors.extend(error.to_graphql_error() for error in decision.errors())
        if errors or getattr(result, "errors", None):
            result.errors = (
                mask_execution_errors(errors, self.factory.config, _request_id(context.context))
                or None
            )

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        denied = self.denied
        if denied and info.field_nodes[0] in denied:
            # graphql-core turns this into null (bubbling through non-null as the spec
            # says); on_execute swaps it for one error per removed path.
            raise GraphQLError(UNAUTHORIZED_MESSAGE, extensions={"code": _DENIED_MARKER})
        if self.hidden_introspection and info.parent_type.name in _HIDING:
            return self._hide(_next(root, info, *args, **kwargs), root, info)
        return _next(root, info, *args, **kwargs)

    def _hide(self, value: Any, root: Any, info: GraphQLResolveInfo[Any]) -> Any:
        guard = self.factory._guard
        if guard is None or value is None:
            return value
        authorizer = guard.authorizer
        principal = self.principal
        if info.parent_type.name == "__Type" and info.field_name == "fields":
            return [
                (name, field)
                for name, field in value
                if all(rule.allows(principal) for rule in authorizer.rules_for(root, name))
            ]
        if info.parent_type.name == "__Schema" and info.field_name == "types":
            return [t for t in value if authorizer.type_allows(t, principal)]
        if info.parent_type.name == "__Type" and info.field_name == "possibleTypes":
            return [t for t in value if authorizer.type_allows(t, principal)]
        return value

    def _principal(self, context: Any) -> Principal:
        try:
            principal = self.factory.principal_of(context)
        except Exception:  # a failing hook must not become a privileged request
            logging.getLogger("gqlguard.execution").exception("principal hook failed")
            security_event("principal_hook_failed", (), facts_of(context))
            return Principal.anonymous()
        return principal if isinstance(principal, Principal) else Principal.anonymous()

    def get_results(self) -> dict[str, Any]:
        verdict = self.verdict
        results: dict[str, Any] = {}
        if verdict is None or verdict.analysis is None:
            return results
        decision = verdict.authorization
        if not decision.allowed and self.factory.config.authorization_mode == "dry_run":
            results["authorization"] = {
                "dryRun": True,
                "wouldDeny": [list(path) for path in decision.paths],
            }
        if not self.factory.config.report_cost:
            return results
        analysis = verdict.analysis
        result = getattr(self.execution_context, "result", None)
        data = getattr(result, "data", None)
        actual = 0.0
        if data is not None and verdict.document is not None and verdict.accepted:
            guard = self.factory.guard_for(self.execution_context.schema, ())
            actual = guard.actual_cost(verdict.document, analysis.operation_name, data)
        return {
            **results,
            "cost": {
                "requestedQueryCost": plain_number(analysis.field_cost),
                "actualQueryCost": plain_number(actual),
                "maximumAvailable": plain_number(self.factory.config.max_cost)
                if self.factory.config.max_cost is not None
                else None,
            },
        }


class _PersistedGuardSchemaExtension(_GuardSchemaExtension):
    """Adds the persisted-query stage (APQ via ``extensions.persistedQuery``) for Strawberry's
    own HTTP integrations. Its hook is async: with persisted queries on, execute with
    ``schema.execute`` (every ASGI integration does), not ``execute_sync``."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        self._refuse_cross_site()
        context = self.execution_context
        persisted = self.factory.persisted
        adapter = _checked_by_adapter(context.context, context.query, context.operation_name)
        if persisted is not None and adapter is None:
            try:
                self.lookup = await persisted.lookup(
                    context.query,
                    context.operation_extensions,
                    context=context.context if isinstance(context.context, dict) else None,
                )
            except PersistedQueryError as refused:
                _answer_with(context.context, refused.status, NO_CACHE_HEADERS)
                raise GuardRejectedError(
                    refused.error.message, extensions=refused.error.extensions()
                ) from None
            context.query = self.lookup.query
        yield None
        verdict = self.verdict
        if persisted and self.lookup and verdict is not None and verdict.accepted:
            await persisted.register(self.lookup)


def _answer_with(context: Any, status: int, headers: dict[str, str]) -> None:
    # Strawberry's HTTP views put a sub-response in the context; its status and headers
    # reach the client.
    response = context.get("response") if isinstance(context, dict) else None
    response = response if response is not None else getattr(context, "response", None)
    target = getattr(response, "headers", None)
    if target is not None:
        for name, value in headers.items():
            target[name] = value
    if response is not None and hasattr(response, "status_code"):
        response.status_code = status


def _checked_by_adapter(context: Any, query: str | None, operation: str | None) -> Verdict | None:
    found = context.get(VERDICT_KEY) if isinstance(context, dict) else None
    if isinstance(found, tuple) and len(found) == 3 and found[:2] == (query, operation):
        verdict = found[2]
        return verdict if isinstance(verdict, Verdict) else None
    return None


def principal_in_context(context: Any) -> Principal | None:
    """The default principal hook: ``context["principal"]`` or ``context.principal``."""
    if isinstance(context, dict):
        found = context.get("principal")
    else:
        found = getattr(context, "principal", None)
    return found if isinstance(found, Principal) else None


def _request_id(context: Any) -> str | None:
    value = context.get("request_id") if isinstance(context, dict) else None
    if value is None:
        value = getattr(context, "request_id", None)
    return value if isinstance(value, str) else None
