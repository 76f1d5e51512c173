"""The notice lifecycle at the hub, on SQLite and PostgreSQL: a request is drafted,
submitted with its pre-check findings, reviewed, published into the shared database (the
policy, the screening watch list), updated, suspended, cancelled, extended and expired;
every step is recorded with who, when and why, and a step the lifecycle does not allow
changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.domain.notice import Action, AttachmentKind, NoticeRequest, NoticeStatus, NoticeTypeSpec
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionRequired, ValidationFailed
from polex.notice.service import NoticeFilters
from polex.notice.types import NoticeTypes
from polex.storage.tables import AuditEventRow, RecordRow
from tests.factories import diffusion_body, red_notice_body
from tests.integration.test_screening import admin, agency

PROSECUTION = Purpose.PROSECUTION


def ncb(node: Node, country: str) -> Principal:
    return Principal(
        PrincipalKind.USER,
        new_id(),
        f"ncb-{country}",
        agency(node, country, "NCB"),
        country,
        frozenset({Role.NCB_OPERATOR}),
    )


def reviewer(node: Node) -> Principal:
    return Principal(
        PrincipalKind.USER,
        new_id(),
        "reviewer",
        agency(node, "XPO", "General Secretariat"),
        "XPO",
        frozenset({Role.REVIEWER}),
    )


def share_notices(node: Node, *parties: str) -> None:
    """Every party sees the others' notices in full, for every purpose notices serve."""
    agreement = Agreement(
        id=f"notices-{new_id()[-8:]}",
        title="Notices among members",
        kind=AgreementKind.MULTILATERAL_CONVENTION,
        parties=list(parties),
        categories=[DataCategory.NOTICES],
        purposes=list(Purpose),
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="Rules on the Processing of Data, art. 10",
    )
    read = node.policy.propose(agreement, admin(parties[0]))
    for country in parties:
        node.policy.approve(agreement.id, read.version, admin(country))


@pytest.fixture
def world(hub_node: Node) -> tuple[Node, Principal, Principal, Principal]:
    ukr, fra = ncb(hub_node, "UKR"), ncb(hub_node, "FRA")
    share_notices(hub_node, "UKR", "FRA", "DEU")
    return hub_node, ukr, fra, reviewer(hub_node)


def draft(node: Node, source: Principal, **overrides: object) -> str:
    return node.notices.create(NoticeRequest.model_validate(red_notice_body(**overrides)), source).id


def publish(node: Node, source: Principal, hub: Principal, **overrides: object) -> str:
    notice_id = draft(node, source, **overrides)
    node.notices.act(notice_id, Action.SUBMIT, source)
    node.notices.act(notice_id, Action.APPROVE, hub)
    return notice_id


def sokolov() -> dict[str, object]:
    return {"names": ["Ivan Sokolov"], "birth_date": "1979-04-12"}


def test_a_red_notice_goes_from_draft_to_publication(world: tuple[Node, Principal, Principal, Principal]) -> None:
    node, ukr, fra, hub = world
    notice_id = draft(node, ukr)
    # A draft is the source's alone: no one else, not even the hub, learns of it.
    with pytest.raises(NotFound):
        node.notices.get(notice_id, fra, purpose=PROSECUTION)
    with pytest.raises(NotFound):
        node.notices.get(notice_id, hub, purpose=Purpose.DATA_QUALITY)
    with pytest.raises(BadRequest, match="declare the purpose"):
        node.notices.get(notice_id, hub, purpose=None)  # the same answer as for no notice at all
    submitted = node.notices.act(notice_id, Action.SUBMIT, ukr)
    assert submitted.status == "submitted"
    assert not [finding for finding in submitted.findings or [] if finding["severity"] == "blocking"]
    # Under review: the hub sees it whole, the members still see nothing, screening finds nothing.
    assert node.notices.get(notice_id, hub, purpose=None).access == "reviewer"
    with pytest.raises(NotFound):
        node.notices.get(notice_id, fra, purpose=PROSECUTION)
    assert node.screening.match_persons(sokolov(), fra, purpose=PROSECUTION) == []

    published = node.notices.act(notice_id, Action.APPROVE, hub)
    year = dt.datetime.now(dt.UTC).year
    assert published.status == "published"
    assert published.reference == f"{year}/1"
    assert published.published_at is not None
    assert published.expires_at is not None
    assert published.expires_at.year == published.published_at.year + 5
    assert published.review_due_at is not None
    assert dt.timedelta(days=180) < published.expires_at - published.review_due_at < dt.timedelta(days=186)

    seen = node.notices.get(notice_id, fra, purpose=PROSECUTION)
    assert seen.access == "full"
    assert seen.reference == f"{year}/1"
    assert seen.notice is not None
    assert seen.notice["subject"]["names"][0]["family"] == "SOKOLOV"
    assert seen.findings is None
    assert seen.history is None
    [match] = node.screening.match_persons(sokolov(), fra, purpose=PROSECUTION)
    assert match["id"] == notice_id
    assert match["match"] is True
    assert match["record"]["kind"] == "notice"

    history = node.notices.get(notice_id, ukr, purpose=None).history or []
    assert [(step.action, step.to_status) for step in history] == [
        (Action.UPDATE, "draft"),
        (Action.SUBMIT, "submitted"),
        (Action.APPROVE, "published"),
    ]
    assert history[-1].actor_country == "XPO"
    with node.uow(read_only=True) as uow:
        tags = set(uow.session.scalars(select(AuditEventRow.tag)))
    assert {"record:notice:created", "record:notice:submitted", "record:notice:approved"} <= tags


def test_steps_the_lifecycle_does_not_allow_are_refused_and_change_nothing(
    world: tuple[Node, Principal, Principal, Principal],
) -> None:
    node, ukr, fra, hub = world
    notice_id = draft(node, ukr)
    with pytest.raises(NotFound):
        node.notices.act(notice_id, Action.APPROVE, hub)  # the hub never sees drafts
    node.notices.act(notice_id, Action.SUBMIT, ukr)
    with pytest.raises(Conflict, match="a submitted notice cannot be 'submit'ed"):
        node.notices.act(notice_id, Action.SUBMIT, ukr)
    with pytest.raises(Forbidden, match="reviewer of the hub"):
        node.notices.act(notice_id, Action.APPROVE, ukr)  # the source cannot publish its own request
    with pytest.raises(NotFound):
        node.notices.act(notice_id, Action.CANCEL, fra, reason="not mine")  # another country
    with pytest.raises(ValidationFailed, match="needs a reason"):
        node.notices.act(notice_id, Action.REFUSE, hub)
    with pytest.raises(Conflict, match="submitted notice cannot be 'update'"):
        node.notices.update(notice_id, NoticeRequest.model_validate(red_notice_body()), ukr, version=2)
    with pytest.raises(PreconditionRequired):
        node.notices.update(notice_id, NoticeRequest.model_validate(red_notice_body()), ukr, version=None)
    with pytest.raises(Conflict, match="diffusion"):
        node.notices.act(notice_id, Action.ISSUE, ukr)
    current = node.notices.get(notice_id, ukr, purpose=None)
    assert current.status == "submitted"
    assert current.version == 2


def test_refused_with_reasons_kept_and_returned_for_more_information(
    world: tuple[Node, Principal, Principal, Principal],
) -> None:
    node, ukr, _, hub = world
    refused = draft(node, ukr)
    node.notices.act(refused, Action.SUBMIT, ukr)
    node.notices.act(refused, Action.REFUSE, hub, reason="Article 3: predominantly political character")
    read = node.notices.get(refused, ukr, purpose=None)
    assert read.status == "refused"
    assert (read.history or [])[-1].reason == "Article 3: predominantly political character"
    with pytest.raises(Conflict):
        node.notices.act(refused, Action.SUBMIT, ukr)  # refused is final

    returned = draft(node, ukr, legal_basis=[])
    submitted = node.notices.act(returned, Action.SUBMIT, ukr)
    assert any(f["code"].startswith("required.legal_basis") for f in submitted.findings or [])
    node.notices.act(returned, Action.RETURN, hub, reason="Send the arrest warrant")
    fixed = node.notices.update(
        returned, NoticeRequest.model_validate(red_notice_body()), ukr, version=submitted.version + 1
    )
    assert fixed.status == "returned"
    resubmitted = node.notices.act(returned, Action.SUBMIT, ukr)
    assert not [f for f in resubmitted.findings or [] if f["severity"] == "blocking"]
    assert node.notices.act(returned, Action.APPROVE, hub).status == "published"


def test_suspension_cancellation_and_updates_reach_the_shared_database(
    world: tuple[Node, Principal, Principal, Principal],
) -> None:
    node, ukr, fra, hub = world
    notice_id = publish(node, ukr, hub)
    assert node.screening.match_persons(sokolov(), fra, purpose=PROSECUTION)

    node.notices.act(notice_id, Action.SUSPEND, hub, reason="Human-rights complaint under examination")
    with pytest.raises(NotFound):
        node.notices.get(notice_id, fra, purpose=PROSECUTION)
    assert node.screening.match_persons(sokolov(), fra, purpose=PROSECUTION) == []
    node.notices.act(notice_id, Action.REINSTATE, hub, reason="Complaint dismissed")
    assert node.notices.get(notice_id, fra, purpose=PROSECUTION).status == "published"

    current = node.notices.get(notice_id, ukr, purpose=None)
    body = red_notice_body()
    body["subject"]["names"].append({"full": "Vanya SOKOL", "kind": "alias"})
    updated = node.notices.update(notice_id, NoticeRequest.model_validate(body), ukr, version=current.version)
    assert updated.status == "published"
    [alias] = node.screening.match_persons({"names": ["Vanya Sokol"]}, fra, purpose=PROSECUTION)
    assert alias["id"] == notice_id

    node.notices.act(notice_id, Action.CANCEL, ukr, reason="Person arrested and extradited")
    assert node.screening.match_persons(sokolov(), fra, purpose=PROSECUTION) == []
    with node.uow(read_only=True) as uow:
        record = uow.session.get(RecordRow, notice_id)
        assert record is not None
        assert record.deleted_at is not None
    with pytest.raises(Conflict):
        node.notices.act(notice_id, Action.REINSTATE, hub, reason="too late")


def test_a_diffusion_reaches_only_its_recipients_and_can_become_a_notice_request(
    world: tuple[Node, Principal, Principal, Principal],
) -> None:
    node, _, fra, _ = world
    esp, deu = ncb(node, "ESP"), ncb(node, "DEU")
    share_notices(node, "ESP", "FRA", "DEU")
    diffusion = node.notices.create(NoticeRequest.model_validate(diffusion_body(recipients=["FRA"])), esp)
    issued = node.notices.act(diffusion.id, Action.ISSUE, esp)
    assert issued.status == "published"
    assert (issued.reference or "").startswith("D-")
    assert node.notices.get(diffusion.id, fra, purpose=Purpose.CRIMINAL_INVESTIGATION).access == "full"
    with pytest.raises(NotFound):
        node.notices.get(diffusion.id, deu, purpose=Purpose.CRIMINAL_INVESTIGATION)
    listed, _ = node.notices.list_notices(
        deu, NoticeFilters(channel="diffusion"), purpose=Purpose.CRIMINAL_INVESTIGATION, cursor=None, limit=10
    )
    assert listed == []

    request = node.notices.request_notice(diffusion.id, esp)
    assert request.channel == "notice"
    assert request.status == "draft"
    assert request.notice is not None
    assert request.notice["from_diffusion"] == diffusion.id


def test_a_diffusion_missing_what_its_type_requires_is_not_issued(
    world: tuple[Node, Principal, Principal, Principal],
) -> None:
    node, ukr, _, _ = world
    body = diffusion_body(notice_type="red")
    diffusion = node.notices.create(NoticeRequest.model_validate(body), ukr)
    with pytest.raises(ValidationFailed) as refused:
        node.notices.act(diffusion.id, Action.ISSUE, ukr)
    assert any(error.field.startswith("legal_basis") for error in refused.value.errors)
    assert node.notices.get(diffusion.id, ukr, purpose=None).status == "draft"


def test_validity_review_request_extension_and_expiry(world: tuple[Node, Principal, Principal, Principal]) -> None:
    node, ukr, fra, hub = world
    notice_id = publish(node, ukr, hub)
    read = node.notices.get(notice_id, ukr, purpose=None)
    assert read.expires_at is not None
    assert read.review_due_at is not None
    assert node.notices.sweep(read.review_due_at - dt.timedelta(days=1)) == {"review_requested": 0, "expired": 0}
    assert node.notices.sweep(read.review_due_at + dt.timedelta(days=1)) == {"review_requested": 1, "expired": 0}
    assert node.notices.sweep(read.review_due_at + dt.timedelta(days=2)) == {"review_requested": 0, "expired": 0}

    too_far = (read.expires_at + dt.timedelta(days=6 * 365)).date()
    with pytest.raises(ValidationFailed, match="at most 5 years"):
        node.notices.act(notice_id, Action.EXTEND, ukr, reason="Still at large", valid_until=too_far)
    with pytest.raises(ValidationFailed, match="reason"):
        node.notices.act(notice_id, Action.EXTEND, ukr, valid_until=(read.expires_at + dt.timedelta(days=30)).date())
    with pytest.raises(Forbidden):
        node.notices.act(notice_id, Action.EXTEND, hub, reason="hub", valid_until=read.expires_at.date())
    new_end = (read.expires_at + dt.timedelta(days=365)).date()
    extended = node.notices.act(notice_id, Action.EXTEND, ukr, reason="Still at large", valid_until=new_end)
    assert extended.expires_at is not None
    assert extended.expires_at.date() == new_end
    assert node.notices.sweep(extended.expires_at + dt.timedelta(seconds=1)) == {"review_requested": 1, "expired": 1}
    assert node.notices.get(notice_id, ukr, purpose=None).status == "expired"
    with pytest.raises(NotFound):
        node.notices.get(notice_id, fra, purpose=PROSECUTION)


def test_files_are_the_sources_and_only_photos_may_be_public(
    world: tuple[Node, Principal, Principal, Principal],
) -> None:
    node, ukr, fra, hub = world
    notice_id = draft(node, ukr, public_extract=True)
    photo = node.notices.add_file(
        notice_id,
        b"\xff\xd8\xff\xe0fake-jpeg",
        ukr,
        media_type="image/jpeg",
        kind=AttachmentKind.PHOTO,
        name="face.jpg",
        public=True,
    )
    with pytest.raises(ValidationFailed, match="only photos"):
        node.notices.add_file(
            notice_id,
            b"%PDF-1.7",
            ukr,
            media_type="application/pdf",
            kind=AttachmentKind.DOCUMENT,
            name=None,
            public=True,
        )
    with pytest.raises(NotFound):
        node.notices.add_file(
            notice_id, b"x", fra, media_type="image/png", kind=AttachmentKind.PHOTO, name=None, public=False
        )
    stray = red_notice_body(public_extract=True, attachments=[{**photo.model_dump(), "id": new_id()}])
    with pytest.raises(ValidationFailed, match="names a file this notice does not have"):
        node.notices.update(notice_id, NoticeRequest.model_validate(stray), ukr, version=1)
    attachment = {k: v for k, v in photo.model_dump().items() if k != "name"} | {"name": "face.jpg"}
    body = red_notice_body(public_extract=True, attachments=[attachment])
    node.notices.update(notice_id, NoticeRequest.model_validate(body), ukr, version=1)
    node.notices.act(notice_id, Action.SUBMIT, ukr)
    node.notices.act(notice_id, Action.APPROVE, hub)
    stored = node.notices.file(notice_id, photo.id, fra, purpose=PROSECUTION)
    assert stored.media_type == "image/jpeg"
    assert stored.data.startswith(b"\xff\xd8")


def test_a_new_notice_type_is_configuration(world: tuple[Node, Principal, Principal, Principal]) -> None:
    node, ukr, _, hub = world
    silver = NoticeTypeSpec(
        code="silver",
        title="Silver notice",
        description="To trace and locate criminal assets",
        subject="person",
        requires=["offences"],
        purpose="criminal_investigation",
    )
    node.notices.types = NoticeTypes([silver])
    body = red_notice_body(notice_type="silver", legal_basis=[])
    notice_id = node.notices.create(NoticeRequest.model_validate(body), ukr).id
    node.notices.act(notice_id, Action.SUBMIT, ukr)
    assert node.notices.act(notice_id, Action.APPROVE, hub).status == NoticeStatus.PUBLISHED
    with pytest.raises(ValidationFailed, match="not a notice type"):
        node.notices.create(NoticeRequest.model_validate(red_notice_body(notice_type="teal")), ukr)
    with pytest.raises(ValueError, match="purpose"):
        NoticeTypes([silver.model_copy(update={"code": "bronze", "purpose": "curiosity"})])
