"""graphql-core validation rules for the static limits, for plain graphql-core, Ariadne or
Graphene users who cannot put :class:`~gqlguard.guard.Guard` in front of ``validate()``.

A rule class is built once per configuration (so validation caches keep hitting) and runs
the same analysis as the Guard, once per document, on entering it. Rules see no variables:
slicing arguments and ``@skip``/``@include`` conditions use variable defaults only.
A rule that reports an error does not stop graphql-core's other rules; put the Guard first
when you can. O(document) per document.

>>> from graphql import build_schema, parse, validate, specified_rules
>>> schema = build_schema("type Query { a: Query b: Int }")
>>> rule = depth_limit_rule(2)
>>> validate(schema, parse("{ a { b } }"), [*specified_rules, rule])
[]
>>> [e.extensions["code"] for e in validate(schema, parse("{ a { a { b } } }"), [rule])]
['DEPTH_LIMIT_EXCEEDED']
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    ValidationContext,
    specified_rules,
)
from graphql import validate as graphql_validate

from .analysis import Analyzer
from .config import GuardConfig, default_config
from .errors import ErrorCode, GuardError
from .limits import early_stop, exceeded_limits
from .parsing import GuardRejection

__all__ = [
    "alias_limit_rule",
    "cost_limit_rule",
    "depth_limit_rule",
    "directive_limit_rule",
    "field_limit_rule",
    "limits_rule",
    "validate",
]

_NO_LIMITS: dict[str, Any] = {
    "max_depth": None,
    "max_aliases": None,
    "max_directives": None,
    "max_fields": None,
    "max_root_fields": None,
    "max_cost": None,
    "max_operations": None,
}


def limits_rule(config: GuardConfig | None = None) -> type[ASTValidationRule]:
    """A rule enforcing every analysis limit of ``config`` (and introspection policy)."""
    settings = config if config is not None else GuardConfig()
    return _limits_rule(settings)


def _limits_rule(config: GuardConfig) -> type[ASTValidationRule]:
    analyzers: weakref.WeakKeyDictionary[GraphQLSchema, Analyzer] = weakref.WeakKeyDictionary()
    stop = early_stop(config)  # the Guard's rule: both paths measure the same numbers

    def analyzer_for(schema: GraphQLSchema) -> Analyzer:
        analyzer = analyzers.get(schema)
        if analyzer is None:
            analyzer = analyzers[schema] = Analyzer(
                schema,
                cost_weights=config.cost_weights,
                default_list_size=config.default_list_size,
                max_list_size=config.max_list_size,
                reject_list_size_above_max=config.reject_list_size_above_max,
                pagination_arguments=config.pagination_arguments,
                mutation_cost=config.mutation_cost,
            )
        return analyzer

    class GuardLimitsRule(ASTValidationRule):
        __doc__ = f"Static gqlguard limits: {config.model_dump(include=set(_NO_LIMITS))}"

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.validation_context = context

        def enter_document(self, document: DocumentNode, *_: Any) -> Any:
            self._check(document)
            return self.SKIP  # everything needed was read in one pass

        def _check(self, document: DocumentNode) -> None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            errors: list[GuardError] = []
            if config.max_operations is not None and len(operations) > config.max_operations:
                errors.append(
                    GuardError(
                        ErrorCode.OPERATION_LIMIT_EXCEEDED,
                        "Document holds too many operations.",
                        measured=len(operations),
                        limit=config.max_operations,
                    )
                )
            analyzer = analyzer_for(self.validation_context.schema)
            for operation in operations:
                name = operation.name.value if operation.name else None
                if name is None and len(operations) > 1:
                    continue  # graphql-core's LoneAnonymousOperationRule reports it
                try:
                    analysis = analyzer.analyze(document, operation_name=name, stop=stop)
                except GuardRejection as rejection:
                    errors.append(rejection.error)
                    continue
                if analysis.problems:
                    continue  # unknown fragments, cycles: graphql-core's own rules report them
                errors.extend(exceeded_limits(analysis, config))
                # No principal reaches a validation rule: `scopes` cannot be satisfied here.
                if analysis.introspection and config.introspection != "on":
                    errors.append(
                        GuardError(ErrorCode.INTROSPECTION_DISABLED, "Introspection is disabled.")
                    )
            for error in errors:
                self.report_error(error.to_graphql_error(expose_limits=config.expose_limits))

    GuardLimitsRule.__name__ = GuardLimitsRule.__qualname__ = "GuardLimitsRule"
    return GuardLimitsRule


# One rule class per configuration object, so graphql-core's per-class work is not redone.
_built: dict[int, tuple[GuardConfig, type[ASTValidationRule]]] = {}


def validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    config: GuardConfig | None = None,
    validation_rules: Sequence[type[ASTValidationRule]] | None = None,
) -> list[GraphQLError]:
    """graphql-core's ``validate`` the way the Guard runs it: the limits rule after
    ``validation_rules`` (default: the specified rules), suggestions ("Did you mean ...?")
    hidden, errors capped. For servers that call ``validate()`` themselves.

    >>> from graphql import build_schema, parse
    >>> schema = build_schema("type Query { title: String }")
    >>> [e.message for e in validate(schema, parse("{ titel }"))]
    ["Cannot query field 'titel' on type 'Query'."]
    """
    settings = config if config is not None else default_config()
    built = _built.get(id(settings))
    if built is None or built[0] is not settings:
        if len(_built) >= 64:
            _built.clear()
        built = _built[id(settings)] = (settings, limits_rule(settings))
    return graphql_validate(
        schema,
        document,
        [*(validation_rules if validation_rules is not None else specified_rules), built[1]],
        max_errors=max(settings.max_errors, 1) * 4,
        hide_suggestions=True,
    )


def _only(**limits: Any) -> type[ASTValidationRule]:
    return limits_rule(GuardConfig(**{**_NO_LIMITS, "introspection": "on", **limits}))


def depth_limit_rule(max_depth: int) -> type[ASTValidationRule]:
    return _only(max_depth=max_depth)


def alias_limit_rule(max_aliases: int) -> type[ASTValidationRule]:
    return _only(max_aliases=max_aliases)


def directive_limit_rule(max_directives: int) -> type[ASTValidationRule]:
    return _only(max_directives=max_directives)


def field_limit_rule(max_fields: int) -> type[ASTValidationRule]:
    return _only(max_fields=max_fields)


def cost_limit_rule(max_cost: float, **cost_settings: Any) -> type[ASTValidationRule]:
    return _only(max_cost=max_cost, **cost_settings)
