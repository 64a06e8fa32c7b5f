"""graphql-core's validation on the document as sent, its one super-linear rule metered.

Every rule — graphql-core's, Strawberry's, the user's — sees the document the client sent, so
its verdict is the host's verdict. The one rule whose work is not linear in the document,
``OverlappingFieldsCanBeMergedRule``, is graphql-core's own rule too: graphql-core meters it
(its complexity units, a count of the comparisons it makes) and aborts past a budget. This
module gives that meter the request's remaining work budget instead of graphql-core's global
one, and reads back what the rule spent, so the field-merge comparisons charge the same
:class:`~gqlguard.work.WorkMeter` as every other stage. Nothing of the rule is re-implemented:
its verdicts, messages and locations are graphql-core's, and the rest of the rules run in the
same pass, their errors kept.

O(document) for every rule but the field-merge one, which stops at the meter's budget.

>>> from graphql import build_schema, parse
>>> schema = build_schema("type Query { a: Int }")
>>> meter = WorkMeter(100)
>>> validate_as_sent(schema, parse("{ a a }"), specified_rules, meter)
[]
>>> meter.stages["field merging"]
2
>>> validate_as_sent(schema, parse("{ " + "a " * 20 + "}"), specified_rules, WorkMeter(100))
Traceback (most recent call last):
...
gqlguard.errors.GuardRejection: The query is too expensive to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OverlappingFieldsCanBeMergedRule,
    ValidationContext,
    specified_rules,
    validate,
)

from .work import WorkMeter

__all__ = ["metered_rules", "specified_rules", "validate_as_sent"]

_STAGE = "field merging"


class _MeteredFieldMerging(OverlappingFieldsCanBeMergedRule):
    """graphql-core's field-merge rule, started with the meter's remaining budget."""

    # Set on the subclass metered_rules() makes for one validation: validate() keeps its
    # rule instances to itself, so each instance leaves its rule context (and the budget it
    # started with) here for validate_as_sent to read back.
    meter: WorkMeter
    started: list[tuple[Any, int]]

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        budget = max(type(self).meter.remaining, 0)
        self.rule_context.remaining_complexity_budget = budget
        type(self).started.append((self.rule_context, budget))


def metered_rules(
    rules: Sequence[type[ASTValidationRule]], meter: WorkMeter, started: list[tuple[Any, int]]
) -> list[type[ASTValidationRule]]:
    """``rules`` with graphql-core's field-merge rule (and any subclass of it the user
    passed) metered by ``meter``; every other rule as given."""
    metered: list[type[ASTValidationRule]] = []
    for rule in rules:
        if isinstance(rule, type) and issubclass(rule, OverlappingFieldsCanBeMergedRule):
            namespace = {"meter": meter, "started": started}
            rule = type(rule.__name__, (_MeteredFieldMerging, rule), namespace)
        metered.append(rule)
    return metered


def validate_as_sent(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Sequence[type[ASTValidationRule]],
    meter: WorkMeter,
    *,
    max_errors: int | None = None,
    hide_suggestions: bool = False,
) -> list[GraphQLError]:
    """graphql-core's ``validate`` with ``rules`` on ``document``, charging the field-merge
    comparisons to ``meter``; raises :class:`GuardRejection` (``WORK_LIMIT_EXCEEDED``) when
    they would pass its budget."""
    started: list[tuple[Any, int]] = []
    errors = validate(
        schema,
        document,
        metered_rules(rules, meter, started),
        max_errors=max_errors,
        hide_suggestions=hide_suggestions,
    )
    exhausted = False
    for rule_context, budget in started:
        remaining = rule_context.remaining_complexity_budget
        exhausted = exhausted or remaining < 0
        meter.charge(_STAGE, budget - max(remaining, 0))
    if exhausted:  # graphql-core stopped the whole validation: the document is refused
        meter.charge(_STAGE, meter.remaining + 1)
    return errors
