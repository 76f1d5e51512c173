"""Misuse rules fed by the real audit trail raise alerts for auditors and administrators."""

from __future__ import annotations

from polex.audit.misuse import MisuseMonitor
from polex.audit.service import EventDraft
from polex.bootstrap import Node
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import new_id
from polex.domain.misuse import MisuseRules


def reads(actor: Actor, count: int) -> list[EventDraft]:
    return [EventDraft(AuditTag.PERSON_READ, actor, record_kind="person", record_ids=[new_id()]) for _ in range(count)]


def test_a_burst_of_reads_raises_one_alert_counting_what_came_before_the_start(node: Node) -> None:
    # Only the burst rule is in play (the others would fire too: no purpose, and tests
    # may run at weekends, which are off-hours).
    rules = MisuseRules(burst_limit=30, burst_window_seconds=3600, no_purpose_limit=10**6, off_hours_limit=10**6)
    officer = Actor(kind="user", id=new_id(), name="curious", agency_id=new_id(), country="FRA")
    node.audit.record(reads(officer, 20))  # before the monitor starts: its warm-up counts these
    monitor = MisuseMonitor(node.uow, rules, origin=node.audit.origin)
    assert monitor.run_once() == []  # warm-up
    node.audit.record(reads(officer, 10))
    assert monitor.run_once() == []  # 30 reads: at the limit, not above
    node.audit.record(reads(officer, 1))
    alerts = monitor.run_once()
    assert [alert.rule.value for alert in alerts] == ["burst"]
    assert alerts[0].actor is not None
    assert alerts[0].actor.id == officer.id
    node.audit.record(reads(officer, 5))
    assert monitor.run_once() == []  # one alert per episode, not one per event
    stored = node.witness.alerts()
    assert [alert.kind for alert in stored] == ["misuse:burst"]
    assert stored[0].evidence["trigger_seq"] == alerts[0].trigger_seq


def test_repeated_denials_raise_an_alert(node: Node) -> None:
    monitor = MisuseMonitor(node.uow, MisuseRules(denial_limit=3), origin=node.audit.origin)
    monitor.run_once()
    prober = Actor(kind="user", id=new_id(), name="prober", agency_id=new_id(), country="FRA")
    node.audit.record([EventDraft(AuditTag.ACCESS_DENIED, prober, decision=Decision.DENIED) for _ in range(4)])
    assert [alert.rule.value for alert in monitor.run_once()] == ["denials"]
