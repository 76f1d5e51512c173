"""Enrolment of nodes in the network, at the hub.

1. The hub's operator invites a node by name and country: a one-time code, given to the
   node's operator out of band (only its SHA-256 is kept).
2. The node enrols: its certificate request, public encryption key and URL, with the code.
   The request must be signed by its key and name the invited node and country.
3. The hub's operator approves: the hub signs the certificate; the node fetches it (with
   the code) and joins the signed membership list.
4. The operator may suspend (and reinstate) or revoke a node; the list says so at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.crypto import pki
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.roles import Permission
from polex.errors import BadRequest, Conflict, FieldError, Forbidden, NotFound, Unauthenticated
from polex.network.keys import CA_CERTIFICATE, CA_KEY, NODE_CERTIFICATE, NODE_CSR, NodeKeyFiles
from polex.network.membership import sign_membership
from polex.network.schemas import EnrolmentCreate, EnrolmentStatus, Invitation, MemberRead, MemberStatus
from polex.storage.tables import NetworkMemberRow
from polex.storage.unit_of_work import UnitOfWorkFactory


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def member_read(row: NetworkMemberRow) -> MemberRead:
    return MemberRead(
        name=row.name,
        country=row.country,
        role=row.role,
        status=MemberStatus(row.status),
        url=row.url,
        fingerprint=row.fingerprint,
        serial=row.serial,
        not_after=row.not_after,
        encryption_key=row.encryption_key,
        certificate=row.certificate,
        changed_at=row.changed_at,
        reason=row.reason,
    )


class _WrongCode(Exception):
    def __init__(self, *, known: bool) -> None:
        super().__init__("wrong enrolment code")
        self.known = known


class NetworkService:
    def __init__(
        self, uow: UnitOfWorkFactory, audit: AuditTrail, keys: NodeKeyFiles, *, is_hub: bool, node_name: str
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._keys = keys
        self._is_hub = is_hub
        self._node_name = node_name
        # Called once a change to the member list is committed: the hub's view drops its
        # cached list, so a node approved, suspended or revoked is treated so at once.
        self.on_members_changed: Callable[[], None] = lambda: None

    def _require_hub(self) -> None:
        if not self._is_hub:
            raise NotFound("only the hub enrols nodes")

    # -- the hub's operator -------------------------------------------------------------

    def invite(self, name: str, country: str, principal: Principal) -> Invitation:
        principal.require(Permission.NETWORK_ADMIN)
        self._require_hub()
        code = secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = uow.session.get(NetworkMemberRow, name)
            if row is not None and row.status not in (MemberStatus.INVITED, MemberStatus.REVOKED):
                raise Conflict(f"node '{name}' is {row.status}; revoke it before inviting it again")
            if row is None:
                row = NetworkMemberRow(name=name, invited_at=now, invited_by=principal.id, changed_at=now)
                uow.session.add(row)
            row.country = country
            row.role = "national"
            row.status = MemberStatus.INVITED.value
            row.invitation_hash = _code_hash(code)
            row.invited_at, row.invited_by, row.changed_at = now, principal.id, now
            row.csr = row.certificate = row.serial = row.fingerprint = row.reason = None
            row.encryption_key = None
            row.not_after = row.approved_at = None
            row.approved_by = None
            self._audit.add(uow, [self._event(AuditTag.NODE_INVITED, principal, name, country=country)])
            uow.commit()
        return Invitation(name=name, country=country, code=code)

    def approve(self, name: str, principal: Principal) -> MemberRead:
        """Sign the pending node's certificate request with the network CA."""
        principal.require(Permission.NETWORK_ADMIN)
        self._require_hub()
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = self._member(uow.session, name)
            if row.status != MemberStatus.PENDING or row.csr is None:
                raise Conflict(f"node '{name}' is {row.status}: only a pending enrolment is approved")
            csr, _ = pki.read_csr(row.csr.encode())
            certificate = pki.issue_node_certificate(self._ca_key(), self._ca_certificate(), csr, now=now)
            self._activate(row, certificate, now, principal.id)
            self._audit.add(uow, [self._event(AuditTag.NODE_APPROVED, principal, name, serial=row.serial)])
            uow.commit()
            read = member_read(row)
        self.on_members_changed()
        return read

    def set_status(self, name: str, status: MemberStatus, reason: str, principal: Principal) -> MemberRead:
        """Suspend, reinstate (active again) or revoke a node; effective at the next refresh."""
        principal.require(Permission.NETWORK_ADMIN)
        self._require_hub()
        if name == self._node_name:
            raise Forbidden("the hub does not suspend or revoke itself")
        allowed = {
            MemberStatus.SUSPENDED: ({MemberStatus.ACTIVE}, AuditTag.NODE_SUSPENDED),
            MemberStatus.ACTIVE: ({MemberStatus.SUSPENDED}, AuditTag.NODE_REINSTATED),
            MemberStatus.REVOKED: (set(MemberStatus) - {MemberStatus.REVOKED}, AuditTag.NODE_REVOKED),
        }
        if status not in allowed:
            raise BadRequest(f"a node cannot be set to '{status.value}'", errors=[FieldError("status", "invalid")])
        sources, tag = allowed[status]
        with self._uow() as uow:
            row = self._member(uow.session, name)
            if MemberStatus(row.status) not in sources:
                raise Conflict(f"node '{name}' is {row.status}: it cannot become {status.value}")
            row.status = status.value
            row.reason = reason
            row.changed_at = dt.datetime.now(dt.UTC)
            if status is MemberStatus.REVOKED:
                row.invitation_hash = None
            self._audit.add(uow, [self._event(tag, principal, name, reason=reason)])
            uow.commit()
            read = member_read(row)
        self.on_members_changed()
        return read

    def members(self, principal: Principal) -> list[MemberRead]:
        principal.require(Permission.NODE_READ)
        self._require_hub()
        with self._uow(read_only=True) as uow:
            rows = uow.session.query(NetworkMemberRow).order_by(NetworkMemberRow.name).all()
            return [member_read(row) for row in rows]

    def signed_membership(self, principal: Principal, *, as_node: bool = False) -> tuple[str, str]:
        """The member list, signed by the network CA; and the CA certificate (PEM). Users need
        node:read; a member node (its token checked by the caller) reads it as such."""
        if not as_node:
            principal.require(Permission.NODE_READ)
        self._require_hub()
        with self._uow(read_only=True) as uow:
            rows = uow.session.query(NetworkMemberRow).order_by(NetworkMemberRow.name).all()
            listed = [member_read(row) for row in rows]
        members = [
            {
                **member.model_dump(mode="json", exclude={"changed_at"}),
                "status": member.status.value,
            }
            for member in listed
            if member.status is not MemberStatus.INVITED
        ]
        token = sign_membership(members, self._keys.read(CA_KEY), self._ca_certificate())
        return token, self._keys.read(CA_CERTIFICATE).decode()

    # -- the enrolling node (authenticated by its one-time code) ------------------------

    def enrol(self, data: EnrolmentCreate, code: str | None) -> EnrolmentStatus:
        self._require_hub()
        try:
            return self._enrol(data, code)
        except _WrongCode as wrong:
            raise self._refuse(data.name, wrong) from None

    def _enrol(self, data: EnrolmentCreate, code: str | None) -> EnrolmentStatus:
        with self._uow() as uow:
            row = self._invited(uow.session, data.name, code)
            if row.status not in (MemberStatus.INVITED, MemberStatus.PENDING):
                raise Conflict(f"node '{data.name}' is {row.status}; it enrols again only after a new invitation")
            try:
                csr, node = pki.read_csr(data.csr.encode())
            except pki.CertificateRefused as error:
                raise BadRequest(
                    "the certificate request is refused", errors=[FieldError("csr", error.reason)]
                ) from None
            if (node.name, node.country, node.role) != (row.name, row.country, "national"):
                raise BadRequest(
                    "the certificate request names another node",
                    errors=[
                        FieldError(
                            "csr",
                            f"names {node.name}/{node.country}/{node.role}, not {row.name}/{row.country}/national",
                        )
                    ],
                )
            row.encryption_key = _public_encryption_key(data.encryption_key)
            row.csr = pki.csr_pem(csr).decode()
            row.url = data.url
            row.status = MemberStatus.PENDING.value
            row.requested_at = row.changed_at = dt.datetime.now(dt.UTC)
            event = EventDraft(AuditTag.NODE_ENROLLED, Actor(kind="node", name=data.name), details={"node": data.name})
            self._audit.add(uow, [event])
            uow.commit()
            return EnrolmentStatus(name=row.name, status=MemberStatus(row.status))

    def enrolment(self, name: str, code: str | None) -> EnrolmentStatus:
        self._require_hub()
        try:
            return self._enrolment(name, code)
        except _WrongCode as wrong:
            raise self._refuse(name, wrong) from None

    def _enrolment(self, name: str, code: str | None) -> EnrolmentStatus:
        with self._uow(read_only=True) as uow:
            row = self._invited(uow.session, name, code)
            if row.status in (MemberStatus.ACTIVE, MemberStatus.SUSPENDED) and row.certificate is not None:
                return EnrolmentStatus(
                    name=name,
                    status=MemberStatus(row.status),
                    certificate=row.certificate,
                    ca_certificate=self._keys.read(CA_CERTIFICATE).decode(),
                    hub=self._node_name,
                )
            return EnrolmentStatus(name=name, status=MemberStatus(row.status))

    # -- the hub itself -------------------------------------------------------------------

    def ensure_hub_member(self, url: str) -> None:
        """The hub is the first member: it issues its own certificate at start-up."""
        if not self._is_hub:
            return
        with self._uow() as uow:
            row = uow.session.get(NetworkMemberRow, self._node_name)
            if row is not None and row.status == MemberStatus.ACTIVE:
                if row.url != url:
                    row.url = url
                    uow.commit()
                    self.on_members_changed()
                return
            csr, node = pki.read_csr(self._keys.read(NODE_CSR))
            now = dt.datetime.now(dt.UTC)
            certificate = pki.issue_node_certificate(
                self._ca_key(), self._ca_certificate(), csr, now=now, valid_days=3650
            )
            row = row or NetworkMemberRow(name=node.name, invited_at=now, invited_by="setup", changed_at=now)
            if row not in uow.session:
                uow.session.add(row)
            row.country, row.role, row.url = node.country, "hub", url
            row.encryption_key = _public_encryption_key(self._keys.encryption_jwk())
            self._activate(row, certificate, now, "setup")
            self._keys.write_public(NODE_CERTIFICATE, pki.certificate_pem(certificate))
            uow.commit()
        self.on_members_changed()

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _activate(row: NetworkMemberRow, certificate: Any, now: dt.datetime, approver: str) -> None:
        row.certificate = pki.certificate_pem(certificate).decode()
        row.serial = str(certificate.serial_number)
        row.fingerprint = pki.fingerprint(certificate)
        row.not_after = certificate.not_valid_after_utc
        row.status = MemberStatus.ACTIVE.value
        row.approved_at = row.changed_at = now
        row.approved_by = approver
        row.reason = None

    def _ca_key(self) -> Any:
        return pki.load_private_key(self._keys.read(CA_KEY))

    def _ca_certificate(self) -> Any:
        return pki.load_certificate(self._keys.read(CA_CERTIFICATE))

    @staticmethod
    def _member(session: Any, name: str) -> NetworkMemberRow:
        row: NetworkMemberRow | None = session.get(NetworkMemberRow, name)
        if row is None:
            raise NotFound(f"no node '{name}' in the network")
        return row

    @staticmethod
    def _invited(session: Any, name: str, code: str | None) -> NetworkMemberRow:
        row: NetworkMemberRow | None = session.get(NetworkMemberRow, name)
        if row is None or row.invitation_hash is None or not code:
            raise _WrongCode(known=False)
        if not hmac.compare_digest(row.invitation_hash, _code_hash(code)):
            raise _WrongCode(known=True)
        return row

    def _refuse(self, name: str, wrong: _WrongCode) -> Unauthenticated:
        """One refusal for an unknown node and a wrong code: the code is the credential. A
        wrong code for an invited node is recorded (after the transaction: SQLite has one
        writer)."""
        if wrong.known:
            event = EventDraft(AuditTag.NODE_ENROLMENT_REFUSED, Actor(kind="node", name=name), decision=Decision.FAILED)
            self._audit.record([event])
        return Unauthenticated("send the enrolment code the hub's operator gave you (X-Polex-Enrolment-Code)")

    @staticmethod
    def _event(tag: AuditTag, principal: Principal, name: str, **details: Any) -> EventDraft:
        return EventDraft(tag, actor_of(principal), details={"node": name, **details})


def _public_encryption_key(jwk: dict[str, Any]) -> dict[str, Any]:
    """The public half of a P-256 encryption key, or a 400 naming the field."""
    try:
        key = ECKey.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise BadRequest(
            "the encryption key is not a JWK", errors=[FieldError("encryption_key", str(error) or "invalid JWK")]
        ) from None
    if key.curve_name != "P-256":
        raise BadRequest(
            "the encryption key must be on P-256", errors=[FieldError("encryption_key", f"curve {key.curve_name}")]
        )
    public: dict[str, Any] = key.as_dict(private=False)
    return public
