"""Enrolment in the network, over HTTP: the hub's operator invites a node, the node sends
its certificate request with the one-time code, the operator approves, the node fetches
a certificate that the network CA signed; the hub's signed membership list tells every
node who is in, suspended or revoked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from polex.crypto import pki
from polex.domain.roles import Role
from polex.network.keys import NODE_CSR, NODE_KEY, NodeKeyFiles
from polex.network.membership import MembershipRefused, read_membership
from tests.e2e.conftest import LiveServer, assert_problem, error_fields


def national_keys(tmp_path: Path, name: str, country: str) -> NodeKeyFiles:
    keys = NodeKeyFiles(tmp_path / name / "keys")
    keys.ensure_node_keys(pki.NodeName(name=name, country=country, role="national"))
    return keys


def enrolment_body(keys: NodeKeyFiles, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "csr": keys.read(NODE_CSR).decode(),
        "encryption_key": keys.encryption_jwk(),
        "url": f"http://127.0.0.1:9/{name}",
    }


def invite(admin: httpx.Client, name: str, country: str) -> str:
    response = admin.post("/api/v1/network/invitations", json={"name": name, "country": country})
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


def test_a_node_enrols_is_approved_and_appears_in_the_signed_membership(hub_live: LiveServer, tmp_path: Path) -> None:
    admin = hub_live.as_roles(Role.ADMIN)
    anonymous = hub_live.client()
    code = invite(admin, "ukr", "UKR")
    keys = national_keys(tmp_path, "ukr", "UKR")
    headers = {"X-Polex-Enrolment-Code": code}

    not_yet = anonymous.get("/api/v1/network/enrolments/ukr", headers=headers)
    assert not_yet.json() == {
        "name": "ukr",
        "status": "invited",
        "certificate": None,
        "ca_certificate": None,
        "hub": None,
    }
    sent = anonymous.post("/api/v1/network/enrolments", json=enrolment_body(keys, "ukr"), headers=headers)
    assert sent.status_code == 202, sent.text
    assert sent.json()["status"] == "pending"
    assert anonymous.get("/api/v1/network/enrolments/ukr", headers=headers).json()["certificate"] is None

    approved = admin.post("/api/v1/network/members/ukr/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "active"
    fetched = anonymous.get("/api/v1/network/enrolments/ukr", headers=headers).json()
    assert fetched["hub"] == "hub"
    ca_certificate = pki.load_certificate(fetched["ca_certificate"].encode())
    certificate = pki.load_certificate(fetched["certificate"].encode())
    identity = pki.verify_node_certificate(certificate, ca_certificate)
    assert (identity.name, identity.country, identity.role) == ("ukr", "UKR", "national")
    assert certificate.public_key() == pki.load_private_key(keys.read(NODE_KEY)).public_key()

    signed = admin.get("/api/v1/network/membership").json()
    membership = read_membership(signed["membership"], pki.load_certificate(signed["ca_certificate"].encode()))
    assert membership.members["ukr"].status == "active"
    assert membership.members["ukr"].fingerprint == pki.fingerprint(certificate)
    assert membership.members["ukr"].encryption_key is not None
    assert "d" not in membership.members["ukr"].encryption_key  # public half only
    assert membership.members["hub"].role == "hub"  # the hub is its own first member
    assert membership.members["ukr"].usable(membership.issued_at) is None

    # Revoked: the next list says so, and its serial is refused.
    assert admin.post("/api/v1/network/members/ukr/revoke", json={"reason": "compromised key"}).status_code == 200
    later = admin.get("/api/v1/network/membership").json()
    after = read_membership(later["membership"], ca_certificate)
    assert after.members["ukr"].usable(after.issued_at) == "node 'ukr' is revoked"
    with pytest.raises(pki.CertificateRefused, match="revoked"):
        pki.verify_node_certificate(certificate, ca_certificate, revoked_serials=after.revoked_serials())
    # The code no longer works.
    assert_problem(anonymous.get("/api/v1/network/enrolments/ukr", headers=headers), 401)


def test_a_list_not_signed_by_the_network_ca_is_refused(hub_live: LiveServer) -> None:
    signed = hub_live.as_roles(Role.ADMIN).get("/api/v1/network/membership").json()
    _, other_ca = pki.create_network_ca("another network")
    with pytest.raises(MembershipRefused):
        read_membership(signed["membership"], other_ca)
    header, payload, signature = signed["membership"].split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(MembershipRefused):
        read_membership(tampered, pki.load_certificate(signed["ca_certificate"].encode()))


def test_enrolment_needs_the_code_and_a_request_for_the_invited_node(hub_live: LiveServer, tmp_path: Path) -> None:
    admin = hub_live.as_roles(Role.ADMIN)
    anonymous = hub_live.client()
    code = invite(admin, "grc", "GRC")
    keys = national_keys(tmp_path, "grc", "GRC")
    body = enrolment_body(keys, "grc")

    assert_problem(anonymous.post("/api/v1/network/enrolments", json=body), 401)
    wrong = {"X-Polex-Enrolment-Code": "not-the-code"}
    assert_problem(anonymous.post("/api/v1/network/enrolments", json=body, headers=wrong), 401)
    unknown = {**body, "name": "nowhere"}
    assert_problem(anonymous.post("/api/v1/network/enrolments", json=unknown, headers=wrong), 401)

    headers = {"X-Polex-Enrolment-Code": code}
    impostor = national_keys(tmp_path, "jpn", "JPN")  # a request for another node
    refused = assert_problem(
        anonymous.post("/api/v1/network/enrolments", json=enrolment_body(impostor, "grc"), headers=headers), 400
    )
    assert error_fields(refused) == {"csr"}
    garbled = {**body, "csr": body["csr"].replace("A", "B", 5)}
    assert "csr" in error_fields(
        assert_problem(anonymous.post("/api/v1/network/enrolments", json=garbled, headers=headers), 400)
    )
    bad_key = {**body, "encryption_key": {"kty": "EC", "crv": "P-256", "x": "nope"}}
    assert "encryption_key" in error_fields(
        assert_problem(anonymous.post("/api/v1/network/enrolments", json=bad_key, headers=headers), 400)
    )
    # Only the hub's administrators invite, approve and revoke.
    operator = hub_live.as_roles(Role.NCB_OPERATOR)
    assert_problem(operator.post("/api/v1/network/invitations", json={"name": "ita", "country": "ITA"}), 403)
    assert_problem(operator.post("/api/v1/network/members/grc/approve"), 403)
    # Approving what is not pending is a conflict.
    assert_problem(admin.post("/api/v1/network/members/grc/approve"), 409)


def test_a_national_node_enrols_nobody(live: LiveServer) -> None:
    admin = live.as_roles(Role.ADMIN)
    assert_problem(admin.post("/api/v1/network/invitations", json={"name": "ita", "country": "ITA"}), 404)
