"""What a node knows of the network: its own keys, the network CA, and the members.

The hub reads the members from its own table; a national node keeps the hub's latest
signed membership list (``keys/membership.jws``), checked against the CA, and fetches a
new one when it is due. From the members come the envelope directory (public keys of the
nodes that may be trusted now), their URLs, and the check of the nodes that call this one
(their tokens and, over mutual TLS, their certificates). The view also holds what this node
calls others with: its HTTP clients (``polex.network.http``) and the hub's access points.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey
from sqlalchemy import select

from polex.crypto import pki
from polex.crypto.envelope import Directory, NodeKeys, NodePublicKeys
from polex.errors import Forbidden, Unauthenticated
from polex.network.http import AccessPoints, NodeClients
from polex.network.keys import CA_CERTIFICATE, ENCRYPTION_KEY, NODE_KEY, NodeKeyFiles
from polex.network.membership import Member, Membership, MembershipRefused, read_membership
from polex.network.node_auth import NodeTokenRefused, VerifiedTokens, make_node_token, parse_authorization
from polex.storage.tables import NetworkMemberRow
from polex.storage.unit_of_work import UnitOfWorkFactory

MEMBERSHIP_FILE = "membership.jws"
TOKEN_REUSE_SECONDS = 60.0  # node tokens live 120 s
HUB_MEMBERS_SECONDS = 1.0  # a suspension at the hub takes effect within this
REFETCH_AFTER_FAILURE_SECONDS = 30.0
T = TypeVar("T")


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


def _listing_refusal(membership: Membership, node: str, der: bytes, now: dt.datetime) -> str | None:
    """Why the member list does not let ``node`` call with the client certificate ``der``
    (already checked against the network CA), or None."""
    member = membership.members.get(node)
    if member is None:
        return f"node '{node}' is not a member of the network"
    refusal = member.usable(now)
    if refusal is not None:
        return refusal
    if member.fingerprint != hashlib.sha256(der).hexdigest():
        return f"not the certificate the network lists for node '{node}'"
    return None


class NetworkView:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        keys: NodeKeyFiles,
        *,
        node_name: str,
        is_hub: bool,
        hub_url: str | None,
        hub_urls: Sequence[str] = (),
        clients: NodeClients | None = None,
        require_client_certificate: bool = False,
    ) -> None:
        self._uow = uow
        self._keys = keys
        self.node_name = node_name
        self.is_hub = is_hub
        # The hub's access points from this node's config (tried in turn); none: the URL the
        # signed membership list gives for the hub.
        urls = [*hub_urls, *([hub_url] if hub_url else [])]
        self._access: AccessPoints | None = AccessPoints(urls) if urls else None
        # Every client to another node comes from here (polex.network.http).
        self.clients = clients or NodeClients(keys)
        # A node serving HTTPS refuses node calls that come without the node's certificate.
        self.require_client_certificate = require_client_certificate
        self._certified: dict[bytes, tuple[Membership, pki.NodeName]] = {}
        self._lock = threading.Lock()
        self._cached: Membership | None = None
        # Caches that keep cryptography off the per-message path: the node's own keys, a
        # token per peer for most of its lifetime, the hub's member list for a second, and the
        # directory built from one list (certificates parsed once).
        self._own_keys: NodeKeys | None = None
        self._tokens: dict[str, tuple[float, str]] = {}
        self._verified = VerifiedTokens()  # the peers' tokens, checked once each
        self._ca: tuple[tuple[int, int], x509.Certificate] | None = None
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
        """The network CA's certificate, parsed again only when its file changes (every node
        call is checked against it)."""
        try:
            stat = self._keys.path(CA_CERTIFICATE).stat()
        except FileNotFoundError:
            raise NetworkUnavailable("this node has no network CA certificate: enrol it first") from None
        version = (stat.st_mtime_ns, stat.st_size)
        cached = self._ca
        if cached is not None and cached[0] == version:
            return cached[1]
        certificate = pki.load_certificate(self._keys.read(CA_CERTIFICATE))
        self._ca = (version, certificate)
        return certificate

    # -- the hub's access points -----------------------------------------------------------

    @property
    def hub_url(self) -> str | None:
        """The hub access point this node uses now (None: the one the member list gives)."""
        return self._access.current if self._access is not None else None

    @hub_url.setter
    def hub_url(self, url: str | None) -> None:
        self._access = AccessPoints([url]) if url else None

    @property
    def hub_urls(self) -> list[str]:
        """The configured access points, in the order they are tried."""
        return list(self._access.urls) if self._access is not None else []

    def call_hub(self, attempt: Callable[[str], T]) -> T:
        """``attempt(base URL)`` at the hub, failing over between its access points (see
        ``AccessPoints.call``); the URL in the member list when this node's config names none."""
        access = self._access
        if access is None:
            url = self.hub().url
            if not url:
                raise NetworkUnavailable("no hub URL: none configured (hub_urls) and none in the member list")
            access = AccessPoints([url])
        return access.call(attempt)

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
        self._cached = None  # a national node fetches it again (the stored copy if the hub is away)
        self._next_fetch = 0.0

    def _membership_at_hand(self, now: dt.datetime) -> Membership | None:
        """The member list ``membership`` returns without reading or fetching it, or None."""
        if self.is_hub:
            cached_hub = self._hub_members
            if cached_hub is not None and time.monotonic() - cached_hub[0] < HUB_MEMBERS_SECONDS:
                return cached_hub[1]
            return None
        cached = self._cached
        if cached is not None and (now < cached.next_update or time.monotonic() < self._next_fetch):
            return cached
        return None

    def _last_membership(self) -> Membership | None:
        """The member list last read or fetched, however old."""
        if self.is_hub:
            return self._hub_members[1] if self._hub_members is not None else None
        return self._cached

    def membership(self, *, now: dt.datetime | None = None) -> Membership:
        now = now or dt.datetime.now(dt.UTC)
        at_hand = self._membership_at_hand(now)
        if at_hand is not None:
            return at_hand
        if self.is_hub:
            cached_hub = self._hub_members
            with self._uow(read_only=True) as uow:
                rows = uow.session.scalars(select(NetworkMemberRow)).all()
                members = {row.name: _member_of(row) for row in rows if row.status != "invited"}
            if cached_hub is not None and cached_hub[1].members == members:
                # Unchanged: the same list, so that what was built from it stays (the
                # directory's parsed keys, the peers' verified tokens and certificates).
                # A new object every second had them all rebuilt every second, a stall of
                # the requests in flight each time.
                self._hub_members = (time.monotonic(), cached_hub[1])
                return cached_hub[1]
            fresh = Membership(issued_at=now, next_update=now, members=members)
            self._hub_members = (time.monotonic(), fresh)
            return fresh
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
        access = self._access
        if access is None:
            raise NetworkUnavailable("no hub_url configured")
        headers = {"Authorization": f"PolexNode {self.token_for(self._hub_name())}"}
        with self.clients.client(timeout=10) as client:
            response = access.call(lambda base: client.get(f"{base}/api/v1/network/membership", headers=headers))
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

    def caller(self, authorization: str | None, client_certificate: bytes | None = None) -> str:
        """The node behind a ``PolexNode`` token addressed to this node: 401 without a good token.

        ``client_certificate`` is the DER certificate the caller presented over mutual TLS (the
        TLS layer has checked it chains to the network CA). It must be the certificate the
        member list holds for an active node, and that node the token's issuer (403 otherwise).
        A node that requires client certificates (it serves HTTPS) refuses a call without one (401).
        """
        certified: str | None = None
        if client_certificate is not None:
            certified = self._certified_node(client_certificate)
        elif self.require_client_certificate:
            raise Unauthenticated(
                "node-to-node calls need mutual TLS here: connect with your node certificate (issued by the network CA)"
            )
        token = parse_authorization(authorization)
        if token is None:
            raise Unauthenticated("a node authenticates with 'Authorization: PolexNode <token>'")
        try:
            issuer = self._verified.verify(
                token, audience=self.node_name, membership=self.membership(), ca_certificate=self.ca_certificate()
            )
        except NodeTokenRefused as error:
            raise Unauthenticated(f"node token refused: {error.reason}") from None
        except NetworkUnavailable as error:
            raise Unauthenticated(f"this node cannot check node tokens yet: {error}") from None
        if certified is not None and certified != issuer:
            raise Forbidden(f"the client certificate is node '{certified}''s, the token node '{issuer}''s")
        return issuer

    def remembered_caller(self, authorization: str | None, client_certificate: bytes | None = None) -> str | None:
        """The node this node's last member list says is calling, when that takes no work:
        the token and the client certificate already checked against that list, the node
        still usable. None otherwise. Cheap enough for the event loop (no store, no network,
        no signature); it does not read a newer list, so ``caller`` still decides."""
        now = dt.datetime.now(dt.UTC)
        membership = self._last_membership()
        if membership is None:
            return None
        certified: str | None = None
        if client_certificate is not None:
            cached = self._certified.get(client_certificate)
            if cached is None or cached[0] is not membership:
                return None
            certified = cached[1].name
            if _listing_refusal(membership, certified, client_certificate, now) is not None:
                return None
        elif self.require_client_certificate:
            return None
        token = parse_authorization(authorization)
        if token is None:
            return None
        issuer = self._verified.remembered(token, audience=self.node_name, membership=membership, now=now)
        if issuer is None or (certified is not None and certified != issuer):
            return None
        return issuer

    def _certified_node(self, der: bytes) -> str:
        """The active member whose listed certificate ``der`` is, or a 403 saying why not."""
        try:
            membership = self.membership()
            ca_certificate = self.ca_certificate()
        except NetworkUnavailable as error:
            raise Unauthenticated(f"this node cannot check client certificates yet: {error}") from None
        # The signature check is the costly part: done once per certificate and member list.
        cached = self._certified.get(der)
        if cached is not None and cached[0] is membership:
            node = cached[1]
        else:
            try:
                node = pki.peer_node(der, ca_certificate, revoked_serials=membership.revoked_serials())
            except pki.CertificateRefused as error:
                raise Forbidden(f"client certificate refused: {error.reason}") from None
            if len(self._certified) > 1024:
                self._certified.clear()
            self._certified[der] = (membership, node)
        refusal = _listing_refusal(membership, node.name, der, dt.datetime.now(dt.UTC))
        if refusal is not None:
            raise Forbidden(f"client certificate refused: {refusal}")
        return node.name
