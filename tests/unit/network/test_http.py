"""The clients' factory and the hub's access points: which URL a call goes to, when it moves
on to the next, what it remembers; and the TLS identity the clients present."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from polex.api.server import client_certificate
from polex.crypto import pki
from polex.network import http as http_module
from polex.network.http import AccessPoints, NodeClients, NodeTls
from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_CSR, NODE_KEY, NodeKeyFiles

A, B, C = "https://hub-a:8400", "https://hub-b:8400", "https://hub-c:8400"


def fake_hub(behaviour: dict[str, Callable[[httpx.Request], httpx.Response]]) -> tuple[httpx.Client, list[str]]:
    """A client whose every request goes to ``behaviour`` by host; the hosts asked, in order."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        asked.append(base)
        return behaviour[base](request)

    return httpx.Client(transport=httpx.MockTransport(handle)), asked


def answers(status: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json={"from": request.url.host})


def refuses(error: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("down", request=request)

    return fail


def get(client: httpx.Client, points: AccessPoints) -> httpx.Response:
    return points.call(lambda base: client.get(f"{base}/api/v1/network/membership"))


def test_a_call_goes_to_the_first_access_point_while_it_answers() -> None:
    client, asked = fake_hub({A: answers(200), B: answers(200)})
    points = AccessPoints([A, B])
    assert get(client, points).json() == {"from": "hub-a"}
    assert get(client, points).json() == {"from": "hub-a"}
    assert asked == [A, A]
    assert points.current == A


@pytest.mark.parametrize(
    "failure",
    [refuses(httpx.ConnectError), refuses(httpx.ConnectTimeout), refuses(httpx.ReadTimeout), answers(503)],
    ids=["refused", "connect-timeout", "read-timeout", "5xx"],
)
def test_an_access_point_that_fails_is_left_for_the_next_which_is_remembered(
    failure: Callable[[httpx.Request], httpx.Response],
) -> None:
    client, asked = fake_hub({A: failure, B: answers(200)})
    points = AccessPoints([A, B])
    assert get(client, points).json() == {"from": "hub-b"}
    assert points.current == B
    assert get(client, points).json() == {"from": "hub-b"}  # straight to the one that answered
    assert asked == [A, B, B]


def test_after_a_failover_the_list_wraps_around() -> None:
    behaviour = {A: answers(200), B: answers(200), C: refuses(httpx.ConnectError)}
    client, asked = fake_hub(behaviour)
    points = AccessPoints([A, B, C])
    behaviour[A] = refuses(httpx.ConnectError)
    get(client, points)
    assert points.current == B
    behaviour[B] = answers(502)
    behaviour[A] = answers(200)
    assert get(client, points).json() == {"from": "hub-a"}  # B, then C, then round to A
    assert asked == [A, B, B, C, A]
    assert points.current == A


def test_a_refusal_below_500_is_an_answer_not_a_failure() -> None:
    client, asked = fake_hub({A: answers(403), B: answers(200)})
    points = AccessPoints([A, B])
    assert get(client, points).status_code == 403
    assert asked == [A]


def test_when_every_access_point_fails_the_last_outcome_is_the_caller_s() -> None:
    client, _ = fake_hub({A: refuses(httpx.ConnectError), B: answers(503)})
    points = AccessPoints([A, B])
    assert get(client, points).status_code == 503
    assert points.current == A  # nothing answered: nothing to remember
    client, _ = fake_hub({A: answers(500), B: refuses(httpx.ReadTimeout)})
    with pytest.raises(httpx.ReadTimeout):
        get(client, AccessPoints([A, B]))


def test_access_points_are_cleaned_and_needed() -> None:
    assert AccessPoints([f"{A}/", A, B]).urls == [A, B]
    with pytest.raises(ValueError, match="no access point"):
        AccessPoints([])


# -- the TLS identity -------------------------------------------------------------------------


@pytest.fixture
def node_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NodeKeyFiles:
    monkeypatch.setattr(http_module, "RECHECK_SECONDS", 0.0)
    keys = NodeKeyFiles(tmp_path / "keys")
    keys.ensure_node_keys(pki.NodeName(name="fra", country="FRA", role="national"))
    return keys


def certify(keys: NodeKeyFiles) -> None:
    ca_key, ca = pki.create_network_ca()
    csr, _ = pki.read_csr(keys.read(NODE_CSR))
    keys.write_public(CA_CERTIFICATE, pki.certificate_pem(ca))
    keys.write_public(NODE_CERTIFICATE, pki.certificate_pem(pki.issue_node_certificate(ca_key, ca, csr)))


def test_the_identity_follows_the_key_files(node_keys: NodeKeyFiles) -> None:
    tls = NodeTls(node_keys)
    before, verify = tls.verify()
    assert verify is True  # no network CA yet: the system's trust store
    certify(node_keys)
    after, context = tls.verify()
    assert after != before
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_3
    assert tls.verify() == (after, context)  # unchanged files, the same context


def test_a_half_written_file_keeps_the_identity_until_it_loads(node_keys: NodeKeyFiles) -> None:
    tls = NodeTls(node_keys)
    certify(node_keys)
    good, context = tls.verify()
    certificate = node_keys.read(NODE_CERTIFICATE)
    node_keys.write_public(NODE_CERTIFICATE, certificate[:100])
    assert tls.verify() == (good, context)
    node_keys.write_public(NODE_CERTIFICATE, certificate + b"\n")
    renewed, again = tls.verify()
    assert renewed != good
    assert isinstance(again, ssl.SSLContext)
    assert again is not context


def test_a_client_s_transport_is_remade_when_the_node_gets_its_certificate(node_keys: NodeKeyFiles) -> None:
    with NodeClients(node_keys).client() as client:
        transport = client._transport
        first = transport._current()  # type: ignore[attr-defined]
        assert transport._current() is first  # type: ignore[attr-defined]
        certify(node_keys)
        os.utime(node_keys.path(NODE_KEY))
        assert transport._current() is not first  # type: ignore[attr-defined]


def test_the_client_certificate_is_read_from_the_tls_extension(node_keys: NodeKeyFiles) -> None:
    certify(node_keys)
    pem = node_keys.read(NODE_CERTIFICATE).decode()
    scope = {"type": "http", "extensions": {"tls": {"client_cert_chain": [pem]}}}
    assert client_certificate(scope) == ssl.PEM_cert_to_DER_cert(pem)
    assert client_certificate({"type": "http", "extensions": {"tls": {"client_cert_chain": []}}}) is None
    assert client_certificate({"type": "http"}) is None
