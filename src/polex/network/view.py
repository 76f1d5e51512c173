"""What a node knows of the network: its own keys, the network CA, and the members.

The hub reads the members from its own table; a national node keeps the hub's latest
signed membership list (``keys/membership.jws``), checked against the CA, and fetches a
new one when it is due. From the members come the envelope directory (public keys of the
nodes that may be trusted now), their URLs, and the check of node tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey
from sqlalchemy import select

from polex.crypto import pki
from polex.crypto.envelope import Directory, NodeKeys, NodePublicKeys
from polex.errors import Unauthenticated
from polex.network.keys import CA_CERTIFICATE, ENCRYPTION_KEY, NODE_KEY, NodeKeyFiles
from polex.network.membership import Member, Membership, MembershipRefused, read_membership
from polex.network.node_auth import NodeTokenRefused, make_node_token, parse_authorization, verify_node_token
from polex.storage.tables import NetworkMemberRow
from polex.storage.unit_of_work import UnitOfWorkFactory

MEMBERSHIP_FILE = "membership.jws"
TOKEN_REUSE_SECONDS = 60.0  # node tokens live 120 s
HUB_MEMBERS_SECONDS = 1.0  # a suspension at the hub takes effect within this
REFETCH_AFTER_FAILURE_SECONDS = 30.0


class NetworkUnavailable(Exception):
    """This node is not (yet) in a network: no certificate, or no membership list."""


def _member_of(row: NetworkMemberRow) -> Member:
    return Member(
        name=row.name,
        country=row.country,
        role=row.role,
        status=row.status,
        url=row.url,
        certificate=row.certificate,
        fingerprint=row.fingerprint,
        serial=row.serial,
        not_after=row.not_after,
        encryption_key=row.encryption_key,
    )


class NetworkView:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        keys: NodeKeyFiles,
        *,
        node_name: str,
        is_hub: bool,
        hub_url: str | None,
    ) -> None:
        self._uow = uow
        self._keys = keys
        self.node_name = node_name
        self.is_hub = is_hub
        self.hub_url = hub_url
        self._lock = threading.Lock()
        self._cached: Membership | None = None
        # Caches that keep cryptography off the per-message path: the node's own keys, a
        # token per peer for most of its lifetime, the hub's member list for a second, and the
        # directory built from one list (certificates parsed once).
        self._own_keys: NodeKeys | None = None
        self._tokens: dict[str, tuple[float, str]] = {}
        self._hub_members: tuple[float, Membership] | None = None
        self._directory: tuple[Membership, Directory] | None = None
        self._next_fetch = 0.0  # monotonic time before which a failed fetch is not retried

    # -- this node ------------------------------------------------------------------------

    def node_keys(self) -> NodeKeys:
        if self._own_keys is None:
            signing = ECKey.import_key(self._keys.read(NODE_KEY))
            encryption = ECKey.import_key(json.loads(self._keys.read(ENCRYPTION_KEY)))
            self._own_keys = NodeKeys(name=self.node_name, signing=signing, encryption=encryption)
        return self._own_keys

    def ca_certificate(self) -> x509.Certificate:
        if not self._keys.has(CA_CERTIFICATE):
            raise NetworkUnavailable("this node has no network CA certificate: enrol it first")
        return pki.load_certificate(self._keys.read(CA_CERTIFICATE))

    def token_for(self, audience: str) -> str:
        """A node token for ``audience``, reused for a minute of its two-minute lifetime."""
        cached = self._tokens.get(audience)
        now = time.monotonic()
        if cached is not None and now - cached[0] < TOKEN_REUSE_SECONDS:
            return cached[1]
        token = make_node_token(self._keys.read(NODE_KEY), issuer=self.node_name, audience=audience)
        self._tokens[audience] = (now, token)
        return token

    # -- the members ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Forget the cached member list: the next call reads (or fetches) it again."""
        self._hub_members = None
        self._next_fetch = 0.0

    def membership(self, *, now: dt.datetime | None = None) -> Membership:
        now = now or dt.datetime.now(dt.UTC)
        if self.is_hub:
            cached_hub = self._hub_members
            if cached_hub is not None and time.monotonic() - cached_hub[0] < HUB_MEMBERS_SECONDS:
                return cached_hub[1]
            with self._uow(read_only=True) as uow:
                rows = uow.session.scalars(select(NetworkMemberRow)).all()
                members = {row.name: _member_of(row) for row in rows if row.status != "invited"}
            fresh = Membership(issued_at=now, next_update=now, members=members)
            self._hub_members = (time.monotonic(), fresh)
            return fresh
        cached = self._cached
        if cached is not None and (now < cached.next_update or time.monotonic() < self._next_fetch):
            return cached
        with self._lock:
            try:
                self._cached = self._fetch(now)
            except (NetworkUnavailable, MembershipRefused, httpx.HTTPError) as error:
                # The hub is away: keep the list we have (a stale list is still signed) and
                # try again in a while rather than on every message.
                self._next_fetch = time.monotonic() + REFETCH_AFTER_FAILURE_SECONDS
                if self._cached is None:
                    self._cached = self._stored(now)
                if self._cached is None:
                    raise NetworkUnavailable(f"no membership list from the hub: {error}") from error
            return self._cached

    def _stored(self, now: dt.datetime) -> Membership | None:
        if not self._keys.has(MEMBERSHIP_FILE):
            return None
        try:
            return read_membership(self._keys.read(MEMBERSHIP_FILE).decode(), self.ca_certificate(), now=now)
        except MembershipRefused:
            return None

    def _fetch(self, now: dt.datetime) -> Membership:
        if not self.hub_url:
            raise NetworkUnavailable("no hub_url configured")
        hub_name = self._hub_name()
        response = httpx.get(
            f"{self.hub_url.rstrip('/')}/api/v1/network/membership",
            headers={"Authorization": f"PolexNode {self.token_for(hub_name)}"},
            timeout=10,
        )
        response.raise_for_status()
        token = response.json()["membership"]
        membership = read_membership(token, self.ca_certificate(), now=now)
        self._keys.write_public(MEMBERSHIP_FILE, token.encode())
        return membership

    def _hub_name(self) -> str:
        stored = self._cached or self._stored(dt.datetime.now(dt.UTC))
        if stored is not None:
            for member in stored.members.values():
                if member.role == "hub":
                    return member.name
        return "hub"

    def hub(self) -> Member:
        for member in self.membership().members.values():
            if member.role == "hub":
                return member
        raise NetworkUnavailable("the membership list names no hub")

    def usable_members(self, *, now: dt.datetime | None = None) -> dict[str, Member]:
        now = now or dt.datetime.now(dt.UTC)
        return {name: m for name, m in self.membership(now=now).members.items() if m.usable(now) is None}

    def directory(self, *, now: dt.datetime | None = None) -> Directory:
        """Public keys of the nodes that may be trusted now: the signing key is the one the
        member's certificate binds, the encryption key the one in the signed list."""
        membership = self.membership(now=now)
        cached = self._directory
        if cached is not None and cached[0] is membership:
            return cached[1]
        nodes: dict[str, NodePublicKeys] = {}
        moment = now or dt.datetime.now(dt.UTC)
        usable = {name: m for name, m in membership.members.items() if m.usable(moment) is None}
        for name, member in usable.items():
            if member.certificate is None or member.encryption_key is None:
                continue  # usable() has already refused such a member; this keeps the types honest
            certificate = pki.load_certificate(member.certificate.encode())
            public = certificate.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            encryption: dict[str, Any] = dict(member.encryption_key)
            nodes[name] = NodePublicKeys(signing=ECKey.import_key(public), encryption=ECKey.import_key(encryption))
        directory = Directory(nodes)
        self._directory = (membership, directory)
        return directory

    def caller(self, authorization: str | None) -> str:
        """The node behind a ``PolexNode`` token addressed to this node, or a 401."""
        token = parse_authorization(authorization)
        if token is None:
            raise Unauthenticated("a node authenticates with 'Authorization: PolexNode <token>'")
        try:
            return verify_node_token(
                token, audience=self.node_name, membership=self.membership(), ca_certificate=self.ca_certificate()
            )
        except NodeTokenRefused as error:
            raise Unauthenticated(f"node token refused: {error.reason}") from None
        except NetworkUnavailable as error:
            raise Unauthenticated(f"this node cannot check node tokens yet: {error}") from None
