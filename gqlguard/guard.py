"""The framework-free core: one pipeline from query text to a verdict, cheapest check first.

    rejection memory -> pre-parse limits -> operation selection -> analysis pass
    -> policies -> limits -> introspection -> graphql-core validation on the document as
    sent (suggestions hidden) -> variables -> authorization

No schema oracle: a document naming a field the schema does not have (or, for this
principal, one it may not use) is never answered by a limit, which would tell that the name
exists and what it weighs; it is answered by validation (or by authorization) instead.
Documents that name only what the principal may use keep the cheapest-check-first order.

One work meter (:mod:`gqlguard.work`) is charged by every stage that reads a new document —
the tokens scanned, the selections the analysis visits, the field-merge comparisons of
graphql-core's validation — so what a check costs is bounded by a budget derived from the
limits, whatever the document's shape.

Every adapter (graphql-core rules, the Strawberry extension, the Starlette app) calls
:meth:`Guard.check`. Parsed documents, their validation result and their variable-free
analysis are cached by query text, so a repeated query pays only for what its variables
change.

>>> from graphql import build_schema
>>> schema = build_schema("type Query { a: A } type A { b: Int }")
>>> guard = Guard(schema, GuardConfig(max_depth=1))
>>> guard.check("{ __typename }").accepted
True
>>> [error.code.value for error in guard.check("{ a { b } }").errors]
['DEPTH_LIMIT_EXCEEDED']
>>> [error.code.value for error in guard.check("{ a { c } }").errors]  # c: no such field
['GRAPHQL_VALIDATION_FAILED']
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    specified_rules,
    visit,
)
from graphql.execution.values import get_variable_values

from . import telemetry
from .analysis import Analysis, Analyzer, plain_number
from .authorization import ALLOWED, UNAUTHORIZED_MESSAGE, Authorizer, Decision, Principal
from .config import ConfigError, GuardConfig
from .document_cache import (
    NOT_GIVEN,
    CacheKey,
    DocumentCache,
    PreparedDocument,
    Variant,
    cache_key,
    same_value,
)
from .errors import ErrorCode, GuardError
from .events import EventFile, facts_of, security_event
from .exemptions import Exemptions
from .limits import early_stop, exceeded_limits, limited_costs
from .manifest import sha256_hex
from .masking import MASKED_VARIABLES_MESSAGE, names_in, redact_unsent_names
from .object_rules import ObjectRule, ObjectRules
from .parsing import GuardRejection
from .policies import Policies, PolicyEvaluation, PolicyFunction, PolicyRequest
from .rejections import RejectionMemory
from .response_cost import ResponsePlans
from .schema_view import SchemaViews, View
from .validation import validate_as_sent
from .work import WorkMeter, work_budget

__all__ = ["CheckCallback", "Guard", "Verdict", "graphql_schema_of", "request_shape_error"]


MASKED_VALIDATION_MESSAGE = "The query is not valid for this API."
IntrospectionHook = Callable[[Any], bool]


def graphql_schema_of(schema: Any) -> GraphQLSchema:
    """Accept a graphql-core schema or anything wrapping one (a ``strawberry.Schema``, a
    ``graphene.Schema``)."""
    if isinstance(schema, GraphQLSchema):
        return schema
    for attribute in ("_schema", "graphql_schema"):
        inner = getattr(schema, attribute, None)
        if isinstance(inner, GraphQLSchema):
            return inner
    raise TypeError("expected a graphql-core GraphQLSchema or a strawberry.Schema")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of :meth:`Guard.check`: accepted, or the errors to answer with."""

    errors: tuple[GuardError, ...]
    document: DocumentNode | None
    analysis: Analysis | None
    expose_limits: bool = True
    authorization: Decision = ALLOWED
    # Units of the work meter the document spent when it was first checked (gqlguard.work);
    # 0 for a refusal.
    work: int = 0
    # The named policies granted for this request (what enforcement decides with).
    policies: frozenset[str] = frozenset()
    # ``async`` policies the check needs and could not run: a driver that can wait runs
    # them (PolicyEvaluation.resolve) and checks again; until then the verdict refuses.
    pending_policies: frozenset[str] = frozenset()
    # Whether the operation selects a field whose results an object-level rule decides on.
    watches_objects: bool = False
    # A refusal because the document names what this principal's view of the schema hides:
    # a hash-only persisted request for it is answered as a miss (gqlguard.http).
    names_hidden: bool = False

    @property
    def accepted(self) -> bool:
        return not self.errors

    def formatted_errors(self) -> list[dict[str, Any]]:
        return [error.formatted(expose_limits=self.expose_limits) for error in self.errors]

    def graphql_errors(self) -> list[GraphQLError]:
        return [error.to_graphql_error(expose_limits=self.expose_limits) for error in self.errors]


# Guard(on_accept=, on_reject=): called with the final verdict and the request's context.
CheckCallback = Callable[[Verdict, Any], None]

_NOT_SUPPORTED = GuardError(ErrorCode.GRAPHQL_VALIDATION_FAILED, "Operation type not supported.")


@dataclass(frozen=True, slots=True)
class _Checking:
    """One check's fixed facts, for the stages that may run out of the usual order."""

    prepared: PreparedDocument
    query: str
    rules: tuple[type[ASTValidationRule], ...]
    key: CacheKey
    full: Analysis  # the whole document's analysis, whoever asks
    view: View | None


def startup_settings(
    config: GuardConfig,
    on_accept: CheckCallback | None = None,
    on_reject: CheckCallback | None = None,
) -> tuple[Exemptions, EventFile | None]:
    """What a guard needs besides its schema, checked where the server starts (a Guard, and a
    ``GuardExtension`` before its guard exists): the exemptions (the manifest read), the
    ``measure_log`` opened, the callbacks synchronous. Each mistake is a ConfigError."""
    for callback in (on_accept, on_reject):
        if callback is not None and inspect.iscoroutinefunction(callback):
            raise ConfigError("on_accept and on_reject are called synchronously: not async")
    exemptions = Exemptions.from_config(config)
    if not config.measure_log:
        return exemptions, None
    try:
        return exemptions, EventFile.open(config.measure_log)
    except OSError as error:
        raise ConfigError(f"measure_log {config.measure_log!r}: {error.strerror}") from None


class Guard:
    """Checks operations against one schema and one configuration."""

    def __init__(
        self,
        schema: Any,
        config: GuardConfig | None = None,
        *,
        validation_rules: Sequence[type[ASTValidationRule]] | None = None,
        introspection_allowed: IntrospectionHook | None = None,
        document_cache_size: int = 1024,
        reveal_schema_names: bool = False,
        security_events: bool = True,
        policies: Mapping[str, PolicyFunction] | Policies | None = None,
        object_rules: Sequence[ObjectRule] = (),
        on_accept: CheckCallback | None = None,
        on_reject: CheckCallback | None = None,
    ) -> None:
        """``on_accept`` and ``on_reject`` are called with the verdict and the request's
        context once per operation checked, at every door, after the verdict is final (a
        raising callback is logged and changes nothing; they run on the checking thread, so
        keep them quick and never ``async``).

        ``reveal_schema_names`` and ``security_events=False`` are for build tools run by
        the schema's own developer (``gqlguard manifest``): unmasked messages keep every
        schema name, and no security event is logged for what is not a request.

        ``policies`` registers the functions behind the schema's ``@policy`` names (see
        :mod:`gqlguard.policies`); ``object_rules`` decide on resolved objects (see
        :mod:`gqlguard.object_rules`). A policy name without a function, or a rule on a type
        or field the schema does not have, raises :class:`gqlguard.config.ConfigError`."""
        self.schema = graphql_schema_of(schema)
        self.config = config if config is not None else GuardConfig()
        self.analyzer = Analyzer(
            self.schema,
            cost_weights=self.config.cost_weights,
            default_list_size=self.config.default_list_size,
            max_list_size=self.config.max_list_size,
            reject_list_size_above_max=self.config.reject_list_size_above_max,
            pagination_arguments=self.config.pagination_arguments,
            mutation_cost=self.config.mutation_cost,
        )
        self.validation_rules = tuple(
            validation_rules if validation_rules is not None else specified_rules
        )
        self.work_budget = work_budget(self.config)
        self.rejections = RejectionMemory(self.config.rejection_cache_max_bytes)
        self.introspection_allowed = introspection_allowed
        self.reveal_schema_names = reveal_schema_names
        self.security_events = security_events
        self.authorizer = Authorizer(self.schema)
        self.policies = policies if isinstance(policies, Policies) else Policies(policies or {})
        self.policies.require(self.authorizer.policy_names, "the schema")
        self.object_rules = ObjectRules(self.schema, object_rules, self.policies)
        # Held while this guard lives: the file its security events are appended to.
        self.exemptions, self.event_file = startup_settings(self.config, on_accept, on_reject)
        self.on_accept = on_accept
        self.on_reject = on_reject
        # Keys: the query text, or ("sha256", hex) for a verified persisted id — a tuple, so
        # no query text can ever name a persisted entry.
        self.documents = DocumentCache(
            document_cache_size, self.config.cache_max_bytes, self.work_budget
        )
        # Plans live as long as their document does (cached, or in a request still running).
        self._plans = ResponsePlans(self.analyzer)
        self._lock = threading.Lock()
        self._stop = early_stop(self.config)
        # With hide_unauthorized_fields: the schema as each kind of principal may know it.
        self.views = SchemaViews(self.schema, self.authorizer)

    # -- the pipeline --------------------------------------------------------------------

    def check(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        context: Any = None,
        principal: Principal | None = None,
        document_id: str | None = None,
        document_only: bool = False,
        spent: tuple[float, float] = (0.0, 0.0),
        validation_rules: Sequence[type[ASTValidationRule]] | None = None,
        parser_options: Mapping[str, Any] | None = None,
        policies: PolicyEvaluation | None = None,
        facts: Mapping[str, Any] | None = None,
        operation_types: Collection[str] | None = None,
    ) -> Verdict:
        """Run every static check on one operation; never raises for bad input.

        ``principal`` (default: anonymous) is checked against ``@authenticated`` and
        ``@requiresScopes`` after validation; the verdict's ``authorization`` says which
        fields the adapter must not resolve. ``document_id`` (a verified sha256 of
        ``query``, from the persisted-query stage) keys the document cache instead of the
        query text. ``document_only`` stops after validation: no variables are coerced and no
        principal is checked (what a build step, such as ``gqlguard manifest``, can know).
        ``spent`` is the (field, type) cost of the batch elements before this one: with
        ``batch_cost="sum"`` the running sum must fit ``max_cost``, checked before this
        element is validated. ``validation_rules`` and ``parser_options`` (graphql-core's
        ``parse`` keywords) replace the guard's for this call: a host such as Strawberry
        decides them per request (its own and the user's rules, its parse options); each
        combination has its own cached documents and remembered rejections. ``policies``
        is the request's policy evaluation (``guard.policies.evaluation(principal,
        request)``), shared by the operations of one request so each policy runs once; by
        default one is made for this call. A verdict with ``pending_policies`` refuses until
        a driver runs those ``async`` policies and checks again. ``facts`` (request id,
        principal, client) name the request in security events when the context cannot (a
        framework's own context); by default they are read from a dict context.
        ``operation_types``: the operation types the transport allows (a GET: ``query``);
        another is refused (``METHOD_NOT_ALLOWED``) before authorization is looked at, so
        the refusal is the request's one event.
        """
        started = time.perf_counter()
        logged = context if facts is None else facts
        verdict = self._check(
            query,
            variables,
            operation_name,
            context=logged,
            hook_context=context,
            principal=principal,
            document_id=document_id,
            document_only=document_only,
            spent=spent,
            rules=self.validation_rules if validation_rules is None else tuple(validation_rules),
            parser_options=dict(parser_options) if parser_options else {},
            policies=policies,
            operation_types=operation_types,
        )
        if not verdict.pending_policies:  # pending: not a verdict yet, checked again
            if self.config.mode == "measure" and verdict.analysis is not None:
                self._log_measurement(verdict, query, document_id, logged)
            self._notify(verdict, context)
        if telemetry.ENABLED:
            analysis = verdict.analysis
            telemetry.record_check(
                time.perf_counter() - started,
                [error.code.value for error in verdict.errors],
                analysis.field_cost if analysis is not None else None,
                analysis.depth if analysis is not None else None,
            )
        return verdict

    def _log_measurement(
        self, verdict: Verdict, query: str, document_id: str | None, context: Any
    ) -> None:
        """Measure mode: every analysed request, with what the check decided besides the
        limits (``refused``: validation, variables, authorization), so the calibration report
        can leave refused traffic out (gqlguard.report)."""
        analysis = verdict.analysis
        assert analysis is not None
        self._log(
            exceeded_limits(analysis, self.config, every=True),
            analysis,
            measured_only=True,
            context=context,
            recorded="every_request",
            refused=[error.code.value for error in verdict.errors],
            sha256=document_id if document_id is not None else sha256_hex(query),
        )

    def _notify(self, verdict: Verdict, context: Any) -> None:
        callback = self.on_accept if verdict.accepted else self.on_reject
        if callback is None:
            return
        try:
            callback(verdict, context)
        except Exception as error:  # the user's code: never the request's fate
            security_event(
                "check_callback_failed",
                (),
                facts_of(context),
                level=logging.ERROR,
                file=self.event_file,
                error=type(error).__name__,
            )

    def _check(
        self,
        query: str,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        *,
        context: Any,
        hook_context: Any,
        principal: Principal | None,
        document_id: str | None,
        document_only: bool,
        spent: tuple[float, float],
        rules: tuple[type[ASTValidationRule], ...],
        parser_options: dict[str, Any],
        policies: PolicyEvaluation | None,
        operation_types: Collection[str] | None = None,
    ) -> Verdict:
        config = self.config
        principal = principal if principal is not None else Principal.anonymous()
        malformed = request_shape_error(query, variables, operation_name)
        if malformed is not None:
            return self._verdict((malformed,), None, None, context=context)
        variant: Variant = ()
        if (
            rules is not self.validation_rules and rules != self.validation_rules
        ) or parser_options:
            variant = (rules, tuple(sorted(parser_options.items())))
        key = cache_key(query, document_id, variant)
        remembered = self.rejections.recall(key)
        if remembered is not None:
            return self._verdict(remembered, None, None, context=context)
        exempt = self.exemptions.covers(query, document_id)
        try:
            prepared = self.documents.prepared(query, key, parser_options, self.config)
            analysis = self._analysis(prepared, query, variables, operation_name, exempt=exempt)
        except GuardRejection as rejection:
            self.documents.forget(key)
            if rejection.error.code is not ErrorCode.BAD_REQUEST:
                # Remembered by the text alone: never the choice of the operation, which
                # the next request of the same text may make with a name.
                self.rejections.remember(key, (rejection.error,))
            return self._verdict((rejection.error,), None, None, context=context)
        evaluation = None
        if self.authorizer.policy_names and not document_only:
            # One per check at most: a repeat that finds no verdict asks the same one again.
            evaluation = policies or self.policies.evaluation(principal, PolicyRequest())
        if not (document_only or exempt or spent != (0.0, 0.0)):
            repeated = self._repeated(
                prepared,
                analysis,
                query,
                variables,
                principal,
                evaluation,
                operation_types,
                context=context,
            )
            if repeated is not None:
                return repeated
        granted: frozenset[str] = frozenset()
        if evaluation is not None:
            granted, pending = evaluation.granted(self._policies_needed(prepared, analysis))
            if pending:
                refused = GuardError(ErrorCode.UNAUTHORIZED_FIELD_OR_TYPE, UNAUTHORIZED_MESSAGE)
                return Verdict((refused,), None, None, pending_policies=pending)
            if principal.policies != granted:
                principal = replace(principal, policies=granted)
        # With hidden fields, the whole check runs against the schema as this principal may
        # know it (validation and coercion included): a hidden name is a misspelt one.
        view = (
            self._view_for(principal)
            if config.hide_unauthorized_fields and self.authorizer.has_rules and not document_only
            else None
        )
        checking = _Checking(prepared, query, rules, key, analysis, view)
        if view is not None and not analysis.problems:
            operation = prepared.operation(analysis.operation_name)
            if view.schema.get_root_type(operation.operation) is None:
                # No mutation this principal may run: the schema has none, as far as it can
                # tell (the analysis says this of an operation type the schema lacks).
                return self._verdict(
                    (_NOT_SUPPORTED,), prepared.document, analysis, context=context
                )
        if self._unusable_is_unknown and self.authorizer.has_rules and not document_only:
            analysis = self._as_seen_by(
                principal, prepared, analysis, query, variables, view, exempt=exempt
            )
        if analysis.problems:
            if analysis.unknown_names:  # a problem names a field: no oracle either
                answered = self._unknown_names_verdict(checking, analysis, principal, context)
                if answered is not None:
                    return answered
            self.documents.forget(key)
            return self._verdict(analysis.problems, prepared.document, analysis, context=context)
        if operation_types is not None and analysis.operation_type not in operation_types:
            refused = GuardError(ErrorCode.METHOD_NOT_ALLOWED, "Mutations need POST.")
            return self._verdict((refused,), prepared.document, analysis, context=context)
        if exempt:  # measured whole and logged, never refused by an analysis limit
            errors = []
            over = exceeded_limits(analysis, config, every=True)
            if over and config.mode == "enforce":
                self._log(over, analysis, measured_only=True, context=context, exempt=True)
        else:
            errors = exceeded_limits(analysis, config)
        if config.measure_limits and config.mode == "enforce" and not exempt:
            # Rolled out one at a time: over a measured limit is logged, never refused.
            rolling_out = exceeded_limits(analysis, config, measured=True)
            if rolling_out:
                self._log(rolling_out, analysis, measured_only=True, context=context)
        if analysis.introspection and not self._introspection_allowed(hook_context, principal):
            errors.append(
                GuardError(ErrorCode.INTROSPECTION_DISABLED, "Introspection is disabled.")
            )
        if not analysis.complete and not errors:  # never happens by design; fail closed
            errors.append(GuardError(ErrorCode.GRAPHQL_VALIDATION_FAILED, "Query not analysed."))
        if not errors and spent != (0.0, 0.0) and not exempt:
            errors.extend(batch_over_cost(analysis, spent, config))
        if errors and analysis.unknown_names and config.mode == "enforce":
            # A limit would tell that a name exists (and its weight): the answer is the one
            # a document naming only real, usable fields within every limit would get.
            answered = self._unknown_names_verdict(checking, analysis, principal, context)
            if answered is not None:
                return answered
        if errors and config.mode == "enforce":
            self.documents.forget(key)
            return self._verdict(tuple(errors), prepared.document, analysis, context=context)
        # Whether this check's outcome, if accepted, is the same for every request of this
        # operation by this kind of principal (bar variables and policies, which _repeated
        # runs again): nothing logged, nothing asked of a hook, nothing measured per request.
        settles = not (
            errors
            or exempt
            or document_only
            or view is not None
            or spent != (0.0, 0.0)
            or analysis.introspection
            or analysis.variable_dependent
            or checking.full.variable_dependent
            or (config.measure_limits and config.mode == "enforce")
        )
        validation = self._validate(checking, analysis)
        if validation:
            self._forget_unless_viewed(checking)
            if not self._hiding:  # with views, a refusal is one kind of principal's only
                self.rejections.remember(key, validation)
            return self._verdict(
                validation,
                prepared.document,
                analysis,
                context=context,
                names_hidden=self._names_hidden(checking, analysis),
            )
        document = prepared.document
        work = prepared.meter.spent
        if document_only:
            return Verdict((), document, analysis, config.expose_limits, work=work)
        coercion = self._coerce_variables(
            view.schema if view is not None else self.schema,
            prepared.operation(analysis.operation_name),
            query,
            variables,
        )
        if coercion:
            return self._verdict(coercion, document, analysis, context=context)
        decision = self._authorize(prepared, analysis, principal)
        if not decision.allowed:
            self._log_denial(decision, analysis, principal, context)
            if config.hide_unauthorized_fields:
                unknown = self._as_unknown(decision, document, query) or decision.errors()
                return self._verdict(unknown, document, analysis, context=context)
            if config.authorization_mode == "reject":
                return self._verdict(decision.errors(), document, analysis, context=context)
        watches = bool(self.object_rules) and not self._coordinates(prepared, analysis).isdisjoint(
            self.object_rules.selected_through
        )
        verdict = Verdict(
            (),
            document,
            analysis,
            config.expose_limits,
            decision,
            work,
            granted,
            frozenset(),
            watches,
        )
        if settles and decision.allowed:
            kind = (checking.full.operation_name, *self.authorizer.decision_key(principal))
            self.documents.keep_learnt(prepared, "accepted", kind, verdict)
        return verdict

    def _repeated(
        self,
        prepared: PreparedDocument,
        full: Analysis,
        query: str,
        variables: Mapping[str, Any] | None,
        principal: Principal,
        evaluation: PolicyEvaluation | None,
        operation_types: Collection[str] | None,
        *,
        context: Any,
    ) -> Verdict | None:
        """The verdict of an operation this kind of principal had accepted before (see
        ``PreparedDocument.accepted``; it holds no request's own facts), after asking the
        request's policies (``evaluation``, when the schema names any) and coercing its
        variables again — or the refusal of those variables, as the whole check answers it.
        None when there is none: the whole check runs."""
        accepted = prepared.accepted
        if accepted is None or full.variable_dependent:
            return None
        granted: frozenset[str] = frozenset()
        if evaluation is not None:
            granted, pending = evaluation.granted(self._policies_needed(prepared, full))
            if pending:
                return None
        kind = self.authorizer.decision_key(principal, granted)
        verdict = accepted.get((full.operation_name, *kind))
        if verdict is None:
            return None
        analysis = verdict.analysis
        assert analysis is not None
        if operation_types is not None and analysis.operation_type not in operation_types:
            return None
        operation = prepared.operation(analysis.operation_name)
        coercion = self._coerce_variables(self.schema, operation, query, variables)
        if coercion:
            return self._verdict(coercion, prepared.document, analysis, context=context)
        return verdict

    def schema_for(self, principal: Principal) -> GraphQLSchema:
        """The schema as ``principal`` may know it: with ``hide_unauthorized_fields``, its
        view (what it may not use left out); else the schema."""
        if not (self.config.hide_unauthorized_fields and self.authorizer.has_rules):
            return self.schema
        view = self._view_for(principal)
        return view.schema if view is not None else self.schema

    def _view_for(self, principal: Principal) -> View | None:
        return self.views.for_principal(principal)

    @property
    def _unusable_is_unknown(self) -> bool:
        """Whether a field the principal may not use is measured as a name that does not
        exist: always, but in ``dry_run`` without hiding (where it runs, and must count)."""
        config = self.config
        return config.hide_unauthorized_fields or config.authorization_mode != "dry_run"

    def _unknown_names_verdict(
        self, checking: _Checking, analysis: Analysis, principal: Principal, context: Any
    ) -> Verdict | None:
        """The verdict for a document over a limit (or with a problem) that names what the
        principal cannot know or use (see :meth:`_as_unknown_names`)."""
        answer = self._as_unknown_names(checking, analysis, principal)
        if answer is None:
            return None
        self._forget_unless_viewed(checking)
        return self._verdict(
            answer,
            checking.prepared.document,
            analysis,
            context=context,
            names_hidden=self._names_hidden(checking, analysis),
        )

    def _as_unknown_names(
        self, checking: _Checking, analysis: Analysis, principal: Principal
    ) -> tuple[GuardError, ...] | None:
        """The answer for a document over a limit (or with a problem) that names what the
        principal cannot know or use: validation's errors (remembered, as any); else, for
        names that exist but are denied, authorization's — as unknown names when hiding,
        else as ``reject`` answers (nothing of such a document runs); None when every name
        turned out usable."""
        validation = self._validate(checking, analysis)
        if validation:
            if not self._hiding:
                self.rejections.remember(checking.key, validation)
            return validation
        prepared = checking.prepared
        decision = self._authorize(prepared, analysis, principal)
        if decision.allowed:
            return None
        self._log_denial(decision, analysis, principal, None)
        if self.config.hide_unauthorized_fields:
            # Never an empty refusal: one with no error would read as accepted.
            unknown = self._as_unknown(decision, prepared.document, checking.query)
            return unknown or tuple(decision.errors())
        return tuple(decision.errors())

    def _policies_needed(self, prepared: PreparedDocument, analysis: Analysis) -> frozenset[str]:
        if self._hiding:
            # Every policy, whatever the document names: which policies ran must not tell
            # (by the time they take) which names exist. Introspection reads them all too.
            return self.authorizer.policy_names
        found = (prepared.policies_needed or {}).get(analysis.operation_name)
        if found is None:
            found = self.authorizer.policies_at(self._coordinates(prepared, analysis))
            self.documents.keep_learnt(prepared, "policies_needed", analysis.operation_name, found)
        return found

    def _coordinates(
        self, prepared: PreparedDocument, analysis: Analysis
    ) -> frozenset[tuple[str, str]]:
        found = (prepared.coordinates or {}).get(analysis.operation_name)
        if found is None:
            operation = prepared.operation(analysis.operation_name)
            found = self.authorizer.coordinates_in(prepared.document, operation)
            self.documents.keep_learnt(prepared, "coordinates", analysis.operation_name, found)
        return found

    def _as_seen_by(
        self,
        principal: Principal,
        prepared: PreparedDocument,
        analysis: Analysis,
        query: str,
        variables: Mapping[str, Any] | None,
        view: View | None,
        *,
        exempt: bool,
    ) -> Analysis:
        """The analysis of the document as this principal may know the schema (its view,
        when hiding) or use it: such a field measures like an unknown name, so no limit
        (cost above all) answers differently for `auditLog` than for `auditLogz`."""
        # Decided once per document and kind of principal (the decision authorization uses).
        hidden = (
            view.hidden
            if view is not None
            else frozenset(self._authorize(prepared, analysis, principal).fields)
        )
        if not hidden:
            return analysis
        key = (analysis.operation_name, *self.authorizer.decision_key(principal))
        found = (prepared.seen or {}).get(key)
        if found is not None:
            return found
        as_seen = self.analyzer.analyze(
            prepared.document,
            variables=variables,
            operation_name=analysis.operation_name,
            max_operations=self.config.max_operations,
            stop=None if exempt else self._stop,
            characters=len(query),
            tokens=prepared.tokens,
            comments=prepared.comments,
            hidden=hidden,
        )
        if as_seen.complete and not as_seen.variable_dependent:  # the same for every request
            self.documents.keep_learnt(prepared, "seen", key, as_seen)
        return as_seen

    def _authorize(
        self, prepared: PreparedDocument, analysis: Analysis, principal: Principal
    ) -> Decision:
        if not self.authorizer.has_rules:
            return ALLOWED
        key = (analysis.operation_name, *self.authorizer.decision_key(principal))
        decision = (prepared.decisions or {}).get(key)
        if decision is None:
            operation = prepared.operation(analysis.operation_name)
            decision = self.authorizer.decide(prepared.document, operation, principal)
            self.documents.keep_learnt(prepared, "decisions", key, decision)
        return decision

    def _as_unknown(
        self, decision: Decision, document: DocumentNode, query: str
    ) -> tuple[GuardError, ...]:
        # Exactly what graphql-core says of a field that does not exist — one error per
        # occurrence, at its location — masked and de-duplicated the same way.
        hidden = set(decision.fields)
        unknown: list[GraphQLError] = []
        type_info = TypeInfo(self.schema)

        class Occurrences(Visitor):
            def enter_field(self, node: FieldNode, *_: Any) -> None:
                parent = type_info.get_parent_type()
                if parent is not None and (parent.name, node.name.value) in hidden:
                    unknown.append(
                        GraphQLError(
                            f"Cannot query field '{node.name.value}' on type '{parent.name}'.",
                            node,
                        )
                    )

        visit(document, TypeInfoVisitor(type_info, Occurrences()))
        return self._client_errors(unknown, query, MASKED_VALIDATION_MESSAGE)

    def knows(self, query: str, document_id: str | None = None) -> bool:
        """Whether a check of ``query`` would be answered from what the guard holds (its
        parsed document, or a remembered refusal): a check that is short by construction."""
        key = cache_key(query, document_id)
        return self.documents.holds(key) or self.rejections.recall(key) is not None

    @property
    def cached_bytes(self) -> int:
        """What the document cache holds, as estimated against ``cache_max_bytes``."""
        return self.documents.bytes

    def actual_cost(self, document: DocumentNode, operation_name: str | None, data: Any) -> float:
        """The response (field) cost of ``data`` (see :mod:`gqlguard.response_cost`)."""
        return self.actual_costs(document, operation_name, data)[0]

    def actual_costs(
        self, document: DocumentNode, operation_name: str | None, data: Any
    ) -> tuple[float, float]:
        """The response's (field cost, type cost); the walk's plan is compiled once per
        cached document."""
        return self._plans.costs(document, operation_name, data)

    # -- stages --------------------------------------------------------------------------

    def _forget_unless_viewed(self, checking: _Checking) -> None:
        """With views, a refusal depends on the principal: the document stays cached (its
        refusal per view with it), so a replay is answered from the cache, as the rejection
        memory answers text-only refusals."""
        if not self._hiding:
            self.documents.forget(checking.key)

    @property
    def _hiding(self) -> bool:
        return self.config.hide_unauthorized_fields and self.authorizer.has_rules

    def _names_hidden(self, checking: _Checking, analysis: Analysis) -> bool:
        """Whether the document names what this principal's view hides."""
        view = checking.view
        if view is None:
            return False
        return not view.hidden.isdisjoint(self._coordinates(checking.prepared, analysis))

    def _analysis(
        self,
        prepared: PreparedDocument,
        query: str,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        *,
        exempt: bool = False,
    ) -> Analysis:
        # An exempt text is always exempt, so its cached analyses are all whole ones.
        statics = prepared.static_analyses
        if statics is not None and operation_name in statics:
            return statics[operation_name]
        provided = variables if isinstance(variables, Mapping) else {}
        remembered = (prepared.variable_analyses or {}).get(operation_name, [])
        for read, known in remembered:
            if all(same_value(provided.get(name, NOT_GIVEN), value) for name, value in read):
                return known
        analysis = self.analyzer.analyze(
            prepared.document,
            variables=variables,
            operation_name=operation_name,
            max_operations=self.config.max_operations,
            stop=None if exempt else self._stop,
            characters=len(query),
            tokens=prepared.tokens,
            comments=prepared.comments,
        )
        if not analysis.complete:
            return analysis
        if not analysis.variable_dependent:
            self.documents.keep_learnt(prepared, "static_analyses", operation_name, analysis)
            return analysis
        read = tuple((name, provided.get(name, NOT_GIVEN)) for name in analysis.variables_read)
        self.documents.keep_variable_analysis(prepared, operation_name, read, analysis)
        return analysis

    def _validate(self, checking: _Checking, analysis: Analysis) -> tuple[GuardError, ...]:
        """graphql-core's rules (suggestions hidden) on the document as sent, against the
        schema (or the principal's view of it); the analysis and the field-merge comparisons
        charged to the work meter (gqlguard.validation). Cached per document (and view)."""
        prepared, view = checking.prepared, checking.view
        if view is None:
            if prepared.validation is None:
                # The whole document's analysis, whoever asks: one count, one verdict. Two
                # checks of a new document at once (threads, the off-loop worker) each count
                # on a copy, so neither is charged the other's work; the first to finish
                # publishes both its count and its verdict.
                meter = prepared.meter.copy()
                validation = self._validated(self.schema, checking, meter, checking.full.work)
                with self._lock:
                    if prepared.validation is None:
                        prepared.meter, prepared.validation = meter, validation
            return prepared.validation
        found = (prepared.view_validations or {}).get(view.key)
        if found is None:
            # The work this kind of principal can cause: what it may know of the document.
            meter = WorkMeter(self.work_budget)
            meter.charge("tokens", prepared.tokens + prepared.comments)
            found = self._validated(view.schema, checking, meter, analysis.work)
            self.documents.keep_learnt(prepared, "view_validations", view.key, found)
        return found

    def _validated(
        self, schema: GraphQLSchema, checking: _Checking, meter: WorkMeter, analysis_work: int
    ) -> tuple[GuardError, ...]:
        max_errors = max(self.config.max_errors, 1) * 4
        try:
            meter.charge("analysis", analysis_work)
            graphql_errors = validate_as_sent(
                schema,
                checking.prepared.document,
                checking.rules,
                meter,
                max_errors=max_errors,
                hide_suggestions=True,
            )
        except GuardRejection as rejection:
            return (rejection.error,)
        return self._client_errors(graphql_errors, checking.query, MASKED_VALIDATION_MESSAGE)

    def _coerce_variables(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        query: str,
        variables: Mapping[str, Any] | None,
    ) -> tuple[GuardError, ...]:
        # Coercing here, before execution, is the one place suggestions can be turned off
        # for variable errors (unknown enum values, input fields) whatever runs the operation.
        if not operation.variable_definitions:
            return ()
        if variables is not None and not isinstance(variables, Mapping):
            return (GuardError(ErrorCode.BAD_REQUEST, "The variables must be an object."),)
        coerced = get_variable_values(
            schema,
            operation.variable_definitions,
            dict(variables or {}),
            max_errors=self.config.max_errors,
            hide_suggestions=True,
        )
        if not isinstance(coerced, list):
            return ()
        return self._client_errors(coerced, query, MASKED_VARIABLES_MESSAGE)

    def _client_errors(
        self, graphql_errors: Sequence[GraphQLError], query: str, masked_message: str
    ) -> tuple[GuardError, ...]:
        """graphql-core's errors as the client may see them: one generic error when masked,
        else de-duplicated, capped, and naming nothing the client did not write."""
        if not graphql_errors:
            return ()
        if self.config.mask_errors:
            return (GuardError(ErrorCode.GRAPHQL_VALIDATION_FAILED, masked_message),)
        sent = names_in(query)
        unique: dict[str, GuardError] = {}
        for graphql_error in graphql_errors:
            message = graphql_error.message
            if not self.reveal_schema_names:
                message = redact_unsent_names(message, sent)
            if message not in unique:
                locations = tuple(
                    (location.line, location.column) for location in graphql_error.locations or ()
                )
                unique[message] = GuardError(
                    ErrorCode.GRAPHQL_VALIDATION_FAILED, message, locations=locations
                )
            if len(unique) >= self.config.max_errors:
                break
        return tuple(unique.values())

    def _introspection_allowed(self, context: Any, principal: Principal) -> bool:
        policy = self.config.introspection
        if policy == "on":
            return True
        if policy == "scopes" and principal.scopes & set(self.config.introspection_scopes):
            return True
        if policy == "scopes" and self.introspection_allowed is not None:
            try:
                return bool(self.introspection_allowed(context))
            except Exception:  # any error while deciding means deny
                logging.getLogger("gqlguard.execution").exception("introspection hook failed")
                security_event(
                    "introspection_hook_failed", (), facts_of(context), file=self.event_file
                )
                return False
        return False

    # -- reporting -----------------------------------------------------------------------

    def _verdict(
        self,
        errors: Sequence[GuardError],
        document: DocumentNode | None,
        analysis: Analysis | None,
        *,
        context: Any = None,
        names_hidden: bool = False,
    ) -> Verdict:
        self._log(errors, analysis, measured_only=False, context=context)
        return Verdict(
            tuple(errors), document, analysis, self.config.expose_limits, names_hidden=names_hidden
        )

    def _log_denial(
        self, decision: Decision, analysis: Analysis, principal: Principal, context: Any
    ) -> None:
        if not self.security_events:
            return
        security_event(
            "unauthorized",
            [ErrorCode.UNAUTHORIZED_FIELD_OR_TYPE.value],
            {**facts_of(context), "principal": principal.subject},
            file=self.event_file,
            operation=analysis.operation_name,
            mode=self.config.authorization_mode,
            paths=[".".join(path) for path in decision.paths],
        )

    def _log(
        self,
        errors: Sequence[GuardError],
        analysis: Analysis | None,
        *,
        measured_only: bool,
        context: Any = None,
        exempt: bool = False,
        **extra: Any,
    ) -> None:
        if not self.security_events:
            return
        fields: dict[str, Any] = {"exempt": True} if exempt else {}
        if measured_only:
            # "every_request" (measure mode) samples the traffic; "over_limit" (a rolled-out
            # or exempt limit, in enforce mode) records only what was over one.
            fields["recorded"] = "over_limit"
        fields.update(extra)
        if measured_only and analysis is not None:
            fields["metrics"] = {
                "depth": analysis.depth,
                "aliases": analysis.aliases,
                "directives": analysis.directives,
                "fields": analysis.fields,
                "tokens": analysis.tokens,
                "field_cost": plain_number(analysis.field_cost),
                "type_cost": plain_number(analysis.type_cost),
            }
        security_event(
            "measured" if measured_only else "rejected",
            [error.code.value for error in errors],
            facts_of(context),
            # Within every limit, a measurement is routine (INFO); over one, a warning.
            level=logging.WARNING if errors or not measured_only else logging.INFO,
            file=self.event_file,
            operation=analysis.operation_name if analysis else None,
            measured={e.code.value: e.measured for e in errors if e.measured is not None},
            **fields,
        )


def batch_over_cost(
    analysis: Analysis, spent: tuple[float, float], config: GuardConfig
) -> list[GuardError]:
    """The batch's running cost (earlier elements plus this one) over ``max_cost``."""
    if config.max_cost is None or config.batch_cost != "sum":
        return []
    totals = {
        "field_cost": spent[0] + analysis.field_cost,
        "type_cost": spent[1] + analysis.type_cost,
    }
    for cost in limited_costs(config):
        if totals[cost] > config.max_cost:
            return [
                GuardError(
                    ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
                    "The batch is too expensive.",
                    measured=plain_number(totals[cost]),
                    limit=plain_number(config.max_cost),
                    extra={"counted": cost},
                )
            ]
    return []


def request_shape_error(query: Any, variables: Any, operation_name: Any) -> GuardError | None:
    """The one check of a request's parts every entry point shares: ``query`` a string,
    ``variables`` an object (or absent), ``operationName`` a string (or absent)."""
    if not isinstance(query, str):
        return GuardError(ErrorCode.BAD_REQUEST, "The query must be a string.")
    if variables is not None and not isinstance(variables, Mapping):
        return GuardError(ErrorCode.BAD_REQUEST, "The variables must be an object.")
    if operation_name is not None and not isinstance(operation_name, str):
        return GuardError(ErrorCode.BAD_REQUEST, "The operation name must be a string.")
    return None
