"""Who is calling: a user or a machine client, with its agency, country and roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from polex.domain.roles import Permission, Role, permissions_of
from polex.errors import Forbidden


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    LOCAL = "local"  # an operator at the node itself, through the CLI
    RELAYED = "relayed"  # a user of a national node, acting at the hub through its node's signed envelopes


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: str
    name: str
    agency_id: str
    country: str
    roles: frozenset[Role]
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", permissions_of(self.roles))

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Deny unless one of the principal's roles grants the permission."""
        if permission not in self.permissions:
            held = ", ".join(sorted(role.value for role in self.roles))
            raise Forbidden(
                f"none of the roles [{held}] grants '{permission.value}'",
                permission=permission.value,
            )
