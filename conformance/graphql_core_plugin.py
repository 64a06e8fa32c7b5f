"""A pytest plugin that puts gqlguard's document path where graphql-core's suite calls its own.

Loaded with ``-p conformance.graphql_core_plugin`` before any of the suite's modules import
graphql-core's names, it replaces

- ``graphql.parse`` with gqlguard's parse entry point (:func:`gqlguard.parsing.parse_document`:
  the pre-scan, then graphql-core's parser), so every document the suite parses — and the
  execution tests then execute — is the one gqlguard hands on;
- ``graphql.validate`` with gqlguard's validation path (:func:`gqlguard.validation.
  validate_as_sent`: every rule on the document as sent, the field-merge comparisons on the
  work meter of the default configuration).

Limits gqlguard sets on top of graphql-core (pre-parse limits, the analysis) are not what the
suite tests and stay off here, except what is by design: the pre-scan's nesting cap and the
work meter's budget, listed with their reasons in conformance/graphql_core_by_design.txt.
"""

from __future__ import annotations

import sys
from typing import Any

import graphql
from graphql import GraphQLError, GraphQLSyntaxError, Source
from graphql.language import parser as graphql_parser
from graphql.validation.validate import ValidationAbortedError

from gqlguard.config import GuardConfig
from gqlguard.errors import ErrorCode, GuardRejection
from gqlguard.parsing import parse_document
from gqlguard.validation import validate_as_sent
from gqlguard.work import WorkMeter, work_budget

_original_parse = graphql_parser.parse
_original_validate = graphql.validate
_BUDGET = work_budget(GuardConfig())


def guarded_parse(source: Any, **options: Any) -> Any:
    body = source.body if isinstance(source, Source) else source
    if not isinstance(body, str):
        return _original_parse(source, **options)
    try:
        document, _ = parse_document(
            body,
            max_characters=None,
            max_tokens=None,
            max_comments=None,
            source=source if isinstance(source, Source) else None,
            parser_options=options,
        )
    except GuardRejection as rejection:
        if rejection.error.code is ErrorCode.GRAPHQL_PARSE_FAILED:
            # gqlguard refused: graphql-core's own error (its exact message and location) is
            # what the suite checks, and graphql-core must refuse the text too.
            _original_parse(source, **options)
            raise AssertionError("gqlguard refused a document graphql-core parses") from None
        raise GraphQLSyntaxError(
            Source(body) if not isinstance(source, Source) else source, 0, rejection.error.message
        ) from None
    return document


def guarded_validate(
    schema: Any, document_ast: Any, rules: Any = None, max_errors: int | None = None, **options: Any
) -> list[GraphQLError]:
    if rules is None:
        rules = graphql.specified_rules
    try:
        return validate_as_sent(
            schema, document_ast, list(rules), WorkMeter(_BUDGET), max_errors=max_errors, **options
        )
    except GuardRejection:
        return [ValidationAbortedError("Validation aborted.")]


def _install() -> None:
    for module in list(sys.modules.values()):
        if module is None or not getattr(module, "__name__", "").startswith("graphql"):
            continue
        if getattr(module, "parse", None) is _original_parse:
            module.parse = guarded_parse  # type: ignore[attr-defined]
        if getattr(module, "validate", None) is _original_validate:
            module.validate = guarded_validate  # type: ignore[attr-defined]


_install()
