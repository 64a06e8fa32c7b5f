"""Authorization: JWT principals, @authenticated / @requiresScopes in every mode, before execution."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from graphql import build_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries

from gqlguard import DIRECTIVES_SDL, Guard, GuardConfig
from gqlguard.authorization import Principal
from gqlguard.starlette import create_app
from schema_example.app import DEMO_JWT_AUDIENCE, DEMO_JWT_ISSUER, DEMO_JWT_SECRET, demo_config
from schema_example.data import DATA
from schema_example.schema import build_schema as build_demo_schema

EMAIL = re.compile(r"user\d+@example\.test")


def token(
    scope: str = "",
    *,
    sub: str | None = "1",
    secret: Any = DEMO_JWT_SECRET,
    algorithm: str = "HS256",
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": DEMO_JWT_ISSUER,
        "aud": DEMO_JWT_AUDIENCE,
        "exp": now + 600,
        "iat": now,
    }
    if sub is not None:
        payload["sub"] = sub
    if scope:
        payload["scope"] = scope
    payload.update(claims)
    payload = {key: value for key, value in payload.items() if value is not None}
    return jwt.encode(payload, secret, algorithm=algorithm)


def client(config: GuardConfig | None = None) -> httpx.AsyncClient:
    config = config if config is not None else demo_config()
    app = create_app(build_demo_schema(config), config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo")


def with_mode(**changes: Any) -> GuardConfig:
    return demo_config().model_copy(update=changes)


async def post(
    query: str, bearer: str | None = None, config: GuardConfig | None = None, **extra: Any
) -> tuple[httpx.Response, dict[str, Any]]:
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    context: dict[str, Any] = {}
    config = config if config is not None else demo_config()
    schema = build_demo_schema(config)

    async def context_getter(request: Any) -> dict[str, Any]:
        context["resolved"] = set()
        return context

    app = create_app(schema, config, context_getter=context_getter)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://demo"
    ) as http:
        response = await http.post("/graphql", json={"query": query, **extra}, headers=headers)
    return response, context


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors", [])]


# -- JWT ------------------------------------------------------------------------------


def _none_token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"sub": "1", "iss": DEMO_JWT_ISSUER, "aud": DEMO_JWT_AUDIENCE, "exp": now + 600}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


BAD_TOKENS = {
    "expired": lambda: token(exp=int(time.time()) - 60),
    "not yet valid": lambda: token(nbf=int(time.time()) + 600),
    "wrong issuer": lambda: token(iss="someone-else"),
    "wrong audience": lambda: token(aud="another-api"),
    "bad signature": lambda: token(secret="not-the-secret-at-all-but-long-enough"),
    "alg none": _none_token,
    "malformed": lambda: "not.a.token",
    "garbage": lambda: "%%%",
    "missing sub": lambda: token(sub=None),
    "missing exp": lambda: token(exp=None),
    "missing aud": lambda: token(aud=None),
    "missing iss": lambda: token(iss=None),
}


@pytest.mark.parametrize("make", list(BAD_TOKENS.values()), ids=list(BAD_TOKENS))
async def test_bad_tokens_are_401_never_anonymous(make: Any) -> None:
    response, context = await post("{ posts(limit: 1) { title } }", make())
    assert response.status_code == 401
    assert codes(response) == ["UNAUTHENTICATED"]
    assert response.json()["errors"][0]["message"] == "Invalid or expired credentials."
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert context == {}  # the request never reached execution


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "token abc"])
async def test_malformed_authorization_headers_are_401(header: str) -> None:
    config = demo_config()
    async with client(config) as http:
        response = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"authorization": header}
        )
    assert response.status_code == 401
    assert codes(response) == ["UNAUTHENTICATED"]


def _rsa_and_ec() -> tuple[Any, str, Any, str]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())

    def pem(key: Any) -> str:
        public: bytes = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return public.decode()

    return rsa_key, pem(rsa_key), ec_key, pem(ec_key)


async def test_public_keys_accept_rs256_and_es256_and_refuse_key_confusion(tmp_path: Any) -> None:
    rsa_key, rsa_pem, ec_key, ec_pem = _rsa_and_ec()
    base = {"jwt_issuer": DEMO_JWT_ISSUER, "jwt_audience": DEMO_JWT_AUDIENCE}
    rsa_config = GuardConfig(jwt_public_key=rsa_pem, **base)
    good, _ = await post(
        "{ viewer { name } }", token(secret=rsa_key, algorithm="RS256"), rsa_config
    )
    assert good.json()["data"] == {"viewer": {"name": "User 1"}}
    # The classic confusion: HS256 "signed" with the server's RSA public key.
    forged = jwt.api_jws.PyJWS()
    forged._algorithms["HS256"].prepare_key = lambda key: key  # type: ignore[method-assign]
    confused = forged.encode(
        json.dumps(
            {
                "sub": "1",
                "iss": DEMO_JWT_ISSUER,
                "aud": DEMO_JWT_AUDIENCE,
                "exp": int(time.time()) + 600,
            }
        ).encode(),
        rsa_pem.encode(),
        algorithm="HS256",
    )
    bad, _ = await post("{ viewer { name } }", confused, rsa_config)
    assert bad.status_code == 401
    # ES256 from a PEM, and from a JWKS file chosen by kid.
    ec_config = GuardConfig(jwt_public_key=ec_pem, **base)
    es, _ = await post("{ viewer { name } }", token(secret=ec_key, algorithm="ES256"), ec_config)
    assert es.json()["data"] == {"viewer": {"name": "User 1"}}
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    jwks_config = GuardConfig(jwt_jwks_url=str(jwks), **base)
    signed = jwt.encode(
        {"sub": "1", "iss": DEMO_JWT_ISSUER, "aud": DEMO_JWT_AUDIENCE, "exp": time.time() + 600},
        rsa_key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    by_jwks, _ = await post("{ viewer { name } }", signed, jwks_config)
    assert by_jwks.json()["data"] == {"viewer": {"name": "User 1"}}
    unknown_kid = jwt.encode(
        {"sub": "1", "iss": DEMO_JWT_ISSUER, "aud": DEMO_JWT_AUDIENCE, "exp": time.time() + 600},
        rsa_key,
        algorithm="RS256",
        headers={"kid": "k2"},
    )
    assert (await post("{ viewer { name } }", unknown_kid, jwks_config))[0].status_code == 401


def test_config_refuses_unverifiable_jwt_settings() -> None:
    with pytest.raises(ValueError, match="issuer"):
        GuardConfig(jwt_secret="s")
    with pytest.raises(ValueError, match="none"):
        GuardConfig(jwt_secret="s", jwt_issuer="i", jwt_audience="a", jwt_algorithms=("none",))


async def test_scopes_come_from_a_configured_claim() -> None:
    config = with_mode(jwt_scope_claim="permissions")
    bearer = token(permissions=["users:email"])
    response, _ = await post('{ user(id: "2") { email } }', bearer, config)
    assert response.json()["data"] == {"user": {"email": "user2@example.test"}}


async def test_own_authentication_hook_supplies_principals() -> None:
    config = demo_config()

    def authenticate(request: Any) -> Principal:
        return Principal(subject="3", scopes=frozenset({"users:email"}))

    app = create_app(build_demo_schema(config), config, authenticate=authenticate)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as h:
        response = await h.post("/graphql", json={"query": "{ viewer { email } }"})
    assert response.json()["data"] == {"viewer": {"email": "user3@example.test"}}


# -- filter (default) -------------------------------------------------------------------


async def test_filter_nulls_the_field_and_never_runs_its_resolver() -> None:
    response, context = await post('{ user(id: "1") { name email } posts(limit: 1) { title } }')
    body = response.json()
    assert body["data"]["user"] is None  # email is non-null: the null bubbles to `user`
    assert body["data"]["posts"] == [{"title": DATA.posts[0].title}]
    assert body["errors"] == [
        {
            "message": "Unauthorized field or type.",
            "extensions": {"code": "UNAUTHORIZED_FIELD_OR_TYPE", "path": ["user", "email"]},
        }
    ]
    assert "User.email" not in context["resolved"]
    assert "Post.title" in context["resolved"]


async def test_filter_allows_what_the_scopes_allow() -> None:
    response, context = await post('{ user(id: "1") { email } }', token("users:email"))
    assert response.json() == {
        "data": {"user": {"email": "user1@example.test"}},
        "extensions": response.json()["extensions"],
    }
    assert "User.email" in context["resolved"]


FRAGMENT_FORMS = {
    "named fragment": '{ user(id: "2") { ...F } } fragment F on User { name email }',
    "inline fragment": '{ user(id: "2") { ... on User { name email } } }',
    "interface": '{ node(id: "User:2") { id ... on User { email } } }',
    "union": '{ search(term: "User 2", limit: 1) { ... on User { email } } }',
    "alias": '{ u: user(id: "2") { mail: email } }',
    "nested list": "{ users(first: 2) { nodes { posts(limit: 1) { author { email } } } } }",
}


@pytest.mark.parametrize("query", list(FRAGMENT_FORMS.values()), ids=list(FRAGMENT_FORMS))
async def test_filter_sees_through_every_selection_form(query: str) -> None:
    anonymous, context = await post(query)
    assert "User.email" not in context["resolved"]
    assert not EMAIL.search(anonymous.text)
    assert "UNAUTHORIZED_FIELD_OR_TYPE" in codes(anonymous)
    allowed, allowed_context = await post(query, token("users:email"))
    assert "errors" not in allowed.json()
    assert EMAIL.search(allowed.text)
    assert "User.email" in allowed_context["resolved"]


async def test_or_of_and_sets() -> None:
    query = '{ user(id: "1") { orders(first: 1) { id } } }'
    for scope, allowed in [
        ("orders:read", False),
        ("users:read", False),
        ("orders:read users:read", True),
        ("admin", True),
        ("", False),
    ]:
        response, context = await post(query, token(scope))
        assert ("User.orders" in context["resolved"]) is allowed, scope
        assert ("errors" not in response.json()) is allowed, scope


async def test_unauthorized_mutation_has_no_side_effect() -> None:
    before = set(DATA.deleted_users)
    for bearer in (None, token("users:email")):
        response, context = await post('mutation { deleteUser(id: "5") }', bearer)
        assert codes(response) == ["UNAUTHORIZED_FIELD_OR_TYPE"]
        assert response.json()["data"] is None  # Boolean! at the root: null bubbles to data
        assert not context.get("resolved")
    assert DATA.deleted_users == before


async def test_anonymous_viewer_is_null_with_an_error_and_nothing_executes() -> None:
    response, context = await post("{ viewer { name } }")
    assert response.json()["data"] == {"viewer": None}
    assert codes(response) == ["UNAUTHORIZED_FIELD_OR_TYPE"]
    assert context["resolved"] == set()


# -- reject, dry_run, hidden -----------------------------------------------------------


async def test_reject_mode_returns_no_data_and_runs_nothing() -> None:
    config = with_mode(authorization_mode="reject")
    response, context = await post(
        '{ posts(limit: 1) { title } user(id: "1") { email } }', None, config
    )
    assert "data" not in response.json()  # a request error: nothing executed, no data entry
    assert codes(response) == ["UNAUTHORIZED_FIELD_OR_TYPE"]
    assert context["resolved"] == set()


async def test_dry_run_executes_everything_and_reports_what_it_would_remove() -> None:
    config = with_mode(authorization_mode="dry_run")
    response, context = await post('{ user(id: "1") { email } }', None, config)
    body = response.json()
    assert body["data"] == {"user": {"email": "user1@example.test"}}
    assert body["extensions"]["authorization"] == {"dryRun": True, "wouldDeny": [["user", "email"]]}
    assert "User.email" in context["resolved"]


@pytest.mark.parametrize("masked", [True, False])
async def test_hidden_fields_look_exactly_like_fields_that_do_not_exist(masked: bool) -> None:
    config = with_mode(hide_unauthorized_fields=True, mask_errors=masked)
    denied, context = await post('{ user(id: "1") { email } }', None, config)
    unknown, _ = await post('{ user(id: "1") { emale } }', None, config)
    assert denied.status_code == unknown.status_code == 200
    assert denied.text.replace("email", "emale") == unknown.text
    assert context["resolved"] == set()
    allowed, _ = await post('{ user(id: "1") { email } }', token("users:email"), config)
    assert allowed.json()["data"] == {"user": {"email": "user1@example.test"}}


async def test_hidden_fields_are_absent_from_introspection() -> None:
    config = with_mode(hide_unauthorized_fields=True, introspection="on")
    query = '{ __type(name: "User") { fields { name } } }'
    anonymous, _ = await post(query, None, config)
    scoped, _ = await post(query, token("users:email"), config)
    anonymous_fields = {f["name"] for f in anonymous.json()["data"]["__type"]["fields"]}
    scoped_fields = {f["name"] for f in scoped.json()["data"]["__type"]["fields"]}
    assert "email" not in anonymous_fields and "orders" not in anonymous_fields
    assert "email" in scoped_fields and "name" in anonymous_fields


async def test_field_middleware_is_installed_only_when_something_needs_enforcing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The guard's per-field hook is left out when the adapter's verdict needs nothing
    # enforced while resolving (a speed-up); it must still run for filter-mode denials.
    from gqlguard.execution import Enforcement

    calls: list[str] = []
    original = Enforcement.resolve

    def counting(self: Any, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(info.field_name)
        return original(self, _next, root, info, *args, **kwargs)

    monkeypatch.setattr(Enforcement, "resolve", counting)
    allowed, context = await post('{ user(id: "1") { name } }')
    assert allowed.json()["data"] == {"user": {"name": DATA.users[0].name}}
    assert calls == [] and "User.name" in context["resolved"]
    denied, context = await post('{ user(id: "1") { name email } }')
    assert denied.json()["data"] == {"user": None}
    assert "email" in calls and "User.email" not in context["resolved"]
    calls.clear()
    hidden = with_mode(hide_unauthorized_fields=True, introspection="on")
    fields, _ = await post('{ __type(name: "User") { fields { name } } }', None, hidden)
    assert "fields" in calls
    assert "email" not in {f["name"] for f in fields.json()["data"]["__type"]["fields"]}


def test_interface_field_needs_every_implementations_rule() -> None:
    schema = build_schema(
        DIRECTIVES_SDL
        + """
        interface Account { secret: String }
        type Admin implements Account { secret: String @requiresScopes(scopes: [["admin"]]) }
        type Member implements Account { secret: String }
        type Query { account: Account }
        """
    )
    guard = Guard(schema, GuardConfig(authorization_mode="reject"))
    member = Principal(subject="m", scopes=frozenset())
    admin = Principal(subject="a", scopes=frozenset({"admin"}))
    assert not guard.check("{ account { secret } }", principal=member).accepted
    assert guard.check("{ account { secret } }", principal=admin).accepted
    assert guard.check("{ account { ... on Member { secret } } }", principal=member).accepted


# -- the property: no value a principal may not see, no resolver it may not run -----------

SCOPES = ["users:email", "orders:read", "users:read", "admin"]
RULES: dict[str, list[set[str]]] = {
    "User.email": [{"users:email"}],
    "User.orders": [{"orders:read", "users:read"}, {"admin"}],
    "Query.auditLog": [{"admin"}],
    "Query.viewer": [set()],
}


def permitted(coordinate: str, principal_scopes: set[str] | None) -> bool:
    rule = RULES.get(coordinate)
    if rule is None:
        return True
    if principal_scopes is None:
        return False
    return any(group <= principal_scopes for group in rule)


_PROPERTY_SCHEMA = build_demo_schema(demo_config())._schema


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    query=queries(_PROPERTY_SCHEMA, fields=["user", "users", "viewer", "auditLog", "search"]),
    scopes=st.one_of(st.none(), st.sets(st.sampled_from(SCOPES))),
)
async def test_no_denied_value_or_resolver_for_generated_principals(
    query: str, scopes: set[str] | None
) -> None:
    bearer = None if scopes is None else token(" ".join(sorted(scopes)))
    config = with_mode(max_cost=None, max_depth=None, max_aliases=None, max_tokens=None)
    response, context = await post(query, bearer, config)
    assert response.status_code == 200
    for coordinate in context.get("resolved", ()):
        assert permitted(coordinate, scopes), (coordinate, scopes)
    if not permitted("User.email", scopes):
        assert not EMAIL.search(response.text)
