"""Properties: the memoized one-pass analysis equals a naive fragment-expanding reference,
metrics are monotonic, and the analysis never raises on generated documents."""

from __future__ import annotations

from typing import Any

import hypothesis_graphql
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from hypothesis import given
from hypothesis import strategies as st

from gqlguard import GuardConfig, GuardRejection, analyze

UNLIMITED = GuardConfig(max_characters=None, max_tokens=None, max_comments=None)


def naive(document: DocumentNode) -> tuple[int, int, int, int]:
    """Depth, aliases, fields, directives by plain recursive expansion (no memo)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))

    def walk(selection_set: SelectionSetNode) -> tuple[int, int, int, int]:
        depth = aliases = fields = directives = 0
        for selection in selection_set.selections:
            directives += len(selection.directives or ())
            if isinstance(selection, FieldNode):
                fields += 1
                aliases += selection.alias is not None
                child = walk(selection.selection_set) if selection.selection_set else (0, 0, 0, 0)
                depth = max(depth, 1 + child[0])
            else:
                if isinstance(selection, InlineFragmentNode):
                    child = walk(selection.selection_set)
                else:
                    assert isinstance(selection, FragmentSpreadNode)
                    fragment = fragments[selection.name.value]
                    directives += len(fragment.directives or ())
                    child = walk(fragment.selection_set)
                depth = max(depth, child[0])
            aliases += child[1]
            fields += child[2]
            directives += child[3]
        return depth, aliases, fields, directives

    depth, aliases, fields, directives = walk(operation.selection_set)
    directives += len(operation.directives or ())
    for definition in operation.variable_definitions or ():
        directives += len(definition.directives or ())
    return depth, aliases, fields, directives


def measured(schema: Any, query: str) -> tuple[int, int, int, int]:
    result = analyze(schema, query, config=UNLIMITED)
    return result.depth, result.aliases, result.fields, result.directives


@given(query=st.data())
def test_analysis_matches_naive_reference_on_generated_queries(
    demo_schema: Any, query: st.DataObject
) -> None:
    text = query.draw(hypothesis_graphql.queries(demo_schema._schema))
    assert measured(demo_schema, text) == naive(parse(text))


FIELDS = ["id", "title", "pages", "t: title", "__typename", "author { name }", "a: author { id }"]


@st.composite
def fragment_dags(draw: st.DrawFn) -> str:
    """Fragments on Book that spread only later fragments (a DAG), with aliases and directives."""
    count = draw(st.integers(1, 8))
    definitions = []
    for index in range(count):
        body = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4))
        later = list(range(index + 1, count))
        if later:
            body += [
                f"...F{target}" + draw(st.sampled_from(["", " @include(if: true)"]))
                for target in draw(st.lists(st.sampled_from(later), max_size=3))
            ]
        definitions.append(f"fragment F{index} on Book {{ {' '.join(body)} }}")
    root = draw(
        st.sampled_from(["{ books { ...F0 } }", "{ x: book(id: 1) { ...F0 ... on Book { id } } }"])
    )
    return root + " " + " ".join(definitions)


@given(fragment_dags())
def test_memoized_fragments_match_naive_expansion(library: GraphQLSchema, query: str) -> None:
    assert measured(library, query) == naive(parse(query))


@given(fragment_dags(), st.sampled_from(FIELDS))
def test_adding_a_field_never_lowers_any_metric(
    library: GraphQLSchema, query: str, extra: str
) -> None:
    before = analyze(library, query, config=UNLIMITED)
    grown = query.replace("fragment F0 on Book {", f"fragment F0 on Book {{ {extra}", 1)
    after = analyze(library, grown, config=UNLIMITED)
    assert after.depth >= before.depth
    assert after.aliases >= before.aliases
    assert after.fields > before.fields
    assert after.field_cost >= before.field_cost
    assert after.type_cost >= before.type_cost


@given(st.text(max_size=300))
def test_analysis_of_arbitrary_text_raises_only_rejections(
    library: GraphQLSchema, text: str
) -> None:
    try:
        result = analyze(library, text, config=UNLIMITED)
    except GuardRejection as rejection:
        assert rejection.error.code.value.isupper()
    else:
        assert result.depth >= 0 and result.field_cost >= 0


@given(query=st.data())
def test_requested_cost_bounds_actual_cost(demo_schema: Any, query: st.DataObject) -> None:
    text = query.draw(hypothesis_graphql.queries(demo_schema._schema))
    result = demo_schema.execute_sync(text, context_value={"resolver_calls": 0})
    cost_report = (result.extensions or {}).get("cost")
    if cost_report is not None and "actualQueryCost" in cost_report:
        assert cost_report["requestedQueryCost"] >= cost_report["actualQueryCost"]
