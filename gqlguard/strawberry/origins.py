"""Cross-site WebSocket hijacking: the handshake's ``Origin`` against an allow-list.

A browser opens a WebSocket to any site with the user's cookies, and the handshake (a GET
without a content type) passes every CORS and CSRF rule; the one header a page cannot forge
is ``Origin``. A handshake whose ``Origin`` names another site than the one it was sent to
(its ``Host``), and is not in ``websocket_origins``, is refused. No ``Origin`` at all is a
non-browser client (they do not send one) and passes: hijacking needs a browser.

>>> policy = OriginPolicy(())
>>> policy.violation({"origin": "https://app.example", "host": "app.example"}) is None
True
>>> policy.violation({"origin": "https://evil.example", "host": "app.example"}).code
<ErrorCode.FORBIDDEN: 'FORBIDDEN'>
>>> OriginPolicy(("https://evil.example",)).violation(
...     {"origin": "https://evil.example", "host": "app.example"}) is None
True
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ErrorCode, GuardError, GuardRejection

__all__ = ["OriginPolicy"]


class OriginPolicy:
    """``allowed``: origins (``scheme://host[:port]``) besides the server's own; ``"*"``
    allows every origin (explicit loosening)."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.any = "*" in allowed
        self.allowed = frozenset(origin.rstrip("/").lower() for origin in allowed)
        self.error = GuardError(ErrorCode.FORBIDDEN, "Cross-origin WebSocket refused.")

    def violation(self, headers: object) -> GuardError | None:
        get = getattr(headers, "get", None)
        if get is None:
            return self.error
        origin = get("origin")
        if not isinstance(origin, str) or self.any:
            return None
        origin = origin.strip().rstrip("/").lower()
        if origin in self.allowed:
            return None
        host = get("host")
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:
            return self.error
        if isinstance(host, str) and netloc and netloc == host.strip().lower():
            return None
        return self.error

    def refuse_cross_site(self, headers: object) -> None:
        refused = self.violation(headers)
        if refused is not None:
            raise GuardRejection(refused)
