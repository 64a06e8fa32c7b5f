"""CSRF prevention: Apollo Server 4's rule, framework-free, on by default.

A browser sends a cross-site request without asking first (no CORS preflight) only when its
``Content-Type`` is absent or one of the three "simple" types. Such a request must carry a
non-empty header from ``csrf_required_headers`` — a header a cross-site page cannot add
without a preflight, which the server's CORS policy then answers. Every other request was
either preflighted or comes from a non-browser client, and passes. GET and POST alike: a
cross-site ``<img src="/graphql?query=...">`` is as much a request as a form post.

Complexity: O(number of required headers) per request.

>>> rule = CsrfPrevention(("apollo-require-preflight",))
>>> rule.violation({"content-type": "application/json"}) is None
True
>>> rule.violation({"content-type": "text/plain"}).code
<ErrorCode.BAD_REQUEST: 'BAD_REQUEST'>
>>> rule.violation({"apollo-require-preflight": "true"}) is None
True
"""

from __future__ import annotations

from .errors import ErrorCode, GuardError

__all__ = ["SIMPLE_CONTENT_TYPES", "CsrfPrevention"]

# The content types a browser sends cross-site without a CORS preflight (Fetch standard).
SIMPLE_CONTENT_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)


class CsrfPrevention:
    """Built once per configuration; :meth:`violation` runs per request."""

    def __init__(self, required_headers: tuple[str, ...]) -> None:
        self.required_headers = tuple(name.lower() for name in required_headers)
        names = ", ".join(self.required_headers)
        self.error = GuardError(
            ErrorCode.BAD_REQUEST,
            "This request may be a cross-site request forgery: send it with a "
            "`Content-Type: application/json` header, or with a non-empty header among: "
            f"{names}.",
        )

    def violation(self, headers: object) -> GuardError | None:
        """The error to answer with, or None when the request is safe to process.

        ``headers``: anything with ``get(name)`` over case-insensitive names (Starlette,
        Django or aiohttp headers; a dict with lowercase keys)."""
        get = getattr(headers, "get", None)
        if get is None:
            return self.error
        content_type = get("content-type")
        if isinstance(content_type, str):
            media_type = content_type.split(";", 1)[0].strip().lower()
            if media_type and media_type not in SIMPLE_CONTENT_TYPES:
                return None  # the browser preflighted it (or it is not a browser)
        for name in self.required_headers:
            value = get(name)
            if isinstance(value, str) and value.strip():
                return None
        return self.error
