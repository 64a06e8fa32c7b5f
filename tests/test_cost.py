"""Cost analysis: IBM GraphQL Cost Directives examples and every rule of DESIGN §2."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema

from gqlguard import DIRECTIVES_SDL, ErrorCode, Guard, GuardConfig, analyze
from schema_example.schema import DEMO_POLICIES

IBM = build_schema(
    DIRECTIVES_SDL
    + """
type User { name: String age: Int @cost(weight: 2.0) }
input Filter { x: Int }
input Approximate { y: Int }
type Product { id: ID }
type Query {
  users(max: Int): [User] @listSize(slicingArguments: ["max"])
  topProducts(filter: Filter @cost(weight: 15.0)): [String] @cost(weight: 5.0)
    @listSize(assumedSize: 10)
  mostPopularProduct(approx: Approximate @cost(weight: -3.0)): Product @cost(weight: 5.0)
}
"""
)

PAGED = build_schema(
    DIRECTIVES_SDL
    + """
type Item { id: ID tags: [String] children(first: Int): [Item] }
type Edge { node: Item }
type Page { edges: [Edge] nodes: [Item] results: Results }
type Results { page: [Item] }
input Pagination { first: Int }
input Search { pagination: Pagination }
type Mutation { touch: Item }
type Query {
  list(first: Int, last: Int): [Item]
  conn(first: Int, last: Int): Page
    @listSize(slicingArguments: ["first", "last"], sizedFields: ["edges", "nodes"],
              requireOneSlicingArgument: false)
  strict(first: Int, last: Int): [Item] @listSize(slicingArguments: ["first", "last"])
  defaulted(first: Int = 7): [Item] @listSize(slicingArguments: ["first"])
  nested(input: Search): [Item] @listSize(slicingArguments: ["input.pagination.first"],
                                          requireOneSlicingArgument: false)
  deep(first: Int): Page @listSize(slicingArguments: ["first"], sizedFields: ["results { page }"])
  byIds(ids: [ID!]): [Item] @listSize(slicingArguments: ["ids"])
}
"""
)


def cost(
    schema: GraphQLSchema, query: str, variables: dict[str, object] | None = None, **config: object
) -> float:
    return analyze(schema, query, variables, config=GuardConfig(**config)).field_cost  # type: ignore[arg-type]


def test_ibm_users_example_costs_eleven() -> None:
    assert cost(IBM, "{ users(max: 5) { age } }") == 11


def test_ibm_top_products_costs_five_and_twenty_with_filter() -> None:
    assert cost(IBM, "{ topProducts }") == 5
    assert cost(IBM, "{ topProducts(filter: {x: 1}) }") == 20


def test_ibm_negative_argument_weight_lowers_but_never_below_zero() -> None:
    assert cost(IBM, "{ mostPopularProduct { id } }") == 5
    assert cost(IBM, "{ mostPopularProduct(approx: {y: 1}) { id } }") == 2


def test_slicing_argument_from_a_variable() -> None:
    assert cost(IBM, "query($n: Int) { users(max: $n) { age } }", {"n": 3}) == 7


def test_config_weights_override_directives() -> None:
    assert cost(IBM, "{ users(max: 5) { age } }", cost_weights={"User.age": 1}) == 6


def test_pagination_arguments_size_lists_without_list_size() -> None:
    assert cost(PAGED, "{ list(first: 4) { id } }") == 1 + 4 * 0
    assert cost(PAGED, "{ list(first: 4) { children { id } } }") == 1 + 4 * (1 + 10 * 0)
    assert cost(PAGED, "{ list(first: 2, last: 9) { children(first: 3) { id } } }") == 1 + 9 * 1


def test_default_list_size_applies_when_nothing_says_more() -> None:
    assert cost(PAGED, "{ list { children { id } } }") == 1 + 10 * 1
    assert cost(PAGED, "{ list { children { id } } }", default_list_size=3) == 1 + 3 * 1


def test_nested_lists_multiply() -> None:
    query = "{ list(first: 5) { children(first: 4) { children(first: 3) { id } } } }"
    assert cost(PAGED, query) == 1 + 5 * (1 + 4 * (1 + 3 * 0))
    query = "{ list(first: 5) { children(first: 4) { children(first: 3) { children { id } } } } }"
    assert cost(PAGED, query) == 1 + 5 * (1 + 4 * (1 + 3 * (1 + 10 * 0)))


def test_sized_fields_apply_the_slice_to_connection_children() -> None:
    query = "{ conn(first: 6) { edges { node { id } } nodes { id } } }"
    # conn 1 (not a list); edges 1 + 6 * (node 1); nodes 1 + 6 * 0
    assert cost(PAGED, query) == 1 + (1 + 6 * 1) + 1


def test_sized_fields_take_the_largest_of_several_slicing_arguments() -> None:
    query = "{ conn(first: 2, last: 8) { edges { node { id } } } }"
    assert cost(PAGED, query) == 1 + (1 + 8 * 1)


def test_nested_sized_field_paths() -> None:
    query = "{ deep(first: 4) { results { page { children { id } } } } }"
    # deep 1, results 1, page: 1 + 4 * (children 1 + 10 * 0)
    assert cost(PAGED, query) == 1 + 1 + 1 + 4 * (1 + 10 * 0)


def test_dotted_slicing_path_into_input_objects() -> None:
    query = "{ nested(input: {pagination: {first: 3}}) { children { id } } }"
    assert cost(PAGED, query) == 1 + 3 * 1
    with_variable = "query($s: Search) { nested(input: $s) { children { id } } }"
    assert cost(PAGED, with_variable, {"s": {"pagination": {"first": 2}}}) == 1 + 2 * 1


def test_list_value_slicing_argument_counts_its_length() -> None:
    assert cost(PAGED, '{ byIds(ids: ["1", "2", "3"]) { children { id } } }') == 1 + 3 * 1


def test_schema_default_of_slicing_argument_is_used_when_omitted() -> None:
    assert cost(PAGED, "{ defaulted { children { id } } }") == 1 + 7 * 1


def test_require_one_slicing_argument_is_a_validation_error() -> None:
    guard = Guard(PAGED)
    assert [e.code for e in guard.check("{ strict(first: 1, last: 2) { id } }").errors] == [
        ErrorCode.GRAPHQL_VALIDATION_FAILED
    ]
    assert [e.code for e in guard.check("{ strict { id } }").errors] == [
        ErrorCode.GRAPHQL_VALIDATION_FAILED
    ]
    assert guard.check("{ strict(last: 2) { id } }").accepted


def test_list_sizes_are_clamped_to_max_list_size() -> None:
    query = "{ list(first: 1000) { children { id } } }"
    assert cost(PAGED, query, max_list_size=50) == 1 + 50 * 1
    guard = Guard(PAGED, GuardConfig(max_list_size=50, reject_list_size_above_max=True))
    assert [e.code for e in guard.check(query).errors] == [ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE]


def test_skip_and_include_remove_what_will_not_run() -> None:
    query = "query($s: Boolean!) { a: list(first: 3) @skip(if: $s) { children { id } } b: list @include(if: false) { id } }"
    assert cost(PAGED, query, {"s": True}) == 0
    assert cost(PAGED, query, {"s": False}) == 1 + 3 * 1


def test_aliases_count_separately() -> None:
    assert cost(
        PAGED, "{ a: list(first: 2) { children { id } } b: list(first: 2) { children { id } } }"
    ) == 2 * (1 + 2 * 1)


def test_mutation_fields_add_the_mutation_cost() -> None:
    assert cost(PAGED, "mutation { touch { id } }") == 10 + 1
    assert cost(PAGED, "mutation { touch { id } }", mutation_cost=3) == 3 + 1


def test_abstract_types_take_the_most_expensive_concrete_type(library: GraphQLSchema) -> None:
    query = "{ node(id: 1) { ... on Book { pages } ... on Author { books(first: 3) { pages } } } }"
    # Book: 2; Author: books 1 + 3 * 2 = 7 -> node 1 + 7
    assert analyze(library, query).field_cost == 1 + 7


def test_type_cost_counts_objects_and_equals_apollo_without_weights(library: GraphQLSchema) -> None:
    result = analyze(library, "{ authors { books(first: 3) { title } } }")
    # authors list of 4 Author objects, each with 3 Book objects
    assert result.type_cost == 4 * (1 + 3 * 1)


def test_breakdown_attributes_cost_to_coordinates() -> None:
    result = analyze(IBM, "{ users(max: 5) { age } }")
    assert dict(result.cost_breakdown) == {"Query.users": 1, "User.age": 10}


def test_doubling_fragment_bomb_cost_is_exact_and_fast() -> None:
    levels = 25
    fragments = [f"fragment L{i} on Item {{ ...L{i + 1} ...L{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment L{levels} on Item {{ children(first: 1) {{ id }} }}")
    query = "{ list(first: 1) { ...L0 } } " + " ".join(fragments)
    result = analyze(PAGED, query, config=GuardConfig(max_tokens=None))
    assert result.field_cost == 1 + 2**levels


def test_wide_fragments_of_paginated_lists_are_rejected_for_cost_not_depth(
    demo_schema: object,
) -> None:
    query = """
    { a: users(first: 50) { ...U } b: users(first: 50) { ...U } }
    fragment U on UserConnection { nodes { posts(limit: 20) { comments(limit: 20) { body } } } }
    """
    verdict = Guard(demo_schema, policies=DEMO_POLICIES).check(query)
    assert [e.code for e in verdict.errors] == [ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE]
    assert verdict.analysis is not None and verdict.analysis.depth <= 10


def test_response_cost_counts_what_came_back() -> None:
    from graphql import parse

    from gqlguard.analysis import Analyzer
    from gqlguard.response_cost import response_cost

    document = parse("{ users(max: 5) { age } }")
    data = {"users": [{"age": 1}, {"age": 2}, {"age": 3}]}
    assert response_cost(Analyzer(IBM), document, None, data) == 7


def test_demo_reports_requested_and_actual_cost(demo_schema: object) -> None:
    result = demo_schema.execute_sync("{ users(first: 3) { nodes { posts(limit: 2) { title } } } }")  # type: ignore[attr-defined]
    cost_report = result.extensions["cost"]
    # users 1 + nodes (1 + 3 * posts 5): estimate and, with 3 users returned, the same
    assert cost_report["requestedQueryCost"] == 1 + 1 + 3 * 5
    assert cost_report["actualQueryCost"] == 1 + 1 + 3 * 5
    assert cost_report["maximumAvailable"] == 1000


@pytest.mark.parametrize(
    "query",
    [
        "{ users(first: 0) { nodes { posts(limit: 100) { comments(limit: 100) { body } } } } }",
        "{ posts(limit: 100) @skip(if: true) { comments(limit: 100) { body } } }",
        "query($n: Int) { users(first: $n) { nodes { posts(limit: 100) { title } } } }",
    ],
)
def test_a_subtree_that_costs_nothing_does_not_stop_the_walk_early(
    demo_schema: Any, query: str
) -> None:
    # Found by Hypothesis (tests/test_fuzz.py): the early stop rejected an expensive subtree
    # before its parent multiplied it by a list size of 0.
    variables = {"n": 0}
    cost = analyze(demo_schema, query, variables, config=GuardConfig.unlimited()).field_cost
    assert cost <= 10
    verdict = Guard(demo_schema, GuardConfig(max_cost=cost), policies=DEMO_POLICIES).check(
        query, variables
    )
    assert verdict.accepted, verdict.errors
