"""How a notice in force is kept in the records table: its projection for lists and filters.

Notices are not served by the generic record endpoints (their lifecycle is the notice
service's); this feature only lets the record layer store, decide and show them."""

from __future__ import annotations

from polex.domain.base import RecordKind
from polex.domain.notice import Notice
from polex.domain.records import RECORD_TYPES
from polex.person.feature import project_person
from polex.record.spec import Projection, RecordFeature, TermFilter, name_token


def notice_label(notice: Notice) -> str:
    """What a list shows: type, reference and whom or what the notice is about."""
    if notice.subject is not None:
        about = notice.subject.primary_name.full
    elif notice.body is not None:
        about = f"unidentified body found {notice.body.found_on.isoformat()}"
    elif notice.modus_operandi is not None:
        about = notice.modus_operandi.text[:120]
    elif notice.threat is not None:
        about = notice.threat.text[:120]
    else:
        about = "no subject"
    reference = f" {notice.reference}" if notice.reference else ""
    return f"{notice.notice_type}{reference}: {about}"


def project_notice(notice: Notice) -> Projection:
    terms = set(project_person(notice.subject).terms) if notice.subject is not None else set()
    terms |= {f"type:{notice.notice_type.upper()}", f"channel:{notice.channel.value.upper()}"}
    return Projection(
        label=notice_label(notice),
        key=notice.reference,
        status=notice.status.value,
        terms=frozenset(terms),
    )


NOTICE_FEATURE = RecordFeature(
    record_type=RECORD_TYPES[RecordKind.NOTICE],
    project=project_notice,
    filters=(
        TermFilter("notice_type", "type", "red, yellow, blue, black, green, orange, purple, un_special, ..."),
        TermFilter("channel", "channel", "notice or diffusion"),
        TermFilter("name", "name", "One token of the subject's names, any script or its ASCII form", name_token),
        TermFilter("nationality", "nationality", "The subject's nationality, ISO 3166-1 alpha-3"),
    ),
)
