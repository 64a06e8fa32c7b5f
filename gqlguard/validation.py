"""graphql-core's validation on the document as sent, its one super-linear rule metered.

Every rule — graphql-core's, Strawberry's, the user's — sees the document the client sent, so
its verdict is the host's verdict. The one rule whose work is not linear in the document,
``OverlappingFieldsCanBeMergedRule``, is graphql-core's own rule too: graphql-core meters it
(its complexity units, a count of the comparisons it makes) and aborts past a budget. This
module gives that meter the request's remaining work budget instead of graphql-core's global
one, and reads back what the rule spent, so the field-merge comparisons charge the same
:class:`~gqlguard.work.WorkMeter` as every other stage. Nothing of a rule is re-implemented:
its verdicts, messages and locations are graphql-core's, and the rest of the rules run in the
same pass, their errors kept.

What differs from graphql-core's ``validate`` is bookkeeping only, so that checking a document
costs less than graphql-core alone spends on it (docs/benchmarks.md): the rules run through
:class:`~gqlguard.parallel_rules.ParallelRules` (methods looked up once per rule class), and
the validation context keeps its per-node caches by node identity — graphql-core's AST nodes
hash by value, recursively and uncached, so each lookup of an operation's cached variable
usages hashed the whole operation again. A node is only ever equal to itself in a document
parsed with locations, the only kind gqlguard validates (a document without locations keeps
graphql-core's caches). graphql-core's own validation suite
runs against this path (``make conformance``).

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

from collections.abc import Callable, Sequence
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OverlappingFieldsCanBeMergedRule,
    TypeInfo,
    TypeInfoVisitor,
    ValidationContext,
    Visitor,
    assert_valid_schema,
    specified_rules,
    visit,
)
from graphql.validation.validate import (
    FragmentNestingVisitor,
    ValidationAbortedError,
    query_document_keys_to_validate,
)
from graphql.validation.validation_context import (
    NodeWithSelectionSet,
    VariableUsage,
    VariableUsageVisitor,
)

from .pacing import PACE
from .parallel_rules import ParallelRules
from .work import FIELD_MERGING, WorkMeter

__all__ = ["metered_rules", "specified_rules", "validate_as_sent"]

_DEFAULT_MAX_ERRORS = 100  # graphql-core's default
_TOO_MANY_ERRORS = "Too many validation errors, error limit reached. Validation aborted."


class _ByIdentity:
    """The part of a dict graphql-core's validation context uses for its per-node caches,
    keyed by the node object (held, so its id is not reused while the cache lives)."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[Any, Any]] = {}

    def get(self, node: Any, default: Any = None) -> Any:
        entry = self._entries.get(id(node))
        return default if entry is None else entry[1]

    def __getitem__(self, node: Any) -> Any:
        return self._entries[id(node)][1]

    def __setitem__(self, node: Any, value: Any) -> None:
        self._entries[id(node)] = (node, value)

    def __contains__(self, node: Any) -> bool:
        return id(node) in self._entries


# graphql-core's per-node caches (a versioned internal API, pinned by our graphql-core range);
# an attribute a later release renames is left as it is: slower, never different.
_NODE_CACHES = ("_fragment_spreads", "_variable_usages", "_recursive_variable_usages")


class _MeteredContext(ValidationContext):
    """graphql-core's validation context with per-node caches keyed by identity, and the work
    meter the field-merge rule starts from."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        type_info: TypeInfo,
        on_error: Callable[[GraphQLError], None],
        hide_suggestions: bool,
        meter: WorkMeter | None,
    ) -> None:
        super().__init__(schema, document, type_info, on_error, hide_suggestions)
        # Without locations, equal nodes at two places are one key to graphql-core (its
        # fragment-work budget is spent once for both): its caches stay as they are.
        if document.loc is not None:
            for name in _NODE_CACHES:
                if type(getattr(self, name, None)) is dict:
                    setattr(self, name, _ByIdentity())
        self.work_meter = meter
        # (rule context, budget it started with) per metered rule instance, read back after.
        self.metered_starts: list[tuple[Any, int]] = []

    def get_variable_usages(self, node: NodeWithSelectionSet) -> list[VariableUsage]:
        """graphql-core's walk for the variables used directly in ``node``, its visitor let
        go of after (see :func:`_let_go`): graphql-core's own call leaves one reference
        cycle per operation and fragment."""
        cache = getattr(self, "_variable_usages", None)
        type_info = getattr(self, "_type_info", None)
        if cache is None or not isinstance(type_info, TypeInfo):  # another graphql-core
            return super().get_variable_usages(node)
        usages: list[VariableUsage] | None = cache.get(node)
        if usages is None:
            fragment = node if isinstance(node, FragmentDefinitionNode) else None
            finder = VariableUsageVisitor(type_info, fragment)
            pacer = PACE.get()  # paced like the validation's own walk, when it is
            walker = TypeInfoVisitor(
                type_info, finder if pacer is None else ParallelRules([finder], pacer)
            )
            try:
                visit(node, walker)
            finally:
                _let_go(walker, (finder,))
            usages = cache[node] = finder.usages
        return usages


class _MeteredFieldMerging(OverlappingFieldsCanBeMergedRule):
    """graphql-core's field-merge rule, started with the meter's remaining budget."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        if isinstance(context, _MeteredContext) and context.work_meter is not None:
            # graphql-core's own budget still holds when the meter's is larger (max_work).
            remaining = max(context.work_meter.remaining, 0)
            budget = min(remaining, self.rule_context.remaining_complexity_budget)
            self.rule_context.remaining_complexity_budget = budget
            context.metered_starts.append((self.rule_context, budget))


_metered_classes: dict[type[ASTValidationRule], type[ASTValidationRule]] = {}


def _metered(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    # One metered class per rule class, made once: the meter travels on the context.
    metered = _metered_classes.get(rule)
    if metered is None:
        if len(_metered_classes) >= 256:
            _metered_classes.clear()
        metered = type(rule.__name__, (_MeteredFieldMerging, rule), {})
        _metered_classes[rule] = metered
    return metered


def metered_rules(rules: Sequence[type[ASTValidationRule]]) -> list[type[ASTValidationRule]]:
    """``rules`` with graphql-core's field-merge rule (and any subclass of it the user
    passed) metered by the validation's work meter; every other rule as given."""
    return [
        _metered(rule)
        if isinstance(rule, type) and issubclass(rule, OverlappingFieldsCanBeMergedRule)
        else rule
        for rule in rules
    ]


def _let_go(walker: Visitor, visitors: Sequence[Visitor]) -> None:
    """Break the reference cycles a validation leaves. graphql-core's visitors cache, per
    node kind, their own bound methods (a visitor refers to itself), so the rules, the context
    and every cache the rules filled would outlive the validation until the garbage
    collector's next full collection, which then walks them all: under a stream of large
    documents those collections land in every other client's latency. Cleared, all of it is
    freed when the validation returns. The maps are caches: graphql-core refills them."""
    for visitor in (walker, *visitors):
        cached = getattr(visitor, "enter_leave_map", None)
        if isinstance(cached, dict):
            cached.clear()


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
    assert_valid_schema(schema)
    cap = _DEFAULT_MAX_ERRORS if max_errors is None else max_errors
    errors: list[GraphQLError] = []

    def on_error(error: GraphQLError) -> None:
        if len(errors) >= cap:
            raise ValidationAbortedError(_TOO_MANY_ERRORS)
        errors.append(error)

    type_info = TypeInfo(schema)
    context = _MeteredContext(schema, document, type_info, on_error, hide_suggestions, meter)
    visitors: list[Visitor] = [rule(context) for rule in metered_rules(rules)]
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    if fragments:  # graphql-core's guard against recursing too deep through fragments
        visitors.insert(0, FragmentNestingVisitor(fragments))
    walker = TypeInfoVisitor(type_info, ParallelRules(visitors, PACE.get()))
    try:
        visit(document, walker, query_document_keys_to_validate)
    except ValidationAbortedError as aborted:
        # Neither the validation's frames nor a handled error's stay alive with the answer.
        aborted.__context__ = None
        errors.append(aborted.with_traceback(None))
    except RecursionError:
        errors.append(ValidationAbortedError("Validation aborted."))
    finally:
        _let_go(walker, visitors)
    exhausted = False
    for rule_context, budget in context.metered_starts:
        remaining = rule_context.remaining_complexity_budget
        exhausted = exhausted or remaining < 0
        meter.charge(FIELD_MERGING, budget - max(remaining, 0))
    if exhausted:  # graphql-core stopped the whole validation: the document is refused
        meter.charge(FIELD_MERGING, meter.remaining + 1)
    return errors
