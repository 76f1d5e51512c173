from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, status
from fastapi.security import OAuth2PasswordRequestForm

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyRead,
    Me,
    TokenResponse,
    TotpConfirm,
    TotpEnrolment,
    UserCreate,
    UserList,
    UserRead,
    UserUpdate,
)
from polex.domain.base import RecordId

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TotpEnrolmentConfirm(TotpConfirm):
    secret: str


class PasswordForm(OAuth2PasswordRequestForm):
    """OAuth 2.0 password grant, plus the TOTP code for users who enrolled a second factor."""

    def __init__(
        self,
        username: Annotated[str, Form(max_length=150)],
        password: Annotated[str, Form(max_length=1024)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form(max_length=1000)] = "",
        client_id: Annotated[str | None, Form(max_length=200)] = None,
        client_secret: Annotated[str | None, Form(max_length=200)] = None,
        totp: Annotated[str | None, Form(max_length=10, description="One-time code, if enrolled")] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.totp = totp


@router.post("/auth/token", response_model=TokenResponse, summary="Log in (OAuth 2.0 password grant)")
def issue_token(form: Annotated[PasswordForm, Depends()], node: NodeDep) -> TokenResponse:
    return node.auth.login(form.username, form.password, form.totp)


@router.get("/auth/me", response_model=Me, summary="Who am I")
def me(principal: PrincipalDep, node: NodeDep) -> Me:
    return Me(
        kind=principal.kind.value,
        id=principal.id,
        name=principal.name,
        agency_id=principal.agency_id,
        country=principal.country,
        roles=sorted(principal.roles),
        permissions=sorted(principal.permissions),
        node=node.settings.node_name,
    )


@router.post("/auth/totp", response_model=TotpEnrolment, summary="Start enrolling a TOTP second factor")
def begin_totp(principal: PrincipalDep, node: NodeDep) -> TotpEnrolment:
    return node.auth.begin_totp(principal)


@router.put("/auth/totp", status_code=status.HTTP_204_NO_CONTENT, summary="Confirm a TOTP enrolment")
def confirm_totp(body: TotpEnrolmentConfirm, principal: PrincipalDep, node: NodeDep) -> None:
    node.auth.confirm_totp(principal, body.secret, body.code)


@router.get("/users", response_model=UserList, tags=["users"])
def list_users(principal: PrincipalDep, node: NodeDep) -> UserList:
    return UserList(items=node.auth.list_users(principal))


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED, tags=["users"])
def create_user(body: UserCreate, principal: PrincipalDep, node: NodeDep) -> UserRead:
    return node.auth.create_user(body, principal)


@router.get("/users/{user_id}", response_model=UserRead, tags=["users"])
def get_user(user_id: RecordId, principal: PrincipalDep, node: NodeDep) -> UserRead:
    return node.auth.get_user(user_id, principal)


@router.patch("/users/{user_id}", response_model=UserRead, tags=["users"])
def update_user(user_id: RecordId, body: UserUpdate, principal: PrincipalDep, node: NodeDep) -> UserRead:
    return node.auth.update_user(user_id, body, principal)


@router.get("/api-keys", response_model=ApiKeyList, tags=["api keys"])
def list_api_keys(principal: PrincipalDep, node: NodeDep) -> ApiKeyList:
    return ApiKeyList(items=node.auth.list_api_keys(principal))


@router.post(
    "/api-keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    tags=["api keys"],
)
def create_api_key(body: ApiKeyCreate, principal: PrincipalDep, node: NodeDep) -> ApiKeyCreated:
    return node.auth.create_api_key(body, principal)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead, tags=["api keys"])
def revoke_api_key(key_id: RecordId, principal: PrincipalDep, node: NodeDep) -> ApiKeyRead:
    return node.auth.revoke_api_key(key_id, principal)
