"""Dependencies every router shares: the node's container and the authenticated caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from polex.audit.service import EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import AuditTag, Decision
from polex.domain.policy import Purpose
from polex.errors import Forbidden, Unauthenticated
from polex.policy.service import CASE_HEADER, PURPOSE_HEADER, parse_purpose

if TYPE_CHECKING:
    from polex.bootstrap import Node

TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False, description="User access tokens")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="API keys for machine clients")


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


async def current_principal(
    request: Request,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """Every endpoint but /healthz depends on this: no credential, no answer."""
    credential = api_key or bearer
    if not credential:
        raise Unauthenticated("send a bearer token (POST /api/v1/auth/token) or an X-API-Key header")
    node = get_node(request)
    # A token seen in the last seconds is answered here; only the rest need the store.
    principal = node.auth.remembered(credential)
    if principal is None:
        principal = await run_in_threadpool(node.auth.authenticate, credential)
    suspended = node.policy.suspension_of(principal)
    if suspended is not None:
        # A sanction takes effect at the next request, whatever the credential's lifetime.
        refusal = EventDraft(AuditTag.SUSPENDED_REFUSED, actor_of(principal), decision=Decision.DENIED)
        await run_in_threadpool(node.audit.record, [refusal])
        raise Forbidden(suspended)
    request.state.principal = principal
    return principal


def declared_purpose(
    purpose: Annotated[
        str | None,
        Header(
            alias=PURPOSE_HEADER,
            max_length=64,
            description="Why you query or read: " + ", ".join(p.value for p in Purpose),
        ),
    ] = None,
    _case: Annotated[
        str | None, Header(alias=CASE_HEADER, max_length=128, description="Your case reference, if any")
    ] = None,
) -> Purpose:
    """Queries and reads declare a purpose; the policy decides by it and the trail keeps it."""
    return parse_purpose(purpose)


NodeDep = Annotated["Node", Depends(get_node)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
PurposeDep = Annotated[Purpose, Depends(declared_purpose)]
