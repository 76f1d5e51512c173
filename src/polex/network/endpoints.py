"""Enrolment and membership over HTTP (at the hub).

The enrolment endpoints are authenticated by the one-time code the hub's operator gave
the node's operator (``X-Polex-Enrolment-Code``): a node has no other credential before
it has a certificate. Everything else needs a principal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from fastapi.concurrency import run_in_threadpool

from polex.api.dependencies import NodeDep, PrincipalDep, current_principal
from polex.api.server import client_certificate
from polex.auth.principal import Principal, PrincipalKind
from polex.domain.roles import Role
from polex.errors import Unauthenticated
from polex.network.schemas import (
    EnrolmentCreate,
    EnrolmentStatus,
    Invitation,
    InvitationCreate,
    MemberList,
    MemberRead,
    MemberStatus,
    NodeNameText,
    ReasonBody,
    SignedMembership,
)

router = APIRouter(prefix="/api/v1/network", tags=["network"])


def enrolment_code(
    code: Annotated[
        str | None,
        Header(alias="X-Polex-Enrolment-Code", max_length=100, description="The one-time code of the invitation"),
    ] = None,
) -> str:
    """The enrolling node's credential; checked before anything else is read."""
    if not code:
        raise Unauthenticated("send the enrolment code the hub's operator gave you (X-Polex-Enrolment-Code)")
    return code


EnrolmentCode = Annotated[str, Depends(enrolment_code)]


@router.post("/invitations", response_model=Invitation, status_code=status.HTTP_201_CREATED)
def invite(body: InvitationCreate, principal: PrincipalDep, node: NodeDep) -> Invitation:
    """A one-time enrolment code for a national node (the hub's administrators)."""
    return node.network.invite(body.name, body.country, principal)


@router.post("/enrolments", response_model=EnrolmentStatus, status_code=status.HTTP_202_ACCEPTED)
async def enrol(code: EnrolmentCode, body: EnrolmentCreate, node: NodeDep) -> EnrolmentStatus:
    """A node sends its certificate request and public encryption key; an operator approves."""
    return await run_in_threadpool(node.network.enrol, body, code)


@router.get("/enrolments/{name}", response_model=EnrolmentStatus)
def enrolment(code: EnrolmentCode, name: NodeNameText, node: NodeDep) -> EnrolmentStatus:
    """The enrolment's status, with the certificate once approved."""
    return node.network.enrolment(name, code)


@router.get("/members", response_model=MemberList)
def members(principal: PrincipalDep, node: NodeDep) -> MemberList:
    return MemberList(items=node.network.members(principal))


@router.get(
    "/membership",
    response_model=SignedMembership,
    summary="The member list signed by the network CA (for users, and for nodes with a node token)",
)
async def membership(
    request: Request,
    node: NodeDep,
    authorization: Annotated[str | None, Header(alias="Authorization", max_length=8192)] = None,
) -> SignedMembership:
    if authorization is not None and authorization.startswith("PolexNode "):
        certificate = client_certificate(request.scope)
        caller = await run_in_threadpool(node.network_view.caller, authorization, certificate)
        reader = Principal(PrincipalKind.LOCAL, f"node:{caller}", caller, "", "", frozenset({Role.MONITOR}))
        token, ca_certificate = await run_in_threadpool(node.network.signed_membership, reader, as_node=True)
    else:
        principal = await current_principal(request, _bearer(authorization), request.headers.get("X-API-Key"))
        token, ca_certificate = await run_in_threadpool(node.network.signed_membership, principal)
    return SignedMembership(membership=token, ca_certificate=ca_certificate)


def _bearer(authorization: str | None) -> str | None:
    scheme, _, credential = (authorization or "").partition(" ")
    return credential if scheme.lower() == "bearer" and credential else None


@router.post("/members/{name}/approve", response_model=MemberRead)
def approve(name: NodeNameText, principal: PrincipalDep, node: NodeDep) -> MemberRead:
    return node.network.approve(name, principal)


@router.post("/members/{name}/suspend", response_model=MemberRead)
def suspend(name: NodeNameText, body: ReasonBody, principal: PrincipalDep, node: NodeDep) -> MemberRead:
    return node.network.set_status(name, MemberStatus.SUSPENDED, body.reason, principal)


@router.post("/members/{name}/reinstate", response_model=MemberRead)
def reinstate(name: NodeNameText, body: ReasonBody, principal: PrincipalDep, node: NodeDep) -> MemberRead:
    return node.network.set_status(name, MemberStatus.ACTIVE, body.reason, principal)


@router.post("/members/{name}/revoke", response_model=MemberRead)
def revoke(name: NodeNameText, body: ReasonBody, principal: PrincipalDep, node: NodeDep) -> MemberRead:
    return node.network.set_status(name, MemberStatus.REVOKED, body.reason, principal)
