"""Execution errors as clients may see them: classified, masked, de-duplicated, capped.

Four kinds of error come out of execution:

* errors that already carry a code (gqlguard's refusals and denials, the app's own coded
  errors): kept as they are;
* syntax errors (``GRAPHQL_PARSE_FAILED``): they describe the client's own text, kept;
* graphql-core's own request errors (variable coercion at execution time): the client's
  fault, answered with ``GRAPHQL_VALIDATION_FAILED`` and, when masked, a generic message;
* anything raised while resolving (an exception, or a ``GraphQLError`` from a resolver or a
  permission class): ``INTERNAL_SERVER_ERROR``; with ``mask_errors`` the client reads
  ``Unexpected error.``, the server log gets the full error and the request id.

Every error keeps its ``locations`` and ``path``.

At most ``max_errors`` errors of one code are returned: 1,000 failing aliases do not become
1,000 errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from graphql import GraphQLError, GraphQLSyntaxError

from .config import GuardConfig
from .errors import ErrorCode

__all__ = ["MASKED_VARIABLES_MESSAGE", "UNEXPECTED_MESSAGE", "mask_execution_errors"]

log = logging.getLogger("gqlguard.execution")

UNEXPECTED_MESSAGE = "Unexpected error."
MASKED_VARIABLES_MESSAGE = "The variables are not valid for this operation."
# graphql-core appends suggestions as a last sentence; defence in depth where a code path
# does not take `hide_suggestions`.
_SUGGESTION = re.compile(r"\s*Did you mean [^\n]*\?\s*$")


_QUOTED = re.compile(r"'([^']*)'")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
HIDDEN_NAME = "'<hidden>'"


def without_suggestions(message: str) -> str:
    return _SUGGESTION.sub("", message)


def names_in(text: str) -> frozenset[str]:
    return frozenset(_NAME.findall(text))


def redact_unsent_names(message: str, sent: frozenset[str]) -> str:
    """Hide every quoted name in ``message`` that the client did not write itself.

    graphql-core quotes the names it mentions ('User', '[Post!]!'); an unmasked message may
    repeat the client's own words but never teach it a type, field or argument name
    (clairvoyance learns return types from "Field 'x' of type 'T' ..." alone).
    """

    def replace(match: re.Match[str]) -> str:
        if all(name in sent for name in _NAME.findall(match.group(1))):
            return match.group(0)
        return HIDDEN_NAME

    return _QUOTED.sub(replace, without_suggestions(message))


def mask_execution_errors(
    errors: Iterable[GraphQLError],
    config: GuardConfig,
    request_id: str | None = None,
    *,
    log_resolver_errors: bool = True,
) -> list[GraphQLError]:
    """The errors to put in a response, in their original order.

    ``log_resolver_errors=False`` where the host logs them already (Strawberry's
    ``process_errors``): one error, one log record.

    Only the errors returned are logged, plus one line counting the rest: a thousand
    failing aliases must not become a thousand tracebacks in the server's log either.
    """
    masked: list[GraphQLError] = []
    per_code: dict[str, int] = {}
    dropped = 0
    for error in errors:
        code = _code_of(error)
        seen = per_code.get(code, 0)
        per_code[code] = seen + 1
        if seen >= config.max_errors:
            dropped += 1
            continue
        masked.append(_masked(error, code, config, request_id, log_resolver_errors))
    if dropped:
        log.error("request_id=%s: %d more errors not returned", request_id, dropped)
    return masked


def _code_of(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code is not None:
        return str(code)
    if isinstance(error, GraphQLSyntaxError):
        return ErrorCode.GRAPHQL_PARSE_FAILED.value
    if error.path is not None:
        # Raised while resolving (a resolver, a permission class — a GraphQLError too): the
        # server's text, never the client's fault.
        return ErrorCode.INTERNAL_SERVER_ERROR.value
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return ErrorCode.GRAPHQL_VALIDATION_FAILED.value
    if refuses_operation_type(original):
        return ErrorCode.BAD_REQUEST.value
    return ErrorCode.INTERNAL_SERVER_ERROR.value


def refuses_operation_type(error: BaseException | None) -> bool:
    """A host refusing an operation type on this transport (Strawberry: a query or mutation
    over the legacy graphql-ws protocol, which carries subscriptions only): the client's
    request, never a server fault. Named, not imported: the core does not import Strawberry."""
    return type(error).__name__ == "InvalidOperationTypeError"


def _masked(
    error: GraphQLError,
    code: str,
    config: GuardConfig,
    request_id: str | None,
    log_resolver_errors: bool,
) -> GraphQLError:
    """The error with its message replaced as needed; ``locations``, ``path`` and the
    original error (for the server's own hooks, never serialized) are kept."""
    if (error.extensions and "code" in error.extensions) or isinstance(error, GraphQLSyntaxError):
        # A syntax error describes the client's own text: nothing to hide, and hosts tell it
        # by its type (graphql-transport-ws closes with 4400 for one).
        return error
    if code == ErrorCode.GRAPHQL_VALIDATION_FAILED.value:
        message = MASKED_VARIABLES_MESSAGE if config.mask_errors else error.message
        message = without_suggestions(message)
    elif code == ErrorCode.BAD_REQUEST.value:
        message = "This operation type is not served on this transport."
    else:
        if log_resolver_errors:
            log.error(
                "resolver error request_id=%s path=%s: %s",
                request_id,
                error.path,
                error.message,
                exc_info=error.original_error,
            )
        message = UNEXPECTED_MESSAGE if config.mask_errors else error.message
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={"code": code},
    )
