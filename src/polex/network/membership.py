"""The hub's signed membership list: which nodes are in the network, with their
certificates, public encryption keys and status. Every node refreshes it and refuses a
peer that is absent, suspended, revoked or whose certificate has expired, so a change
at the hub takes effect everywhere within one refresh."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from polex.crypto import pki

ALGORITHM = "ES256"
REFRESH = dt.timedelta(minutes=5)  # how long a list is good for; nodes refresh before that


class MembershipRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Member:
    name: str
    country: str
    role: str
    status: str
    url: str | None
    certificate: str | None
    fingerprint: str | None
    serial: str | None
    not_after: dt.datetime | None
    encryption_key: dict[str, Any] | None

    def usable(self, at: dt.datetime) -> str | None:
        """Why this member must be refused at ``at``, or None if it may be trusted."""
        if self.status != "active":
            return f"node '{self.name}' is {self.status}"
        if self.certificate is None or self.encryption_key is None:
            return f"node '{self.name}' has no certificate yet"
        if self.not_after is not None and at > self.not_after:
            return f"the certificate of node '{self.name}' expired on {self.not_after.isoformat()}"
        return None


@dataclass(frozen=True)
class Membership:
    issued_at: dt.datetime
    next_update: dt.datetime
    members: dict[str, Member]

    def revoked_serials(self) -> dict[int, str]:
        """Serials of certificates no node may accept: suspended and revoked members'."""
        return {
            int(member.serial): f"{member.status}"
            for member in self.members.values()
            if member.serial is not None and member.status in ("suspended", "revoked")
        }


def sign_membership(members: list[dict[str, Any]], ca_key_pem: bytes, ca_certificate: x509.Certificate) -> str:
    now = dt.datetime.now(dt.UTC)
    payload = {
        "network": "polex",
        "issued_at": now.isoformat(),
        "next_update": (now + REFRESH).isoformat(),
        "members": members,
    }
    header = {"alg": ALGORITHM, "kid": pki.fingerprint(ca_certificate), "typ": "polex-membership+jws"}
    key = ECKey.import_key(ca_key_pem)
    return jws.serialize_compact(
        header, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS), key, algorithms=[ALGORITHM]
    )


def read_membership(token: str, ca_certificate: x509.Certificate, *, now: dt.datetime | None = None) -> Membership:
    """Check the list's signature against the network CA and its freshness."""
    now = now or dt.datetime.now(dt.UTC)
    public = ca_certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        verified = jws.deserialize_compact(token, ECKey.import_key(public), algorithms=[ALGORITHM])
        payload = orjson.loads(verified.payload)
        issued_at = dt.datetime.fromisoformat(payload["issued_at"])
        next_update = dt.datetime.fromisoformat(payload["next_update"])
        members = {
            item["name"]: Member(
                name=item["name"],
                country=item["country"],
                role=item["role"],
                status=item["status"],
                url=item.get("url"),
                certificate=item.get("certificate"),
                fingerprint=item.get("fingerprint"),
                serial=item.get("serial"),
                not_after=dt.datetime.fromisoformat(item["not_after"]) if item.get("not_after") else None,
                encryption_key=item.get("encryption_key"),
            )
            for item in payload["members"]
        }
    except (JoseError, ValueError, KeyError, TypeError) as error:
        raise MembershipRefused(f"not a membership list signed by this network's CA: {error}") from None
    if issued_at > now + dt.timedelta(minutes=5):
        raise MembershipRefused(f"the membership list claims to be issued in the future ({issued_at.isoformat()})")
    return Membership(issued_at=issued_at, next_update=next_update, members=members)
