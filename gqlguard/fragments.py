"""Where an inline fragment or a fragment spread leads: the one narrowing step every walk over
a document takes (the analysis, authorization, the response cost)."""

from __future__ import annotations

from collections.abc import Mapping

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
)

__all__ = ["Narrowing", "fragments_of", "narrow"]

# The selection set a fragment holds, the type it narrows to (None when its condition names
# no type of the schema: validation reports that), and for a spread the definition it names.
Narrowing = tuple[SelectionSetNode, GraphQLNamedType | None, FragmentDefinitionNode | None]


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def narrow(
    selection: SelectionNode,
    parent: GraphQLNamedType | None,
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Narrowing | None:
    """For an inline fragment or a spread: what it selects, on which type. None for a field,
    or for a spread of a fragment the document does not define."""
    if isinstance(selection, InlineFragmentNode):
        condition = selection.type_condition
        narrowed = schema.get_type(condition.name.value) if condition is not None else parent
        return selection.selection_set, narrowed, None
    if isinstance(selection, FragmentSpreadNode):
        fragment = fragments.get(selection.name.value)
        if fragment is None:
            return None
        return fragment.selection_set, schema.get_type(fragment.type_condition.name.value), fragment
    return None
