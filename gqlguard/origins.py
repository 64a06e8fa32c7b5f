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
>>> OriginPolicy(("https://app.example:443",)).violation(
...     {"origin": "https://app.example", "host": "api.example"}) is None
True
>>> policy.violation({"origin": "http://app.example:80", "host": "app.example"}) is None
True
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import ErrorCode, GuardError, GuardRejection

__all__ = ["OriginPolicy"]


class OriginPolicy:
    """``allowed``: origins (``scheme://host[:port]``) besides the server's own; ``"*"``
    allows every origin (explicit loosening)."""

    def __init__(self, allowed: tuple[str, ...]) -> None:
        self.any = "*" in allowed
        self.allowed = frozenset(_normal(origin) for origin in allowed if origin != "*")
        self.error = GuardError(ErrorCode.FORBIDDEN, "Cross-origin WebSocket refused.")

    def violation(self, headers: object) -> GuardError | None:
        get = getattr(headers, "get", None)
        if get is None:
            return self.error
        origin = get("origin")
        if not isinstance(origin, str) or self.any:
            return None
        normal = _normal(origin)
        if normal in self.allowed:
            return None
        host = get("host")
        scheme, _, netloc = normal.partition("://")
        if isinstance(host, str) and netloc and netloc == _without_default_port(scheme, host):
            return None
        return self.error

    def refuse_cross_site(self, headers: object) -> None:
        refused = self.violation(headers)
        if refused is not None:
            raise GuardRejection(refused)


_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _without_default_port(scheme: str, netloc: str) -> str:
    netloc = netloc.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and netloc.endswith(f":{default}"):
        return netloc[: -len(default) - 1]
    return netloc


def _normal(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, without a trailing slash or the scheme's default
    port (a browser sends ``https://app.example`` for ``https://app.example:443``)."""
    text = origin.strip().rstrip("/").lower()
    try:
        parts = urlsplit(text)
    except ValueError:
        return text  # matches no allowed origin and no host
    if not parts.scheme or not parts.netloc:
        return text
    return f"{parts.scheme}://{_without_default_port(parts.scheme, parts.netloc)}"
