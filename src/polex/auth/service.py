"""Logins, tokens, API keys and user administration for one node."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from polex.agency.repository import AgencyRepository
from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth import api_keys, passwords, totp
from polex.auth.principal import Principal, PrincipalKind
from polex.auth.repository import ApiKeyRepository, UserRepository
from polex.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    TokenResponse,
    TotpEnrolment,
    UserCreate,
    UserRead,
    UserUpdate,
)
from polex.auth.tokens import TokenIssuer
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import new_id
from polex.domain.roles import HUB_ONLY_ROLES, Permission, Role
from polex.errors import (
    AlreadyExists,
    BadRequest,
    FieldError,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from polex.storage.tables import ApiKeyRow, UserRow
from polex.storage.unit_of_work import UnitOfWorkFactory

_LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


def user_read(row: UserRow) -> UserRead:
    return UserRead(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        agency_id=row.agency_id,
        roles=[Role(role) for role in row.roles],
        active=row.active,
        totp_enabled=row.totp_secret is not None,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def api_key_read(row: ApiKeyRow) -> ApiKeyRead:
    return ApiKeyRead(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        agency_id=row.agency_id,
        roles=[Role(role) for role in row.roles],
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


PRINCIPAL_CACHE_SECONDS = 5.0
PRINCIPAL_CACHE_SIZE = 100_000


class AuthService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: TokenIssuer,
        audit: AuditTrail,
        *,
        node_name: str,
        is_hub: bool,
        lockout_after: int,
        suspension: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._audit = audit
        self._node_name = node_name
        self._is_hub = is_hub
        self._lockout_after = lockout_after
        # Why a user (by id, with its agency's id) is suspended, or None: such a user gets
        # no token, whoever suspended it (this node, or the hub through its copy).
        self._suspension = suspension
        # Who a token's subject is, kept briefly: every request would otherwise read the
        # user and its agency (half a millisecond on the hottest paths). A change made
        # through this service forgets the user at once; one made by another process of the
        # node is seen within PRINCIPAL_CACHE_SECONDS. Sanctions never wait: suspensions are
        # checked on every request from the policy, not from here.
        self._principals: dict[str, tuple[float, Principal]] = {}
        # The same for API keys (border systems call with them hundreds of times a second):
        # a key's plaintext to the principal it was found to be and until when that holds
        # (PRINCIPAL_CACHE_SECONDS, or the key's expiry if sooner). Revoking a key through
        # this service forgets every key at once.
        self._api_keys: dict[str, tuple[float, Principal]] = {}

    # -- logging in -------------------------------------------------------------------

    def login(self, username: str, password: str, totp_code: str | None = None) -> TokenResponse:
        """Check a password (and a TOTP code where the user enrolled) and issue a token.

        Argon2 runs outside any transaction (it takes ~100 ms by design, and must not hold
        the database); counters change by atomic UPDATEs, so parallel guesses all count.
        """
        with self._uow(read_only=True) as uow:
            user = UserRepository(uow.session).by_username(username)
            account = (
                None
                if user is None
                else (user.id, user.password_hash, user.active, user.failed_logins, user.totp_secret, user.agency_id)
            )
        valid = passwords.verify_password(account[1] if account else None, password)
        if account is None or not valid:
            self._refuse_login(username, account[0] if account else None, account[5] if account else None, "password")
            raise Unauthenticated("invalid username or password")
        user_id, password_hash, active, failed_logins, totp_secret, agency_id = account
        if not active:
            self._refuse_login(username, user_id, agency_id, "disabled", count=False)
            raise Unauthenticated("this account is disabled")
        if failed_logins >= self._lockout_after:
            self._refuse_login(username, user_id, agency_id, "locked", count=False)
            raise Unauthenticated("this account is locked after too many failed logins; ask an administrator")
        if totp_secret is not None and not totp.verify_totp(totp_secret, totp_code):
            self._refuse_login(username, user_id, agency_id, "one-time code")
            raise Unauthenticated("a valid one-time code (field 'totp') is required for this account")
        suspended = self._suspension(user_id, agency_id) if self._suspension is not None else None
        if suspended is not None:
            self._refuse_login(username, user_id, agency_id, "suspended", count=False)
            raise Forbidden(suspended)
        rehashed = passwords.hash_password(password) if passwords.needs_rehash(password_hash) else None
        with self._uow() as uow:
            UserRepository(uow.session).record_login(user_id, dt.datetime.now(dt.UTC), rehashed)
            actor = Actor(kind=PrincipalKind.USER.value, id=user_id, name=username, agency_id=agency_id)
            self._audit.add(uow, [EventDraft(AuditTag.LOGIN_SUCCEEDED, actor)])
            uow.commit()
        issued = self._tokens.issue(user_id)
        return TokenResponse(access_token=issued.token, expires_in=issued.expires_in)

    def _refuse_login(
        self, username: str, user_id: str | None, agency_id: str | None, reason: str, *, count: bool = True
    ) -> None:
        """Count the failure (atomically) and audit it, in one transaction."""
        with self._uow() as uow:
            if user_id is not None and count:
                UserRepository(uow.session).count_failed_login(user_id)
            actor = Actor(
                kind=PrincipalKind.USER.value if user_id else "anonymous",
                id=user_id,
                name=username[:150],
                agency_id=agency_id,
            )
            event = EventDraft(AuditTag.LOGIN_FAILED, actor, decision=Decision.FAILED, details={"reason": reason})
            self._audit.add(uow, [event])
            uow.commit()

    def remembered(self, credential: str) -> Principal | None:
        """The principal behind a bearer token verified and looked up in the last few seconds,
        without touching the store (so callers need not leave the event loop for it); None
        when it must be authenticated in full."""
        if api_keys.looks_like_api_key(credential):
            known = self._api_keys.get(credential)
            return known[1] if known is not None and known[0] > time.monotonic() else None
        claims = self._tokens.remembered(credential)
        cached = self._principals.get(claims.subject) if claims is not None else None
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def authenticate(self, credential: str) -> Principal:
        """The principal behind a bearer token or an API key; 401 for anything else."""
        if api_keys.looks_like_api_key(credential):
            return self._authenticate_api_key(credential)
        claims = self._tokens.verify(credential)
        cached = self._principals.get(claims.subject)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self.principal_of(claims.subject)
        if len(self._principals) > PRINCIPAL_CACHE_SIZE:
            self._principals.clear()
        self._principals[claims.subject] = (now + PRINCIPAL_CACHE_SECONDS, principal)
        return principal

    def principal_of(self, user_id: str) -> Principal:
        """The user as a principal now (its roles and agency), or 401 when disabled or gone."""
        with self._uow(read_only=True) as uow:
            user = UserRepository(uow.session).get(user_id)
            if user is None or not user.active:
                raise Unauthenticated("the account behind this token no longer exists or is disabled")
            agency = AgencyRepository(uow.session).get(user.agency_id)
            assert agency is not None  # a foreign key guarantees it
            return Principal(
                kind=PrincipalKind.USER,
                id=user.id,
                name=user.username,
                agency_id=agency.id,
                country=agency.country,
                roles=frozenset(Role(role) for role in user.roles),
            )

    def _authenticate_api_key(self, plaintext: str) -> Principal:
        parts = api_keys.split_api_key(plaintext)
        if parts is None:
            raise Unauthenticated("the API key is malformed")
        prefix, secret = parts
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            key = ApiKeyRepository(uow.session).by_prefix(prefix)
            if key is None or not api_keys.secret_matches(secret, key.secret_hash):
                raise Unauthenticated("the API key is not valid")
            if key.revoked_at is not None:
                raise Unauthenticated("the API key was revoked")
            if key.expires_at is not None and key.expires_at <= now:
                raise Unauthenticated("the API key has expired")
            agency = AgencyRepository(uow.session).get(key.agency_id)
            assert agency is not None
            principal = Principal(
                kind=PrincipalKind.API_KEY,
                id=key.id,
                name=key.name,
                agency_id=agency.id,
                country=agency.country,
                roles=frozenset(Role(role) for role in key.roles),
            )
            stale_last_use = key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY
        if stale_last_use:  # not on every call: that would make every read a write
            with self._uow() as uow:
                ApiKeyRepository(uow.session).mark_used(principal.id, now)
                uow.commit()
        lifetime = PRINCIPAL_CACHE_SECONDS
        if key.expires_at is not None:
            lifetime = min(lifetime, (key.expires_at - now).total_seconds())
        if len(self._api_keys) > PRINCIPAL_CACHE_SIZE:
            self._api_keys.clear()
        self._api_keys[plaintext] = (time.monotonic() + lifetime, principal)
        return principal

    # -- users ------------------------------------------------------------------------

    def _check_roles(self, roles: list[Role]) -> None:
        if not self._is_hub and HUB_ONLY_ROLES & set(roles):
            raise ValidationFailed(
                "a role is not available on a national node",
                errors=[FieldError("roles", "'reviewer' exists only on the hub")],
            )

    def create_user(self, data: UserCreate, principal: Principal | None = None) -> UserRead:
        """Add a user. ``principal`` is None only for node set-up from the CLI."""
        if principal is not None:
            principal.require(Permission.USER_ADMIN)
        self._check_roles(data.roles)
        password = data.password.get_secret_value()
        passwords.check_password_strength(password)
        with self._uow() as uow:
            users = UserRepository(uow.session)
            if users.by_username(data.username) is not None:
                raise AlreadyExists(f"user '{data.username}' exists already")
            if AgencyRepository(uow.session).get(data.agency_id) is None:
                raise ValidationFailed(
                    "unknown agency",
                    errors=[FieldError("agency_id", f"no agency '{data.agency_id}' on this node")],
                )
            row = UserRow(
                id=new_id(),
                username=data.username,
                display_name=data.display_name,
                password_hash=passwords.hash_password(password),
                agency_id=data.agency_id,
                roles=sorted({role.value for role in data.roles}),
                totp_secret=None,
                active=True,
                failed_logins=0,
                created_at=dt.datetime.now(dt.UTC),
                last_login_at=None,
            )
            users.add(row)
            uow.flush()
            actor = actor_of(principal) if principal else Actor(kind="setup")
            details = {"user_id": row.id, "roles": row.roles}
            self._audit.add(uow, [EventDraft(AuditTag.USER_CREATED, actor, details=details)])
            uow.commit()
            return user_read(row)

    def find_user(self, username: str) -> UserRead | None:
        """For node set-up from the CLI, which has no principal."""
        with self._uow(read_only=True) as uow:
            row = UserRepository(uow.session).by_username(username)
            return user_read(row) if row else None

    def list_users(self, principal: Principal) -> list[UserRead]:
        principal.require(Permission.USER_ADMIN)
        with self._uow(read_only=True) as uow:
            return [user_read(row) for row in UserRepository(uow.session).list()]

    def get_user(self, user_id: str, principal: Principal) -> UserRead:
        principal.require(Permission.USER_ADMIN)
        with self._uow(read_only=True) as uow:
            row = UserRepository(uow.session).get(user_id)
            if row is None:
                raise NotFound(f"no user '{user_id}'")
            return user_read(row)

    def update_user(self, user_id: str, data: UserUpdate, principal: Principal) -> UserRead:
        principal.require(Permission.USER_ADMIN)
        if data.roles is not None:
            self._check_roles(data.roles)
        with self._uow() as uow:
            row = UserRepository(uow.session).get(user_id)
            if row is None:
                raise NotFound(f"no user '{user_id}'")
            if row.id == principal.id and (data.active is False or (data.roles and Role.ADMIN not in data.roles)):
                raise Forbidden("administrators may not disable themselves or drop their own admin role")
            if data.roles is not None:
                row.roles = sorted({role.value for role in data.roles})
            if data.active is not None:
                row.active = data.active
                if data.active:
                    row.failed_logins = 0  # re-enabling also unlocks
            if data.display_name is not None:
                row.display_name = data.display_name
            if data.password is not None:
                passwords.check_password_strength(data.password.get_secret_value())
                row.password_hash = passwords.hash_password(data.password.get_secret_value())
                row.failed_logins = 0
            changed = sorted(data.model_dump(exclude_none=True))
            details = {"user_id": row.id, "changed": changed, "roles": row.roles, "active": row.active}
            self._audit.add(uow, [EventDraft(AuditTag.USER_UPDATED, actor_of(principal), details=details)])
            uow.commit()
        self._principals.pop(user_id, None)
        return user_read(row)

    def begin_totp(self, principal: Principal) -> TotpEnrolment:
        """Give a user a new TOTP secret; it takes effect once confirmed with a code."""
        self._require_user(principal)
        secret = totp.new_totp_secret()
        return TotpEnrolment(
            secret=secret,
            provisioning_uri=totp.provisioning_uri(secret, principal.name, self._node_name),
        )

    def confirm_totp(self, principal: Principal, secret: str, code: str) -> None:
        self._require_user(principal)
        if not totp.verify_totp(secret, code):
            raise ValidationFailed("the code does not match", errors=[FieldError("code", "does not match the secret")])
        with self._uow() as uow:
            row = UserRepository(uow.session).get(principal.id)
            assert row is not None
            row.totp_secret = secret
            self._audit.add(uow, [EventDraft(AuditTag.TOTP_ENROLLED, actor_of(principal))])
            uow.commit()

    @staticmethod
    def _require_user(principal: Principal) -> None:
        if principal.kind is not PrincipalKind.USER:
            raise BadRequest("only users enrol a second factor, not API keys")

    # -- API keys ---------------------------------------------------------------------

    def create_api_key(self, data: ApiKeyCreate, principal: Principal | None = None) -> ApiKeyCreated:
        if principal is not None:
            principal.require(Permission.API_KEY_ADMIN)
        self._check_roles(data.roles)
        agency_id = data.agency_id or (principal.agency_id if principal else None)
        if agency_id is None:
            raise ValidationFailed("agency needed", errors=[FieldError("agency_id", "is required")])
        if data.expires_at is not None and data.expires_at <= dt.datetime.now(dt.UTC):
            raise ValidationFailed("expiry in the past", errors=[FieldError("expires_at", "must be in the future")])
        generated = api_keys.generate_api_key()
        with self._uow() as uow:
            if AgencyRepository(uow.session).get(agency_id) is None:
                raise ValidationFailed("unknown agency", errors=[FieldError("agency_id", f"no agency '{agency_id}'")])
            row = ApiKeyRow(
                id=new_id(),
                name=data.name,
                prefix=generated.prefix,
                secret_hash=generated.secret_hash,
                agency_id=agency_id,
                roles=sorted({role.value for role in data.roles}),
                created_by=principal.id if principal and principal.kind is PrincipalKind.USER else None,
                created_at=dt.datetime.now(dt.UTC),
                expires_at=data.expires_at,
                revoked_at=None,
                last_used_at=None,
            )
            ApiKeyRepository(uow.session).add(row)
            uow.flush()
            actor = actor_of(principal) if principal else Actor(kind="setup")
            details = {"api_key_id": row.id, "roles": row.roles, "agency_id": agency_id}
            self._audit.add(uow, [EventDraft(AuditTag.API_KEY_CREATED, actor, details=details)])
            uow.commit()
            return ApiKeyCreated(**api_key_read(row).model_dump(), key=generated.plaintext)

    def list_api_keys(self, principal: Principal) -> list[ApiKeyRead]:
        principal.require(Permission.API_KEY_ADMIN)
        with self._uow(read_only=True) as uow:
            return [api_key_read(row) for row in ApiKeyRepository(uow.session).list()]

    def revoke_api_key(self, key_id: str, principal: Principal) -> ApiKeyRead:
        principal.require(Permission.API_KEY_ADMIN)
        with self._uow() as uow:
            row = ApiKeyRepository(uow.session).get(key_id)
            if row is None:
                raise NotFound(f"no API key '{key_id}'")
            if row.revoked_at is None:
                row.revoked_at = dt.datetime.now(dt.UTC)
            details = {"api_key_id": row.id}
            self._audit.add(uow, [EventDraft(AuditTag.API_KEY_REVOKED, actor_of(principal), details=details)])
            uow.commit()
            self._api_keys.clear()  # once committed (no check re-reads it unrevoked); plaintexts only: all of them
            return api_key_read(row)
