"""Stable error codes and the one error type every protection reports.

Errors are data: clients and tests branch on ``extensions.code``, never on message text.

>>> error = GuardError(ErrorCode.DEPTH_LIMIT_EXCEEDED, "Query is too deep.", measured=12, limit=10)
>>> error.formatted(expose_limits=True)["extensions"]
{'code': 'DEPTH_LIMIT_EXCEEDED', 'measured': 12, 'limit': 10}
>>> error.formatted(expose_limits=False)["extensions"]
{'code': 'DEPTH_LIMIT_EXCEEDED'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from graphql import GraphQLError, SourceLocation

__all__ = ["HTTP_STATUS", "LIMIT_CODES", "ErrorCode", "GuardError", "GuardRejection"]


class ErrorCode(StrEnum):
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    DEPTH_LIMIT_EXCEEDED = "DEPTH_LIMIT_EXCEEDED"
    ALIAS_LIMIT_EXCEEDED = "ALIAS_LIMIT_EXCEEDED"
    DIRECTIVE_LIMIT_EXCEEDED = "DIRECTIVE_LIMIT_EXCEEDED"
    TOKEN_LIMIT_EXCEEDED = "TOKEN_LIMIT_EXCEEDED"
    CHARACTER_LIMIT_EXCEEDED = "CHARACTER_LIMIT_EXCEEDED"
    FIELD_LIMIT_EXCEEDED = "FIELD_LIMIT_EXCEEDED"
    WORK_LIMIT_EXCEEDED = "WORK_LIMIT_EXCEEDED"
    OPERATION_LIMIT_EXCEEDED = "OPERATION_LIMIT_EXCEEDED"
    BATCH_LIMIT_EXCEEDED = "BATCH_LIMIT_EXCEEDED"
    COST_ESTIMATED_TOO_EXPENSIVE = "COST_ESTIMATED_TOO_EXPENSIVE"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
    PERSISTED_QUERY_ID_REQUIRED = "PERSISTED_QUERY_ID_REQUIRED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHORIZED_FIELD_OR_TYPE = "UNAUTHORIZED_FIELD_OR_TYPE"
    RATE_LIMITED = "RATE_LIMITED"
    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


LIMIT_CODES = frozenset(
    {
        ErrorCode.DEPTH_LIMIT_EXCEEDED,
        ErrorCode.ALIAS_LIMIT_EXCEEDED,
        ErrorCode.DIRECTIVE_LIMIT_EXCEEDED,
        ErrorCode.TOKEN_LIMIT_EXCEEDED,
        ErrorCode.CHARACTER_LIMIT_EXCEEDED,
        ErrorCode.FIELD_LIMIT_EXCEEDED,
        ErrorCode.WORK_LIMIT_EXCEEDED,
        ErrorCode.OPERATION_LIMIT_EXCEEDED,
        ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
    }
)
"""The codes of the static limits: one element over any of them refuses a whole batch."""

# The one status table: what a transport answers when this code rejects the whole request
# (GraphQL-over-HTTP: request errors are 400 for application/graphql-response+json clients;
# every code not listed is 400). Persisted-query misses and "not supported" are 200, as Apollo
# Server answers them, so APQ clients retry with the query instead of giving up; an unknown
# safelist id is 404, as Apollo Router answers it.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.PERSISTED_QUERY_NOT_IN_LIST: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: 200,
    ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED: 200,
}


@dataclass(frozen=True, slots=True)
class GuardError:
    """One rejection: a stable code, a message naming no schema element, optional numbers."""

    code: ErrorCode
    message: str
    measured: float | int | None = None
    limit: float | int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # (line, column) of what the error is about, as graphql-core reports it (1-based).
    locations: tuple[tuple[int, int], ...] = ()

    def formatted(self, *, expose_limits: bool = True) -> dict[str, Any]:
        """The error as it appears in a GraphQL response's ``errors`` list."""
        formatted: dict[str, Any] = {"message": self.message}
        if self.locations:
            formatted["locations"] = [
                {"line": line, "column": column} for line, column in self.locations
            ]
        formatted["extensions"] = self.extensions(expose_limits)
        return formatted

    def extensions(self, expose_limits: bool = True) -> dict[str, Any]:
        extensions: dict[str, Any] = {"code": self.code.value}
        if expose_limits:
            if self.measured is not None:
                extensions["measured"] = self.measured
            if self.limit is not None:
                extensions["limit"] = self.limit
            extensions.update(self.extra)
        return extensions

    def to_graphql_error(self, *, expose_limits: bool = True) -> GraphQLError:
        error = GraphQLError(self.message, extensions=self.extensions(expose_limits))
        if self.locations:
            error.locations = [SourceLocation(line, column) for line, column in self.locations]
        return error


class GuardRejection(Exception):
    """The one rejection type: raised inside the pipeline to stop a request with one error,
    the HTTP status :data:`HTTP_STATUS` gives its code, and the headers it needs."""

    def __init__(
        self, error: GuardError, headers: dict[str, str] | None = None, *, logged: bool = False
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = dict(headers or {})
        # The guard already wrote this refusal's security event (a batch element's verdict).
        self.logged = logged

    @property
    def status(self) -> int:
        return HTTP_STATUS.get(self.error.code, 400)
