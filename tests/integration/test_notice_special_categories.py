"""A notice's subject under its owner country's law, at the hub, on SQLite and PostgreSQL:
Ukraine never sends health or biometric data abroad, so a French bureau reading Ukraine's
red notice under an agreement granting full access gets the whole notice but its
subject's health and biometrics, and the answer names the nested fields removed and the
Ukrainian law. The screening match and the national replica feed show it the same way."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from polex.auth.principal import Principal
from polex.bootstrap import Node
from polex.domain.notice import Action, NoticeRequest
from polex.domain.policy import NationalRules, Purpose
from polex.network.membership import Member, Membership
from polex.network.view import NetworkView
from polex.replica.service import ReplicaFeed
from tests.factories import red_notice_body
from tests.integration.test_notices import ncb, reviewer, share_notices
from tests.integration.test_screening import admin

UKRAINIAN_LAW = "Law of Ukraine on Personal Data Protection, art. 29"
REMOVED = ["subject.health", "subject.biometrics"]


def wanted_with_special_categories() -> dict[str, Any]:
    body = red_notice_body()
    body["subject"] = {
        **body["subject"],
        "health": "Needs daily insulin",
        "biometrics": [{"modality": "fingerprints", "reference": "UA-TCN-2021-0042", "held_by": "NCB Kyiv"}],
    }
    return body


@pytest.fixture
def published(hub_node: Node) -> tuple[Node, Principal, str]:
    """Ukraine's red notice, published at the hub; the French bureau that reads it."""
    ukr, fra = ncb(hub_node, "UKR"), ncb(hub_node, "FRA")
    share_notices(hub_node, "UKR", "FRA")
    hub_node.policy.set_national_rules(
        NationalRules(country="UKR", never_shared=["health", "biometrics"], legal_reference=UKRAINIAN_LAW),
        admin("UKR"),
    )
    notice_id = hub_node.notices.create(NoticeRequest.model_validate(wanted_with_special_categories()), ukr).id
    hub_node.notices.act(notice_id, Action.SUBMIT, ukr)
    hub_node.notices.act(notice_id, Action.APPROVE, reviewer(hub_node))
    return hub_node, fra, notice_id


def assert_shown_without_special_categories(notice: dict[str, Any]) -> None:
    subject = notice["subject"]
    assert "health" not in subject
    assert "biometrics" not in subject
    assert subject["names"][0]["family"] == "SOKOLOV"
    assert subject["identifiers"] == [{"kind": "passport", "value": "FE123456", "country": "UKR", "issued_on": None}]
    assert subject["physical"]["height_cm"] == 182
    assert notice["offences"][0]["law"] == "Criminal Code of Ukraine, art. 115"
    assert notice["legal_basis"][0]["reference"] == "757/1234/21"


def assert_access(access: dict[str, Any]) -> None:
    assert access["outcome"] == "redacted"
    assert access["removed_fields"] == REMOVED
    [national] = [rule for rule in access["rules"] if rule["code"] == "national.never_shared"]
    assert national["reference"] == UKRAINIAN_LAW
    assert national["text"] == "the law of UKR never sends abroad: subject.health, subject.biometrics"
    assert any(rule["code"] == "agreement.full" for rule in access["rules"])


def test_a_foreign_bureau_reads_the_notice_without_its_subjects_special_categories(
    published: tuple[Node, Principal, str],
) -> None:
    node, fra, notice_id = published
    shown = node.records["notice"].get(notice_id, fra, purpose=Purpose.PROSECUTION)
    assert shown["status"] == "published"
    assert_shown_without_special_categories(shown)
    assert_access(shown["access"])

    read = node.notices.get(notice_id, fra, purpose=Purpose.PROSECUTION)
    assert read.access == "redacted"
    assert read.withheld == REMOVED
    assert read.notice is not None
    assert_shown_without_special_categories(read.notice)

    # The source still has its notice whole.
    own = node.notices.get(notice_id, ncb(node, "UKR"), purpose=None)
    assert own.notice is not None
    assert own.notice["subject"]["health"] == "Needs daily insulin"
    assert own.notice["subject"]["biometrics"][0]["reference"] == "UA-TCN-2021-0042"


def test_screening_and_the_replica_feed_withhold_the_same_fields(published: tuple[Node, Principal, str]) -> None:
    node, fra, notice_id = published
    [match] = node.screening.match_persons(
        {"names": ["Ivan Sokolov"], "birth_date": "1979-04-12"}, fra, purpose=Purpose.PROSECUTION
    )
    assert match["id"] == notice_id
    assert_shown_without_special_categories(match["record"])
    assert_access(match["record"]["access"])

    # The hub's feed to the French national node: a member of the network, not an agency.
    now = dt.datetime.now(dt.UTC)
    france = Member("fra", "FRA", "national", "active", None, None, None, None, None, None)
    membership = Membership(issued_at=now, next_update=now + dt.timedelta(minutes=5), members={"fra": france})

    class Network:
        def membership(self, *, now: dt.datetime | None = None) -> Membership:
            return membership

    feed = ReplicaFeed(node.uow, node.audit, node.policy, node.records, cast(NetworkView, Network()))
    [change] = feed.changes_for("fra", [notice_id])
    assert change["access"] == "redacted"
    assert_shown_without_special_categories(change["record"])
    assert_access(change["record"]["access"])
