"""A Python client (gql, httpx transport) against the demo under uvicorn: how gqlguard's
answers reach it (issue 16). A rejection arrives as `TransportQueryError` carrying the stable
`extensions.code`; a request refused at the transport arrives with its HTTP status."""

from __future__ import annotations

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError, TransportServerError
from gql.transport.httpx import HTTPXTransport

from .servers import serve

pytestmark = pytest.mark.slow


# Twelve levels of real fields: a document naming unknown fields is answered by validation,
# whatever its depth (no schema oracle), so the depth refusal needs a valid document.
TOO_DEEP = (
    "{ posts(limit: 1) {" + " author { posts(limit: 1) {" * 6 + " title" + " } }" * 6 + " } }"
)


def test_gql_gets_data_and_coded_rejections() -> None:
    env = {"GQLGUARD_BUDGET_CAPACITY": "30", "GQLGUARD_BUDGET_RESTORE_RATE": "0"}
    with serve(env=env) as url:
        client = Client(transport=HTTPXTransport(url=url))
        with client as session:
            data = session.execute(gql("{ posts(limit: 2) { title } }"))
            assert len(data["posts"]) == 2
            with pytest.raises(TransportQueryError) as rejected:
                session.execute(gql(TOO_DEEP))
            assert rejected.value.errors is not None
            assert rejected.value.errors[0]["extensions"]["code"] == "DEPTH_LIMIT_EXCEEDED"
            # Rejections are charged: the budget runs dry, and the status says so.
            codes = []
            for _ in range(5):
                try:
                    session.execute(gql(TOO_DEEP))
                except TransportQueryError as error:
                    # gql reads the JSON body of a 429 as well: the code tells them apart.
                    assert error.errors is not None
                    codes.append(error.errors[0]["extensions"]["code"])
                except TransportServerError as refused:  # a transport that keeps the status
                    codes.append(str(refused.code))
            assert codes[0] == "DEPTH_LIMIT_EXCEEDED" and codes[-1] in {"RATE_LIMITED", "429"}
