"""A national node's notice requests: drafts, files and pre-checks stay on the node; a step
that must reach the hub is refused, with nothing changed, while the node is in no network;
the node never numbers, publishes or expires a notice itself (the hub does, and reports)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from polex.bootstrap import Node
from polex.domain.notice import Action, AttachmentKind, NoticeRequest
from polex.errors import Forbidden, ServiceUnavailable
from polex.notice.service import NoticeFilters
from polex.storage.tables import OutboxRow, RecordRow
from tests.factories import diffusion_body, red_notice_body
from tests.integration.test_notices import ncb, reviewer


def test_a_national_draft_stays_on_its_node_until_the_network_can_carry_it(node: Node) -> None:
    fra = ncb(node, "FRA")
    draft = node.notices.create(NoticeRequest.model_validate(red_notice_body()), fra)
    assert draft.status == "draft"
    assert draft.owner.country == "FRA"
    photo = node.notices.add_file(
        draft.id,
        b"\xff\xd8\xff\xe0" + b"\x00" * 32,
        fra,
        media_type="image/jpeg",
        kind=AttachmentKind.PHOTO,
        name="face.jpg",
        public=False,
    )
    updated = node.notices.update(
        draft.id,
        NoticeRequest.model_validate(red_notice_body(attachments=[photo.model_dump()])),
        fra,
        version=draft.version,
    )

    with pytest.raises(ServiceUnavailable, match="hub"):
        node.notices.act(draft.id, Action.SUBMIT, fra)
    after = node.notices.get(draft.id, fra, purpose=None)
    assert (after.status, after.version) == ("draft", updated.version)  # nothing changed
    with node.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(OutboxRow)) == 0
    mine, _ = node.notices.list_notices(fra, NoticeFilters(scope="mine"), purpose=None, cursor=None, limit=10)
    assert [item.id for item in mine] == [draft.id]


def test_a_national_node_has_no_reviewers_clock_or_notice_records(node: Node) -> None:
    fra = ncb(node, "FRA")
    diffusion = node.notices.create(NoticeRequest.model_validate(diffusion_body(recipients=["DEU"])), fra)
    with pytest.raises(ServiceUnavailable):
        node.notices.act(diffusion.id, Action.ISSUE, fra)  # issued only through the hub
    with pytest.raises(Forbidden):
        node.notices.list_notices(reviewer(node), NoticeFilters(scope="review"), purpose=None, cursor=None, limit=5)
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=20 * 365)
    assert node.notices.sweep(far) == {"review_requested": 0, "expired": 0}
    with node.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).where(RecordRow.kind == "notice")) == 0
