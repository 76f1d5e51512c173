import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from polex.domain.audit import Actor, AuditEvent, AuditTag, Decision
from polex.domain.base import new_id


def event(**overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "seq": 3,
        "id": new_id(),
        "at": dt.datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=dt.UTC),
        "tag": AuditTag.PERSON_READ,
        "actor": Actor(kind="user", id=new_id(), name="officer", agency_id=new_id(), country="FRA"),
        "record_kind": "person",
        "record_ids": [new_id()],
        "decision": Decision.ALLOWED,
    }
    fields.update(overrides)
    return AuditEvent.model_validate(fields)


def test_the_canonical_form_holds_every_field_once() -> None:
    import json

    document = json.loads(event().canonical())
    assert set(document) == set(AuditEvent.model_fields)
    assert set(document["actor"]) == set(Actor.model_fields)
    assert document["at"] == "2026-11-28T12:00:00.123456Z"


printable = st.text(max_size=30).filter(lambda text: not any(ord(c) < 32 or ord(c) == 127 for c in text))


@given(
    name=printable,
    details=st.dictionaries(printable, st.integers(-(2**63), 2**63 - 1) | printable, max_size=4),
    # Events are stamped "now"; the canonical form writes four-digit years.
    at=st.datetimes(min_value=dt.datetime(2000, 1, 1), timezones=st.just(dt.UTC)),
)
def test_the_canonical_form_parses_back_byte_for_byte(name: str, details: dict[str, object], at: dt.datetime) -> None:
    original = event(actor=Actor(kind="user", name=name), details=details, at=at)
    assert AuditEvent.model_validate_json(original.canonical()).canonical() == original.canonical()
