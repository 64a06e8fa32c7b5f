"""gqlguard: a security layer for Python GraphQL servers.

>>> from graphql import build_schema
>>> schema = build_schema("type Query { books: [Book] } type Book { title: String }")
>>> result = analyze(schema, "{ books { title } }")
>>> (result.depth, result.fields, result.field_cost)
(2, 2, 1.0)
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from .analysis import Analysis, Analyzer
from .config import GuardConfig, default_config, load_config
from .directives import DIRECTIVES_SDL
from .errors import ErrorCode, GuardError
from .guard import Guard, Verdict, graphql_schema_of, request_shape_error
from .parsing import GuardRejection, parse_document
from .policies import Policies

__all__ = [
    "DIRECTIVES_SDL",
    "Analysis",
    "ErrorCode",
    "Guard",
    "GuardConfig",
    "GuardError",
    "GuardRejection",
    "Verdict",
    "analyze",
    "load_config",
]

__version__ = "0.1.0"

_analyzers: weakref.WeakKeyDictionary[Any, tuple[GuardConfig, Analyzer]] = (
    weakref.WeakKeyDictionary()
)


def analyze(
    schema: Any,
    query: str,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    config: GuardConfig | None = None,
) -> Analysis:
    """Measure one operation: every metric and the cost, with its per-coordinate breakdown.

    This measures; it does not enforce (see :class:`Guard`). The document is parsed with
    the configuration's pre-parse limits; an unparsable document, an unknown operation or
    one over a pre-parse limit raises :class:`GuardRejection` carrying the error.
    """
    malformed = request_shape_error(query, variables, operation_name)
    if malformed is not None:
        raise GuardRejection(malformed)
    config = config if config is not None else default_config()
    graphql_schema = graphql_schema_of(schema)
    cached = _analyzers.get(graphql_schema)
    if cached is not None and cached[0] == config:
        analyzer = cached[1]
    else:
        # Measuring only: no request is authorized, so no policy needs its function.
        analyzer = Guard(graphql_schema, config, policies=Policies.unavailable()).analyzer
        _analyzers[graphql_schema] = (config, analyzer)
    document, scan = parse_document(
        query,
        max_characters=config.max_characters,
        max_tokens=config.max_tokens,
        max_comments=config.max_comments,
    )
    return analyzer.analyze(
        document,
        variables=variables,
        operation_name=operation_name,
        breakdown=True,
        characters=len(query),
        tokens=scan.tokens,
        comments=scan.comments,
    )
