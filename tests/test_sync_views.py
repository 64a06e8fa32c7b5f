"""Issue 22 (item 4): a sync view (Strawberry's Flask view, which runs ``execute_sync``) with
persisted queries and a cost budget on. Before, every request failed with an unmasked
message naming the extension's class and a memory address."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask
from strawberry.flask.views import GraphQLView

from gqlguard.config import GuardConfig
from schema_example.app import demo_config
from schema_example.schema import build_schema as build_demo_schema

from .test_authorization import token

QUERY = "{ posts(limit: 2) { title } }"
SHA = hashlib.sha256(QUERY.encode()).hexdigest()
APQ = {"persistedQuery": {"version": 1, "sha256Hash": SHA}}


def flask_client(config: GuardConfig) -> Any:
    app = Flask(__name__)
    view = GraphQLView.as_view("graphql", schema=build_demo_schema(config), graphql_ide=None)
    app.add_url_rule("/graphql", view_func=view, methods=["GET", "POST"])
    return app.test_client()


def test_persisted_queries_work_under_a_sync_view() -> None:
    config = demo_config().model_copy(update={"persisted_mode": "apq"})
    client = flask_client(config)
    miss = client.post("/graphql", json={"extensions": APQ})
    assert miss.json["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = client.post("/graphql", json={"query": QUERY, "extensions": APQ})
    assert registered.status_code == 200 and len(registered.json["data"]["posts"]) == 2
    hit = client.post("/graphql", json={"extensions": APQ})
    assert hit.json["data"] == registered.json["data"]
    assert "_PipelineOperation" not in hit.text and "0x" not in hit.text


def test_the_budget_charges_and_refuses_under_a_sync_view() -> None:
    # 5 points per request (posts weighs 5, more than its two objects); 12 pay for two.
    config = demo_config().model_copy(update={"budget_capacity": 12, "budget_restore_rate": 0})
    client = flask_client(config)
    bearer = {"authorization": f"Bearer {token(sub='7')}"}
    answers = [client.post("/graphql", json={"query": QUERY}, headers=bearer) for _ in range(3)]
    assert [bool(a.json.get("data")) for a in answers] == [True, True, False]
    assert answers[0].headers["X-RateLimit-Cost-Counted"] == "field_cost"
    # Where the client stands, in the body too, as create_app reports it.
    throttle = answers[0].json["extensions"]["cost"]["throttleStatus"]
    assert throttle == {
        "maximumAvailable": 12,
        "currentlyAvailable": 7,
        "restoreRate": 0,
        "counted": "field_cost",
    }
    assert answers[1].headers["X-RateLimit-Remaining"] == "2"
    assert answers[-1].json["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert answers[-1].status_code == 429


def test_a_sync_views_own_stages_run_on_its_own_thread() -> None:
    # Only what waits on a store runs on the helper loop: the principal hook (a Django ORM
    # lookup, say) and the check run on the view's thread.
    import threading

    from gqlguard.strawberry import GuardExtension

    threads: list[str] = []

    def principal_of(context: Any) -> None:
        threads.append(threading.current_thread().name)

    config = demo_config().model_copy(update={"persisted_mode": "apq"})
    schema = build_demo_schema(config)
    for extension in schema.extensions:
        if isinstance(extension, GuardExtension):
            extension.principal_of = principal_of
    app = Flask(__name__)
    view = GraphQLView.as_view("graphql", schema=schema, graphql_ide=None)
    app.add_url_rule("/graphql", view_func=view, methods=["POST"])
    answer = app.test_client().post("/graphql", json={"query": QUERY})
    assert answer.status_code == 200 and len(answer.json["data"]["posts"]) == 2
    assert threads and "gqlguard-helper-loop" not in threads
