"""Every audited action on a record is classified as changing what the screening indexes hold
of it or not: an action left out would be a change that other processes of the node never
take into their indexes (polex.screening.follower)."""

import pytest

from polex.domain.audit import AuditTag
from polex.domain.base import RecordKind
from polex.screening.follower import RECORD_CHANGES, changes_record

RECORD_TAGS = [tag for tag in AuditTag if tag.value.startswith("record:")]


def test_every_action_on_a_record_is_classified() -> None:
    assert RECORD_TAGS
    assert [tag.value for tag in RECORD_TAGS if changes_record(tag) is None] == []


def test_only_record_tags_are_followed() -> None:
    assert all(tag.value.startswith("record:") for tag in RECORD_CHANGES)
    assert changes_record(AuditTag.DOCUMENTS_CHECKED) is None
    assert changes_record(AuditTag.QUARANTINE_RELEASED) is None  # its records are audited as imported


@pytest.mark.parametrize("kind", list(RecordKind))
def test_what_the_in_process_listeners_hear_of_is_followed(kind: RecordKind) -> None:
    # RecordService.create, create_many/create_new, update and delete; retention's purge.
    for action in ("created", "imported", "updated", "deleted", "purged"):
        assert AuditTag.for_record(kind.value, action) in RECORD_CHANGES
    for action in ("read", "listed", "exported", "accesses_viewed", "retention_extended"):
        assert AuditTag.for_record(kind.value, action) not in RECORD_CHANGES


def test_a_notice_s_steps_are_followed_as_they_put_its_copy_in_force_or_withdraw_it() -> None:
    steps = ("approved", "issued", "suspended", "reinstated", "cancelled", "expired", "review_requested")
    assert {AuditTag.for_record("notice", step) for step in steps} <= RECORD_CHANGES
    for unchanged in (AuditTag.NOTICE_FILE_ADDED, AuditTag.NOTICE_PRECHECKED, AuditTag.NOTICE_RELAY_REFUSED):
        assert unchanged not in RECORD_CHANGES
    # Elsewhere a review request is retention's, which changes no content or key.
    assert AuditTag.PERSON_REVIEW_REQUESTED not in RECORD_CHANGES
