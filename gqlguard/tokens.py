"""Principals from bearer JWTs, verified with PyJWT and nothing taken on trust.

* One key source: a shared secret (HS256), a PEM public key (RS256, ES256) or a JWKS (URL
  with PyJWKClient's key cache, or a file). The algorithm allow-list follows the key kind,
  so an HS256 token "signed" with the RSA public key is refused, and ``alg: none`` always is.
* ``exp``, ``iss``, ``aud`` and ``sub`` are required; issuer and audience are always checked.
* No ``Authorization`` header is the anonymous principal. A header that is present but
  unusable (malformed, expired, wrong issuer, bad signature, …) is an :class:`AuthenticationError`
  — HTTP 401 ``UNAUTHENTICATED`` — and never anonymous.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

try:
    import jwt as pyjwt
except ImportError:  # pragma: no cover - the `jwt` extra is not installed
    pyjwt = None  # type: ignore[assignment]

from .authorization import Principal
from .config import GuardConfig
from .errors import ErrorCode, GuardError, GuardRejection
from .extras import missing

__all__ = ["AuthenticationError", "JWTAuthenticator", "mint_token", "scopes_from_claim"]

_SYMMETRIC = ("HS256",)
_ASYMMETRIC = ("RS256", "ES256")
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")


class AuthenticationError(GuardRejection):
    """A credential was presented and is not acceptable. Never carries the reason to clients."""

    def __init__(self, *_: Any) -> None:
        super().__init__(
            GuardError(ErrorCode.UNAUTHENTICATED, "Invalid or expired credentials."),
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def scopes_from_claim(value: Any) -> frozenset[str]:
    """``"a b"`` (OAuth ``scope``) or ``["a", "b"]`` (``scp``, ``permissions``)."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    return frozenset()


class JWTAuthenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        if pyjwt is None and any(
            key is not None
            for key in (config.jwt_secret, config.jwt_public_key, config.jwt_jwks_url)
        ):
            raise missing("jwt", "JWT verification")
        self._key: Any = None
        self._jwks_client: pyjwt.PyJWKClient | None = None
        self._jwks: pyjwt.PyJWKSet | None = None
        if config.jwt_secret is not None:
            self._key = config.jwt_secret.get_secret_value()
            default: tuple[str, ...] = _SYMMETRIC
        elif config.jwt_public_key is not None:
            self._key = _pem(config.jwt_public_key)
            default = _ASYMMETRIC
        elif config.jwt_jwks_url is not None:
            source = config.jwt_jwks_url
            if source.startswith(("https://", "http://")):
                self._jwks_client = pyjwt.PyJWKClient(source, cache_keys=True, lifespan=300)
            else:
                self._jwks = pyjwt.PyJWKSet.from_json(Path(source).read_text())
            default = _ASYMMETRIC
        else:
            default = ()
        self.algorithms = list(config.jwt_algorithms or default)
        if self._key is not None and isinstance(self._key, str) and config.jwt_secret is None:
            # A public key never verifies an HMAC: that is the RS256 -> HS256 confusion attack.
            self.algorithms = [a for a in self.algorithms if not a.upper().startswith("HS")]

    @property
    def configured(self) -> bool:
        return bool(self.algorithms) and (
            self._key is not None or self._jwks_client is not None or self._jwks is not None
        )

    def principal(self, authorization: str | None) -> Principal:
        """The principal for this header value; raises :class:`AuthenticationError`."""
        if authorization is None:
            return Principal.anonymous()
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not self.configured:
            raise AuthenticationError
        try:
            claims = pyjwt.decode(
                token,
                self._verification_key(token),
                algorithms=self.algorithms,
                audience=self.config.jwt_audience,
                issuer=self.config.jwt_issuer,
                leeway=self.config.jwt_leeway,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True},
            )
        except (pyjwt.PyJWTError, ValueError, TypeError, KeyError):
            raise AuthenticationError from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError
        scopes = scopes_from_claim(claims.get(self.config.jwt_scope_claim))
        return Principal(subject=subject, scopes=scopes, claims=claims)

    def _verification_key(self, token: str) -> Any:
        if self._jwks_client is not None:
            return self._jwks_client.get_signing_key_from_jwt(token).key
        if self._jwks is not None:
            kid = pyjwt.get_unverified_header(token).get("kid")
            for key in self._jwks.keys:
                if key.key_id == kid:
                    return key.key
            raise KeyError("no key with this kid")
        return self._key


def _pem(value: str) -> str:
    if "-----BEGIN" in value:
        return value
    return Path(value).read_text()


def mint_token(
    secret: str,
    *,
    subject: str,
    scopes: str = "",
    issuer: str,
    audience: str,
    ttl: int = 3600,
    scope_claim: str = "scope",
    algorithm: str = "HS256",
) -> str:
    """An HMAC (HS256, HS384 or HS512) token for development (the demo's secret); never for
    production keys."""
    if pyjwt is None:
        raise missing("jwt", "Minting a token")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
    }
    if scopes:
        claims[scope_claim] = scopes
    return pyjwt.encode(claims, secret, algorithm=algorithm)
