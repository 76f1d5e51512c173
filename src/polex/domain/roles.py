"""Roles and what each may do. Authorisation denies whatever is not granted here."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    NCB_OPERATOR = "ncb_operator"
    INVESTIGATOR = "investigator"
    BORDER_OFFICER = "border_officer"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    REVIEWER = "reviewer"  # the hub's compliance reviewers only
    MONITOR = "monitor"  # machine clients that scrape metrics


HUB_ONLY_ROLES = frozenset({Role.REVIEWER})


class Permission(StrEnum):
    RECORD_READ = "record:read"
    RECORD_WRITE = "record:write"
    AGENCY_READ = "agency:read"
    AGENCY_ADMIN = "agency:admin"
    USER_ADMIN = "user:admin"
    API_KEY_ADMIN = "api_key:admin"
    METRICS_READ = "metrics:read"
    NODE_READ = "node:read"
    AUDIT_READ = "audit:read"
    ALERT_READ = "alert:read"
    POLICY_READ = "policy:read"  # agreements, national rules and groups are public to members
    POLICY_ADMIN = "policy:admin"  # propose and approve agreements, set national rules
    POLICY_EXPLAIN = "policy:explain"  # what would a given requester get of a given record
    SANCTION_ADMIN = "sanction:admin"  # suspend users and agencies
    MESSAGE_SEND = "message:send"
    MESSAGE_READ = "message:read"  # the node's inbox and outbox
    NETWORK_ADMIN = "network:admin"  # the hub's operators: invite, approve, suspend and revoke nodes
    NOTICE_REQUEST = "notice:request"  # draft, submit, update, cancel and extend its agency's notices; issue diffusions
    NOTICE_REVIEW = "notice:review"  # the hub's compliance review: approve, refuse, return, suspend, cancel


_ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.AGENCY_READ,
            Permission.AGENCY_ADMIN,
            Permission.USER_ADMIN,
            Permission.API_KEY_ADMIN,
            Permission.METRICS_READ,
            Permission.NODE_READ,
            Permission.ALERT_READ,
            Permission.POLICY_READ,
            Permission.POLICY_ADMIN,
            Permission.POLICY_EXPLAIN,
            Permission.SANCTION_ADMIN,
            Permission.NETWORK_ADMIN,
        }
    ),
    Role.NCB_OPERATOR: frozenset(
        {
            Permission.RECORD_READ,
            Permission.RECORD_WRITE,
            Permission.AGENCY_READ,
            Permission.NODE_READ,
            Permission.POLICY_READ,
            Permission.MESSAGE_SEND,
            Permission.MESSAGE_READ,
            Permission.NOTICE_REQUEST,
        }
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Permission.RECORD_READ,
            Permission.RECORD_WRITE,
            Permission.NODE_READ,
            Permission.MESSAGE_SEND,
            Permission.MESSAGE_READ,
        }
    ),
    Role.BORDER_OFFICER: frozenset({Permission.RECORD_READ, Permission.NODE_READ}),
    Role.ANALYST: frozenset({Permission.RECORD_READ, Permission.NODE_READ, Permission.MESSAGE_READ}),
    Role.AUDITOR: frozenset(
        {
            Permission.AGENCY_READ,
            Permission.NODE_READ,
            Permission.AUDIT_READ,
            Permission.ALERT_READ,
            Permission.POLICY_READ,
            Permission.POLICY_EXPLAIN,
        }
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.RECORD_READ,
            Permission.AGENCY_READ,
            Permission.NODE_READ,
            Permission.POLICY_READ,
            Permission.NOTICE_REVIEW,
        }
    ),
    Role.MONITOR: frozenset({Permission.METRICS_READ}),
}


def permissions_of(roles: frozenset[Role] | set[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= _ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)
