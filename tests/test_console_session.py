"""/console/session hands out demo tokens: to this machine's own pages only."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from functions.local.server import create_app
from tests.support import Api, assert_refused


@pytest.fixture
def client(api: Api) -> FlaskClient:
    return create_app().test_client()


@pytest.mark.parametrize("host", ["127.0.0.1:54321", "localhost:54321", "[::1]:54321", "localhost"])
def test_a_loopback_page_gets_the_tokens_without_cors(client: FlaskClient, host: str) -> None:
    answer = client.get(
        "/console/session",
        headers={"Host": host, "Origin": "http://127.0.0.1:9999"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )

    assert answer.status_code == 200
    assert answer.get_json()["agent_token"]
    assert not [k for k, _ in answer.headers.items() if k.lower().startswith("access-control-")]


@pytest.mark.parametrize("host", ["attacker.example:54321", "attacker.example", "10.0.0.5:54321"])
def test_a_host_that_is_not_loopback_is_refused_dns_rebinding(
    client: FlaskClient, host: str
) -> None:
    answer = client.get(
        "/console/session", headers={"Host": host}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )

    assert_refused(answer, 403, "local_only")
    assert "agent_token" not in answer.get_data(as_text=True)


def test_a_client_of_another_machine_is_refused(client: FlaskClient) -> None:
    answer = client.get(
        "/console/session",
        headers={"Host": "127.0.0.1:54321"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )

    assert answer.status_code == 403
