"""gqlguard's validation driver against graphql-core's ``validate``: the same errors, in the same
order, with the same locations, for graphql-core's rules, the user's rules, and rules that use
the corners of graphql-core's visitor protocol (SKIP, BREAK, per-instance methods, their own
method lookup). graphql-core's validation suite runs against the driver too (make
conformance); this holds what that suite does not vary: many rules erring on one node."""

from __future__ import annotations

import functools
import gc
from typing import Any

import pytest
from graphql import (
    BREAK,
    SKIP,
    ASTValidationRule,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    parse,
    specified_rules,
    validate,
)
from graphql.language.visitor import EnterLeaveVisitor
from graphql.validation.rules.overlapping_fields_can_be_merged import MAX_COMPLEXITY_BUDGET
from hypothesis import given, settings
from hypothesis import strategies as st

from gqlguard import GuardConfig
from gqlguard.errors import ErrorCode, GuardRejection
from gqlguard.testing import hostile_documents, valid_queries
from gqlguard.validation import validate_as_sent
from gqlguard.work import WorkMeter
from schema_example.schema import build_schema as build_demo_schema

from .conftest import examples

DEMO = build_demo_schema(GuardConfig(), guarded=False)._schema
PETS = build_schema(
    """
    directive @onField on FIELD
    interface Pet { name(surname: Boolean): String }
    type Dog implements Pet { name(surname: Boolean): String barks: Boolean owner: Human }
    type Cat implements Pet { name(surname: Boolean): String meows: Boolean }
    type Human { name: String pets: [Pet] }
    union Being = Dog | Cat | Human
    type Query { dog: Dog pet: Pet being: Being human(id: ID!): Human }
    """
)


class SkipsAliasedFields(ASTValidationRule):
    """Reports every field it enters, skipping the subtree of an aliased one."""

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        self.report_error(GraphQLError(f"skip-rule saw {node.name.value}", node))
        return SKIP if node.alias else None

    def leave_field(self, node: FieldNode, *_: Any) -> None:
        self.report_error(GraphQLError(f"skip-rule left {node.name.value}", node))


class StopsAtThirdField(ASTValidationRule):
    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.seen = 0

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        self.seen += 1
        self.report_error(GraphQLError(f"break-rule saw {node.name.value}", node))
        return BREAK if self.seen == 3 else None


class MethodsOnTheInstance(ASTValidationRule):
    """Its field handler is an attribute of the instance, not of the class."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.enter_field = self._report  # graphql-core finds it by name on the instance

    def _report(self, node: FieldNode, *_: Any) -> None:
        self.report_error(GraphQLError(f"instance-rule saw {node.name.value}", node))


class OwnLookup(ASTValidationRule):
    """Replaces graphql-core's method lookup: acts on selection sets through it."""

    def get_enter_leave_for_kind(self, kind: str) -> EnterLeaveVisitor:
        if kind == "selection_set":
            return EnterLeaveVisitor(self._report, None)
        return EnterLeaveVisitor(None, None)

    def _report(self, node: Any, *_: Any) -> None:
        self.report_error(GraphQLError("lookup-rule saw a selection set", node))


RULE_SETS = {
    "specified": list(specified_rules),
    "with the user's rules": [
        SkipsAliasedFields,
        *specified_rules,
        StopsAtThirdField,
        MethodsOnTheInstance,
        OwnLookup,
    ],
}


def _described(errors: list[GraphQLError]) -> list[tuple[str, Any, Any]]:
    return [(error.message, error.locations, error.path) for error in errors]


def _same_as_graphql_core(schema: GraphQLSchema, text: str, max_errors: int = 100) -> None:
    try:
        document = parse(text)
    except Exception:  # a syntax error: nothing to validate
        return
    for name, rules in RULE_SETS.items():
        expected = validate(schema, document, rules, max_errors=max_errors)
        try:
            # graphql-core's own budget for its field-merge rule: both stop at one comparison.
            meter = WorkMeter(MAX_COMPLEXITY_BUDGET)
            ours = validate_as_sent(schema, document, rules, meter, max_errors=max_errors)
        except GuardRejection as rejection:
            assert rejection.error.code is ErrorCode.WORK_LIMIT_EXCEEDED
            assert expected[-1].message == "Validation aborted.", name
            continue
        assert _described(ours) == _described(expected), name


def test_many_rules_erring_on_one_node_answer_in_graphql_cores_order() -> None:
    text = """
    query Q($unused: Int, $id: ID) {
      dog { a: name(surname: 1) name(surname: true) nope barks @onField @onField @unknown }
      dog { name: barks ...DogOwner ...Missing }
      pet { ... on Human { name } ...DogOwner }
      being { name }
      human { name(surname: true) pets { name { deeper } } }
    }
    query Q { dog }
    fragment DogOwner on Dog { owner { name pets { name } } }
    fragment DogOwner on Cat { meows }
    fragment Never on Dog { barks }
    """
    _same_as_graphql_core(PETS, text)
    _same_as_graphql_core(PETS, text, max_errors=7)  # the cap stops both at the same error


@settings(max_examples=examples(60), deadline=None)
@given(text=st.one_of(valid_queries(DEMO), hostile_documents(DEMO)))
def test_generated_documents_are_judged_as_graphql_core_judges_them(text: str) -> None:
    _same_as_graphql_core(DEMO, text)


@settings(max_examples=examples(60), deadline=None)
@given(text=st.one_of(valid_queries(PETS), hostile_documents(PETS)))
def test_interfaces_and_unions_are_judged_as_graphql_core_judges_them(text: str) -> None:
    _same_as_graphql_core(PETS, text)


def _report(rule: ASTValidationRule, node: Any, *_: Any, label: str = "") -> None:
    rule.report_error(GraphQLError(f"{label} saw {getattr(node, 'kind', node)}", node))


STATIC_CALLS: list[str] = []


class SetDuringTraversal(ASTValidationRule):
    def enter_document(self, *_: Any) -> None:
        self.enter_field = lambda node, *_: _report(self, node, label="late")


class PartialMethod(ASTValidationRule):
    enter_field = functools.partialmethod(_report, label="partial")


class StaticHandler(ASTValidationRule):
    @staticmethod
    def enter_field(node: Any, *_: Any) -> None:
        STATIC_CALLS.append(node.name.value)


class DynamicHandler(ASTValidationRule):
    def __getattr__(self, name: str) -> Any:
        if name == "enter_field":
            return lambda node, *_: _report(self, node, label="dynamic")
        raise AttributeError(name)


class NoneProperty(ASTValidationRule):
    @property
    def enter_field(self) -> Any:
        return None

    def enter(self, node: Any, *_: Any) -> None:
        if getattr(node, "kind", None) == "field":
            _report(self, node, label="fallback")


CORNER_RULES = [SetDuringTraversal, PartialMethod, StaticHandler, DynamicHandler, NoneProperty]


@pytest.mark.parametrize("rule", CORNER_RULES, ids=lambda rule: rule.__name__)
def test_a_rule_is_asked_for_its_methods_as_graphql_core_asks_it(
    rule: type[ASTValidationRule],
) -> None:
    document = parse("{ dog { name barks } pet { name } }")
    rules = [*specified_rules, rule]
    STATIC_CALLS.clear()
    expected = validate(PETS, document, rules)
    theirs = list(STATIC_CALLS)
    assert expected or theirs  # each of these rules does something graphql-core sees
    STATIC_CALLS.clear()
    ours = validate_as_sent(PETS, document, rules, WorkMeter(MAX_COMPLEXITY_BUDGET))
    assert _described(ours) == _described(expected)
    assert theirs == STATIC_CALLS


def test_a_rule_class_patched_after_its_first_use_runs_patched() -> None:
    class Patched(ASTValidationRule):
        def enter_field(self, node: Any, *_: Any) -> None:
            _report(self, node, label="before")

    document = parse("{ dog { name } }")
    validate_as_sent(PETS, document, [Patched], WorkMeter(10**6))
    Patched.enter_field = lambda self, node, *_: _report(self, node, label="after")  # type: ignore[method-assign]
    ours = validate_as_sent(PETS, document, [Patched], WorkMeter(10**6))
    assert {error.message.split()[0] for error in ours} == {"after"}


def test_documents_without_locations_keep_graphql_cores_shared_caches() -> None:
    # Equal operations without locations are one key to graphql-core: its fragment-work
    # budget is spent once for all of them, so none of them aborts the validation.
    schema = build_schema("type Query { a(x: [Int]): Int }")
    fragment = "fragment F on Query { a(x: [" + ", ".join(["$v"] * 1000) + "]) }"
    text = " ".join(["query ($v: Int) { ...F }"] * 60) + " " + fragment
    document = parse(text, no_location=True)
    expected = validate(schema, document, specified_rules, max_errors=1000)
    ours = validate_as_sent(schema, document, specified_rules, WorkMeter(10**9), max_errors=1000)
    assert _described(ours) == _described(expected)


def _cycles_left_by(work: Any) -> list[str]:
    """The graphql-core and gqlguard objects that ``work()`` leaves only the garbage
    collector can free (unreachable, in reference cycles)."""

    def ours(thing: object) -> bool:
        owner = getattr(thing, "__self__", thing)  # a bound method: its object
        module = getattr(type(owner), "__module__", "") or ""
        return module.startswith(("graphql.", "gqlguard."))

    gc.collect()
    gc.disable()
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        work()
        gc.collect()
        return sorted({type(thing).__qualname__ for thing in gc.garbage if ours(thing)})
    finally:
        gc.garbage.clear()
        gc.set_debug(flags)
        gc.enable()


VARIABLES_AND_FRAGMENTS = """
query Q($surname: Boolean) { dog { ...Named owner { pets { ...Named } } } being { ...Named } }
fragment Named on Pet { name(surname: $surname) }
"""


def test_a_validation_is_freed_when_it_returns() -> None:
    # graphql-core's visitors cache their own bound methods: left alone, every validation's
    # rules, context and caches wait for a full collection (what a flood of large
    # documents turns into long pauses for every client).
    document = parse(VARIABLES_AND_FRAGMENTS)
    rules = [*specified_rules, SkipsAliasedFields]
    meter = WorkMeter(10_000)
    assert validate_as_sent(PETS, document, rules, meter) == validate(PETS, document, rules)
    assert _cycles_left_by(lambda: validate_as_sent(PETS, document, rules, meter)) == []


def test_a_guard_check_is_freed_when_it_returns() -> None:
    from gqlguard import Guard

    guard = Guard(PETS, GuardConfig(persisted_mode="off"))
    texts = iter(f"{VARIABLES_AND_FRAGMENTS}\n# {n}" for n in range(3))
    assert guard.check(next(texts), operation_name="Q").accepted
    # The document itself stays in the guard's cache (its tokens are linked both ways, as
    # graphql-core links them): nothing else of the check is left for the collector.
    assert _cycles_left_by(lambda: guard.check(next(texts), operation_name="Q")) == []
