"""Mutual TLS on the links between nodes, over real HTTPS: the hub and France each serve with
the certificate the network CA issued them and call each other presenting it. Users connect
without a certificate; a node without one, with one of another CA, expired, revoked or not
its own is refused (at the TLS layer, or with a 401/403 problem on the network's routes)."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from polex.auth.principal import Principal, PrincipalKind
from polex.crypto import pki
from polex.domain.roles import Role
from polex.network.keys import CA_CERTIFICATE, CA_KEY, NODE_CERTIFICATE, NODE_CSR, NODE_KEY, NodeKeyFiles
from polex.network.node_auth import make_node_token
from polex.network.schemas import EnrolmentCreate
from tests.conftest import make_node
from tests.e2e.conftest import LiveServer, _serve, _stop, assert_problem
from tests.e2e.lean_paths import lean_layer
from tests.e2e.test_cli import run
from tests.e2e.test_messages import delivery_of, wait_for

Network = tuple[LiveServer, LiveServer]


def enrolled(hub: LiveServer, folder: Path, name: str, country: str) -> NodeKeyFiles:
    """Another national node's keys, enrolled and approved at the hub (it serves nothing)."""
    keys = NodeKeyFiles(folder / name / "keys")
    keys.ensure_node_keys(pki.NodeName(name=name, country=country, role="national"))
    operator = Principal(PrincipalKind.LOCAL, "setup", "setup", hub.own_agency_id, "XPO", frozenset({Role.ADMIN}))
    invitation = hub.node.network.invite(name, country, operator)
    request = EnrolmentCreate(
        name=name, csr=keys.read(NODE_CSR).decode(), encryption_key=keys.encryption_jwk(), url="https://127.0.0.1:9"
    )
    hub.node.network.enrol(request, invitation.code)
    hub.node.network.approve(name, operator)
    issued = hub.node.network.enrolment(name, invitation.code)
    assert issued.certificate is not None
    assert issued.ca_certificate is not None
    keys.write_public(CA_CERTIFICATE, issued.ca_certificate.encode())
    keys.write_public(NODE_CERTIFICATE, issued.certificate.encode())
    hub.node.network_view.refresh()  # the hub reads its members at most once a second
    return keys


def as_node(keys: NodeKeyFiles) -> httpx.Client:
    """A client presenting the node certificate in ``keys`` and trusting the network CA."""
    context = pki.client_ssl_context(keys.path(CA_CERTIFICATE), keys.path(NODE_CERTIFICATE), keys.path(NODE_KEY))
    return httpx.Client(verify=context, timeout=10)


def token(keys: NodeKeyFiles, issuer: str, audience: str = "hub") -> dict[str, str]:
    return {"Authorization": f"PolexNode {make_node_token(keys.read(NODE_KEY), issuer=issuer, audience=audience)}"}


def test_both_nodes_serve_https_and_messages_travel_both_ways_over_mutual_tls(tls_network: Network) -> None:
    fra, hub = tls_network
    assert fra.base_url.startswith("https://")
    assert hub.base_url.startswith("https://")
    officer = fra.as_roles(Role.INVESTIGATOR)
    sent = officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": "Over TLS", "body": "hello hub"})
    assert sent.status_code == 202, sent.text
    wait_for(lambda: delivery_of(officer, sent.json()["id"]) == {"hub": "delivered"})

    operator = hub.as_roles(Role.NCB_OPERATOR)
    answer = operator.post("/api/v1/messages", json={"to": ["FRA"], "subject": "Re: Over TLS", "body": "hello fra"})
    assert answer.status_code == 202, answer.text
    wait_for(lambda: delivery_of(operator, answer.json()["id"]) == {"fra": "delivered"})
    inbox = officer.get("/api/v1/messages?box=inbox").json()["items"]
    assert any(item["id"] == answer.json()["id"] for item in inbox)
    # The routes between the nodes took them on the lean path, the certificates checked there too.
    assert lean_layer(hub).route("/api/v1/network/envelopes").taken > 0
    assert lean_layer(fra).route("/api/v1/network/inbox").taken > 0

    # France's other links to the hub go over the same mutual TLS: the member list, the replica.
    fra.node.network_view.refresh()
    assert fra.node.network_view.membership().members["fra"].status == "active"
    assert fra.node.replica is not None
    fra.node.replica.sync_once()
    assert fra.node.replica.reachable


def test_users_connect_without_a_certificate(tls_network: Network) -> None:
    fra, hub = tls_network
    for node in (fra, hub):
        assert node.client().get("/healthz").status_code == 200
        me = node.as_roles(Role.ANALYST).get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
    # A user's credentials still decide the users' routes under /api/v1/network.
    assert hub.as_roles(Role.ADMIN).get("/api/v1/network/members").status_code == 200


def test_a_node_without_a_client_certificate_is_refused_on_the_network_routes(tls_network: Network) -> None:
    fra, hub = tls_network
    keys = NodeKeyFiles(fra.node.settings.keys_dir)
    headers = token(keys, "fra")  # a good node token is not enough without the certificate
    with httpx.Client(verify=hub.verify, timeout=10) as anonymous:
        refused = assert_problem(anonymous.get(f"{hub.base_url}/api/v1/network/membership", headers=headers), 401)
        assert "mutual TLS" in refused["detail"]
        batch = {**headers, "Content-Type": "application/json"}
        envelopes = anonymous.post(
            f"{hub.base_url}/api/v1/network/envelopes", content=b'{"envelopes":[]}', headers=batch
        )
        assert "mutual TLS" in assert_problem(envelopes, 401)["detail"]
        # The same at the national node, whose inbox the hub pushes to.
        hub_keys = NodeKeyFiles(hub.node.settings.keys_dir)
        pushed = anonymous.post(
            f"{fra.base_url}/api/v1/network/inbox",
            content=b'{"envelopes":[]}',
            headers={**token(hub_keys, "hub", audience="fra"), "Content-Type": "application/json"},
        )
        assert "mutual TLS" in assert_problem(pushed, 401)["detail"]
    # With its certificate, the same token is accepted.
    with as_node(keys) as certified:
        assert certified.get(f"{hub.base_url}/api/v1/network/membership", headers=headers).status_code == 200


def test_the_certificate_must_be_the_token_node_s_own(tls_network: Network, tmp_path: Path) -> None:
    fra, hub = tls_network
    ukr = enrolled(hub, tmp_path, "ukr", "UKR")
    with as_node(ukr) as client:
        url = f"{hub.base_url}/api/v1/network/membership"
        assert client.get(url, headers=token(ukr, "ukr")).status_code == 200
        fra_token = token(NodeKeyFiles(fra.node.settings.keys_dir), "fra")
        refused = assert_problem(client.get(url, headers=fra_token), 403)
        assert "node 'ukr''s" in refused["detail"]


def test_a_node_s_certificate_with_another_node_s_remembered_token_is_refused(
    tls_network: Network, tmp_path: Path
) -> None:
    """On the lean path too: the hub knows France's token (France's relay uses it) and, once
    it has called, Poland's certificate, but not the two together."""
    fra, hub = tls_network
    pol = enrolled(hub, tmp_path, "pol", "POL")
    url = f"{hub.base_url}/api/v1/network/envelopes"
    with as_node(pol) as client:
        own = {**token(pol, "pol"), "Content-Type": "application/json"}
        assert client.post(url, content=b'{"envelopes":[]}', headers=own).status_code == 202
        assert client.post(url, content=b'{"envelopes":[]}', headers=own).status_code == 202
        france = {**own, "Authorization": f"PolexNode {fra.node.network_view.token_for('hub')}"}
        refused = assert_problem(client.post(url, content=b'{"envelopes":[]}', headers=france), 403)
        assert "node 'pol''s" in refused["detail"]


def test_a_revoked_node_s_certificate_is_refused_within_one_refresh(tls_network: Network, tmp_path: Path) -> None:
    _, hub = tls_network
    grc = enrolled(hub, tmp_path, "grc", "GRC")
    url = f"{hub.base_url}/api/v1/network/membership"
    with as_node(grc) as client:
        assert client.get(url, headers=token(grc, "grc")).status_code == 200
        revoked = hub.as_roles(Role.ADMIN).post("/api/v1/network/members/grc/revoke", json={"reason": "key lost"})
        assert revoked.status_code == 200, revoked.text
        time.sleep(1.2)  # the hub reads its member list at most once a second
        refused = assert_problem(client.get(url, headers=token(grc, "grc")), 403)
        assert "revoked" in refused["detail"]


def test_a_certificate_of_another_ca_is_refused_at_the_tls_layer(tls_network: Network, tmp_path: Path) -> None:
    _, hub = tls_network
    other_key, other_ca = pki.create_network_ca("another network")
    key = pki.new_private_key()
    csr = pki.make_csr(key, pki.NodeName(name="jpn", country="JPN", role="national"))
    certificate = pki.issue_node_certificate(other_key, other_ca, csr)
    refused_at_tls(hub, tmp_path, certificate, key)


def test_an_expired_certificate_of_the_network_ca_is_refused_at_the_tls_layer(
    tls_network: Network, tmp_path: Path
) -> None:
    _, hub = tls_network
    keys = NodeKeyFiles(hub.node.settings.keys_dir)
    ca_key = pki.load_private_key(keys.read(CA_KEY))
    ca = pki.load_certificate(keys.read(CA_CERTIFICATE))
    key = pki.new_private_key()
    csr = pki.make_csr(key, pki.NodeName(name="ita", country="ITA", role="national"))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    certificate = pki.issue_node_certificate(ca_key, ca, csr, valid_days=2, now=long_ago)
    refused_at_tls(hub, tmp_path, certificate, key)


def refused_at_tls(hub: LiveServer, folder: Path, certificate: Any, key: Any) -> None:
    """A client presenting ``certificate`` never gets an HTTP answer from the hub."""
    certificate_file, key_file = folder / "client.pem", folder / "client.key.pem"
    certificate_file.write_bytes(pki.certificate_pem(certificate))
    pki.write_private_file(key_file, pki.private_key_pem(key))
    context = pki.client_ssl_context(hub.node.settings.keys_dir / CA_CERTIFICATE, certificate_file, key_file)
    # TLS 1.3: the client's handshake is over before the server checks its certificate; the
    # server's alert then ends the connection before any HTTP answer.
    with httpx.Client(verify=context, timeout=10) as client, pytest.raises(httpx.TransportError) as refused:
        client.get(f"{hub.base_url}/api/v1/network/membership")
    assert isinstance(refused.value, httpx.RemoteProtocolError | httpx.ReadError | httpx.ConnectError), refused.value


def test_a_national_node_does_not_serve_https_before_it_has_its_certificate(tmp_path: Path) -> None:
    data_dir = tmp_path / "ukr"
    run("init", "--tls", "--name", "ukr", "--country", "UKR", "--data-dir", str(data_dir))
    refused = run("serve", "--data-dir", str(data_dir), check=False)
    assert refused.returncode == 2
    assert "polex network enrol" in refused.stderr
    assert "node.pem" in refused.stderr


def test_a_node_serving_https_stops_at_once_while_a_peer_keeps_an_idle_connection(tmp_path: Path) -> None:
    # A peer's pooled keep-alive connection is read by nobody until its next request: the
    # server must not wait for its answer to the TLS close before it stops.
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    node = make_node(tmp_path / "hub", url, name="hub", country="XPO", hub=True, tls=True)
    try:
        running, base_url = _serve(node)
        trusted = ssl.create_default_context(cafile=node.settings.keys_dir / CA_CERTIFICATE)
        with httpx.Client(verify=trusted, timeout=10) as peer:
            assert peer.get(f"{base_url}/healthz").status_code == 200  # the connection stays in the pool
            started = time.monotonic()
            _stop(running)  # asserts that the server stopped
            took = time.monotonic() - started
        assert took < 5, f"the server took {took:.1f} s to stop: it waited for the idle TLS connection"
    finally:
        node.close()
