"""Exact counts of the analysis pass (DESIGN §2) and its behaviour on hostile documents."""

from __future__ import annotations

import time

import pytest
from graphql import ASTValidationRule, GraphQLSchema, specified_rules

from gqlguard import ErrorCode, Guard, GuardConfig, GuardRejection, analyze

UNLIMITED = GuardConfig.unlimited()


def test_single_field_has_depth_one(library: GraphQLSchema) -> None:
    result = analyze(library, "{ books { title } }")
    assert (result.depth, result.fields, result.root_fields, result.aliases) == (2, 2, 1, 0)


def test_typename_is_a_field_and_its_aliases_count(library: GraphQLSchema) -> None:
    result = analyze(library, "{ __typename a: __typename b: __typename }")
    assert (result.depth, result.fields, result.aliases) == (1, 3, 2)


def test_fragment_spread_three_times_counts_every_spread(library: GraphQLSchema) -> None:
    query = """
    { book(id: 1) { ...F } b2: book(id: 2) { ...F } b3: book(id: 3) { ...F } }
    fragment F on Book { t1: title t2: title author { name } }
    """
    result = analyze(library, query)
    # 3 book fields, each with 4 fields from F (t1, t2, author, name)
    assert result.fields == 3 + 3 * 4
    assert result.aliases == 2 + 3 * 2
    assert result.depth == 3
    assert result.root_fields == 3


def test_inline_fragments_and_spreads_add_no_depth(library: GraphQLSchema) -> None:
    query = """
    { node(id: 1) { ... on Book { ... on Book { ...G } } } }
    fragment G on Book { title }
    """
    assert analyze(library, query).depth == 2


def test_directives_count_on_operation_spreads_inline_fragments_and_definitions(
    library: GraphQLSchema,
) -> None:
    query = """
    query Q($a: Boolean = true @deprecated) @skip(if: false) {
      book(id: 1) @include(if: $a) {
        ...F @include(if: true)
        ...F @skip(if: false)
        ... on Book @include(if: true) { title @skip(if: false) }
      }
    }
    fragment F on Book @deprecated { id }
    """
    # operation 1, variable definition 1, book 1, two spreads 2, fragment definition 1 per
    # spread 2, inline fragment 1, title 1
    assert analyze(library, query).directives == 9


def test_only_the_executed_operation_is_measured(library: GraphQLSchema) -> None:
    query = "query A { books { title } } query B { books { author { books { title } } } }"
    assert analyze(library, query, operation_name="A").depth == 2
    assert analyze(library, query, operation_name="B").depth == 4
    assert analyze(library, query, operation_name="B").operations == 2


def test_unused_fragments_are_not_counted(library: GraphQLSchema) -> None:
    query = "{ books { title } } fragment Unused on Book { a: title b: title c: title }"
    assert analyze(library, query).aliases == 0


def test_limits_are_inclusive(library: GraphQLSchema) -> None:
    guard = Guard(library, GuardConfig(max_depth=3, max_aliases=2))
    assert guard.check("{ books { author { name } } }").accepted
    assert not guard.check("{ books { author { books { id } } } }").accepted
    assert guard.check("{ a: books { id } b: books { id } }").accepted
    assert [
        e.code for e in guard.check("{ a: books { id } b: books { id } c: books { id } }").errors
    ] == [ErrorCode.ALIAS_LIMIT_EXCEEDED]


def test_rejection_reports_measured_value_and_limit_unless_hidden(library: GraphQLSchema) -> None:
    query = "{ books { author { books { id } } } }"
    shown = Guard(library, GuardConfig(max_depth=2)).check(query).formatted_errors()[0]
    assert shown["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED", "measured": 4, "limit": 2}
    hidden = Guard(library, GuardConfig(max_depth=2, expose_limits=False)).check(query)
    assert hidden.formatted_errors()[0]["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED"}


def test_alias_flood_on_typename_is_rejected(library: GraphQLSchema) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
    assert [e.code for e in Guard(library).check(query).errors] == [ErrorCode.ALIAS_LIMIT_EXCEEDED]


def test_measure_mode_reports_but_never_rejects(library: GraphQLSchema) -> None:
    guard = Guard(library, GuardConfig(max_depth=1, mode="measure"))
    verdict = guard.check("{ books { title } }")
    assert verdict.accepted
    assert verdict.analysis is not None and verdict.analysis.depth == 2


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ books { title }", ErrorCode.GRAPHQL_PARSE_FAILED),
        ("", ErrorCode.GRAPHQL_PARSE_FAILED),
        ("   # only a comment\n", ErrorCode.GRAPHQL_PARSE_FAILED),
        ("{ books { ...Missing } }", ErrorCode.GRAPHQL_VALIDATION_FAILED),
        ("{ books { ...A } } fragment A on Book { ...A }", ErrorCode.GRAPHQL_VALIDATION_FAILED),
        (
            "{ books { ...A } } fragment A on Book { ...B } fragment B on Book { ...C }"
            " fragment C on Book { ...A }",
            ErrorCode.GRAPHQL_VALIDATION_FAILED,
        ),
        ("fragment A on Book { id }", ErrorCode.BAD_REQUEST),
        ("query A { books { id } } query B { books { id } }", ErrorCode.BAD_REQUEST),
    ],
)
def test_bad_documents_get_a_coded_error(
    library: GraphQLSchema, query: str, code: ErrorCode
) -> None:
    verdict = Guard(library).check(query)
    assert [e.code for e in verdict.errors][:1] == [code]
    for error in verdict.formatted_errors():
        assert "Traceback" not in error["message"]


def test_unknown_operation_name_is_a_bad_request(library: GraphQLSchema) -> None:
    verdict = Guard(library).check("query A { books { id } }", operation_name="B")
    assert [e.code for e in verdict.errors] == [ErrorCode.BAD_REQUEST]


def test_500_fragment_ring_is_detected_without_recursion(library: GraphQLSchema) -> None:
    ring = " ".join(f"fragment F{i} on Book {{ ...F{(i + 1) % 500} }}" for i in range(500))
    verdict = Guard(library, UNLIMITED).check("{ books { ...F0 } } " + ring)
    assert [e.code for e in verdict.errors] == [ErrorCode.GRAPHQL_VALIDATION_FAILED]


def test_5000_chained_fragments_are_analysed_without_recursion_error(
    library: GraphQLSchema,
) -> None:
    chain = " ".join(f"fragment F{i} on Book {{ id ...F{i + 1} }}" for i in range(4999))
    query = "{ books { ...F0 } } " + chain + " fragment F4999 on Book { title }"
    result = analyze(library, query, config=UNLIMITED)
    assert result.fields == 1 + 4999 + 1
    assert result.depth == 2


def test_10000_level_nesting_is_rejected_as_too_deep(library: GraphQLSchema) -> None:
    query = "{ books " * 10_000 + "{ id }" + " }" * 10_000
    verdict = Guard(library, UNLIMITED).check(query)
    assert [e.code for e in verdict.errors] == [ErrorCode.DEPTH_LIMIT_EXCEEDED]


def test_megabyte_of_comments_is_rejected_before_parsing(library: GraphQLSchema) -> None:
    query = "#" + "x" * 1_000_000 + "\n{ books { id } }"
    assert [e.code for e in Guard(library).check(query).errors] == [
        ErrorCode.CHARACTER_LIMIT_EXCEEDED
    ]
    many = "#\n" * 5_000 + "{ books { id } }"
    assert [
        e.code for e in Guard(library, GuardConfig(max_characters=None)).check(many).errors
    ] == [ErrorCode.TOKEN_LIMIT_EXCEEDED]


def test_token_flood_is_rejected(library: GraphQLSchema) -> None:
    query = "{ books { " + "id " * 1_200 + "} }"
    assert [e.code for e in Guard(library).check(query).errors] == [ErrorCode.TOKEN_LIMIT_EXCEEDED]


def test_fragment_bomb_is_counted_exactly_without_expanding_it(library: GraphQLSchema) -> None:
    levels = 40
    fragments = [f"fragment L{i} on Book {{ ...L{i + 1} ...L{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment L{levels} on Book {{ id }}")
    query = "{ books { ...L0 } } " + " ".join(fragments)
    result = analyze(library, query, config=UNLIMITED)
    assert result.fields == 1 + 2**levels
    assert result.depth == 2


def test_guard_rejects_fragment_bomb_before_validation(library: GraphQLSchema) -> None:
    validated: list[str] = []

    class Recording(ASTValidationRule):  # a user's rule: it sees every validated document
        def enter_document(self, *_: object) -> None:
            validated.append("document")

    levels = 30
    fragments = [f"fragment L{i} on Book {{ ...L{i + 1} ...L{i + 1} }}" for i in range(levels)]
    query = "{ books { ...L0 } } " + " ".join(fragments) + f" fragment L{levels} on Book {{ id }}"
    guard = Guard(
        library, GuardConfig(max_tokens=None), validation_rules=[*specified_rules, Recording]
    )
    verdict = guard.check(query)
    assert [e.code for e in verdict.errors] == [ErrorCode.FIELD_LIMIT_EXCEEDED]
    assert validated == []  # refused before any rule ran
    assert guard.check("{ books { id } }").accepted
    assert validated == ["document"]  # the recording rule does run when validation does


def test_analysis_raises_a_rejection_not_an_exception_for_bad_syntax(
    library: GraphQLSchema,
) -> None:
    with pytest.raises(GuardRejection) as caught:
        analyze(library, "{ books { ")
    assert caught.value.error.code is ErrorCode.GRAPHQL_PARSE_FAILED


def test_validation_errors_never_suggest(library: GraphQLSchema) -> None:
    guard = Guard(library, GuardConfig(mask_errors=False))
    messages = [e.message for e in guard.check("{ books { titel } }").errors]
    assert messages and all("Did you mean" not in message for message in messages)
    masked = Guard(library).check("{ books { titel } }").formatted_errors()
    assert masked == [
        {
            "message": "The query is not valid for this API.",
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    ]
    assert "titel" not in str(masked) and "Book" not in str(masked)


def test_repeated_query_reuses_the_parsed_document(library: GraphQLSchema) -> None:
    guard = Guard(library)
    first = guard.check("{ books { title } }")
    second = guard.check("{ books { title } }")
    assert first.document is second.document
    assert first.analysis is second.analysis


def test_texts_that_never_repeat_are_not_kept(library: GraphQLSchema) -> None:
    guard = Guard(library)
    for n in range(50):
        assert guard.check(f"{{ books {{ title }} }} # {n}").accepted
    window = guard.cached_bytes  # the last 16 first sightings, waiting for a repeat
    for n in range(50, 100):
        assert guard.check(f"{{ books {{ title }} }} # {n}").accepted
    assert guard.cached_bytes == window  # no growth: nothing that never repeats is kept
    guard.check("{ books { title } } # 7")  # seen before (its fingerprint): kept now
    assert guard.cached_bytes > window


def test_variables_change_the_analysis_of_a_cached_document(library: GraphQLSchema) -> None:
    guard = Guard(library)
    query = "query($n: Int) { books(limit: $n) { pages } }"
    small = guard.check(query, {"n": 2}).analysis
    large = guard.check(query, {"n": 50}).analysis
    assert small is not None and large is not None
    assert (small.field_cost, large.field_cost) == (1 + 2 * 2, 1 + 50 * 2)


def test_adversarial_rejection_is_fast_enough_to_not_need_a_timer(library: GraphQLSchema) -> None:
    # Not a benchmark (see bench/): a sanity bound that catches exponential regressions.
    levels = 60
    fragments = [f"fragment L{i} on Book {{ ...L{i + 1} ...L{i + 1} }}" for i in range(levels)]
    query = "{ books { ...L0 } } " + " ".join(fragments) + f" fragment L{levels} on Book {{ id }}"
    started = time.perf_counter()
    Guard(library, GuardConfig(max_tokens=None)).check(query)
    assert time.perf_counter() - started < 2.0


def test_the_documents_clients_repeat_outlive_a_flood_of_new_ones(library: GraphQLSchema) -> None:
    # Least recently used first out: a document hit again is recent again.
    guard = Guard(library, GuardConfig(cache_max_bytes=400_000))
    hot = "{ books { title } }"
    first = guard.check(hot)
    for n in range(40):  # each new text seen twice, so kept: the byte budget evicts
        text = "{ books { title pages } } # " + "x" * 2_000 + str(n)
        guard.check(text)
        guard.check(text)
        assert guard.check(hot).document is first.document  # still there, refreshed
