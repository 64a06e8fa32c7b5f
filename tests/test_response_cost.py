"""The response-cost walk (gqlguard.response_cost): what a response pays, value by value, and
the plans held per document object."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode, build_schema, parse
from hypothesis import given, settings
from hypothesis import strategies as st

from gqlguard import DIRECTIVES_SDL
from gqlguard.analysis import Analyzer
from gqlguard.response_cost import ResponsePlans

SCHEMA = build_schema(
    DIRECTIVES_SDL
    + """
type Item @cost(weight: 3.0) {
  id: ID
  score: Int @cost(weight: 2.0)
  tags: [String]
  child: Item
  grid: [[Item]]
}
type Query {
  items: [Item]
  plain: [Item!]
  grid: [[Item]]
  one: Item
  tags: [String]
  weighted: [Int] @cost(weight: 4.0)
}
"""
)
QUERY = """{
  items { id score tags child { score } grid { id } }
  plain { id }
  grid { score }
  one { id }
  tags
  weighted
}"""

# What the query selects, written out by hand: response key -> (field weight, weight per
# returned value, what is selected below). An Item weighs 3, `score` 2, `weighted` 4; the
# scalars weigh nothing.
_ITEM_IN_ITEMS = {
    "id": (0.0, 0.0, None),
    "score": (2.0, 0.0, None),
    "tags": (0.0, 0.0, None),
    "child": (3.0, 3.0, {"score": (2.0, 0.0, None)}),
    "grid": (3.0, 3.0, {"id": (0.0, 0.0, None)}),
}
SELECTED = {
    "items": (3.0, 3.0, _ITEM_IN_ITEMS),
    "plain": (3.0, 3.0, {"id": (0.0, 0.0, None)}),
    "grid": (3.0, 3.0, {"score": (2.0, 0.0, None)}),
    "one": (3.0, 3.0, {"id": (0.0, 0.0, None)}),
    "tags": (0.0, 0.0, None),
    "weighted": (4.0, 0.0, None),
}


def _values(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [inner for item in value for inner in _values(item)]
    return [] if value is None else [value]


def reference_costs(selected: dict[str, Any], value: dict[str, Any]) -> tuple[float, float]:
    """The walk's definition, plainly: a field present pays its weight once; every value it
    returned (through any lists) pays its type's weight, and objects pay what is below."""
    total = types = 0.0
    for key, (weight, type_weight, below) in selected.items():
        if key not in value:
            continue
        total += weight
        for returned in _values(value[key]):
            types += type_weight
            if below is not None and isinstance(returned, dict):
                more, more_types = reference_costs(below, returned)
                total += more
                types += more_types
    return total, types


def _data(selected: dict[str, Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Results as graphql-core returns them: any key may be missing (not run) or null, lists
    may hold nulls, a list of lists may be ragged."""

    def value_of(key: str, below: dict[str, Any] | None) -> st.SearchStrategy[Any]:
        leaf: st.SearchStrategy[Any] = (
            st.just(None) if below is None or depth > 2 else _data(below, depth + 1)
        )
        if below is None:
            leaf = st.none() | st.integers(0, 9) | st.text(max_size=2)
        one = st.none() | leaf
        if key in {"grid"}:
            return st.none() | st.lists(st.none() | st.lists(one, max_size=3), max_size=3)
        if key in {"items", "plain", "tags", "weighted"}:
            return st.none() | st.lists(one, max_size=4)
        return one

    return st.fixed_dictionaries(
        {},
        optional={key: value_of(key, below) for key, (_, _, below) in selected.items()},
    )


@settings(max_examples=300, deadline=None)
@given(data=_data(SELECTED))
def test_the_walk_pays_what_the_definition_says(data: dict[str, Any]) -> None:
    plans = ResponsePlans(Analyzer(SCHEMA))
    assert plans.costs(parse(QUERY), None, data) == reference_costs(SELECTED, data)


def test_lists_of_objects_with_nothing_weighed_below_are_counted_per_value() -> None:
    data = {
        "plain": [{"id": "1"}, {"id": "2"}],
        "grid": [[{"score": 1}, None], None, [{"score": 2}]],
        "one": {"id": "3"},
        "weighted": [1, None, 2],
    }
    plans = ResponsePlans(Analyzer(SCHEMA))
    # plain 3 + grid 3 + its two scores 2 each + one 3 + weighted 4; values: 2 + 2 + 1 Items
    assert plans.costs(parse(QUERY), None, data) == (3 + 3 + 2 * 2 + 3 + 4, (2 + 2 + 1) * 3)


class _UnhashableDocument(DocumentNode):
    """A document whose value-hash fails: graphql-core's hashes the whole tree."""

    def __hash__(self) -> int:
        raise AssertionError("the document was hashed")


def test_plans_are_held_per_document_object_and_go_with_it() -> None:
    plans = ResponsePlans(Analyzer(SCHEMA))
    document = _UnhashableDocument(definitions=parse(QUERY).definitions)
    data = {"one": {"id": "1"}}
    assert plans.costs(document, None, data) == (3.0, 3.0)
    assert plans.costs(document, None, data) == (3.0, 3.0)  # the compiled plan, again
    assert len(plans) == 1
    del document
    gc.collect()
    assert len(plans) == 0


def test_a_documents_plans_are_freed_with_it_without_the_cycle_collector() -> None:
    # A plan that referred to itself (a node to its compiler and back) kept its document's
    # nodes for the next full collection: a flood of unique documents made those long.
    plans = ResponsePlans(Analyzer(SCHEMA))
    document = parse(QUERY)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    selection_set = weakref.ref(operation.selection_set)
    del operation
    gc.disable()
    try:
        assert plans.costs(document, None, {"one": {"id": "1"}}) == (3.0, 3.0)
        del document
        assert len(plans) == 0
        assert selection_set() is None
    finally:
        gc.enable()
