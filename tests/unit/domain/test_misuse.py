import datetime as dt
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from polex.domain.audit import Actor, AuditEvent, AuditTag, Decision
from polex.domain.misuse import (
    MisuseAlert,
    MisuseDetector,
    MisuseRule,
    MisuseRules,
    Severity,
    WorkingHours,
)

MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)  # 11:00 in Paris, 19:00 in Tokyo
ALICE = Actor(kind="user", id="u-alice", name="alice", agency_id="ag-paris", country="FRA")
BOB = Actor(kind="user", id="u-bob", name="bob", agency_id="ag-paris", country="FRA")
KENJI = Actor(kind="user", id="u-kenji", name="kenji", agency_id="ag-tokyo", country="JPN")
ZONES = {"FRA": "Europe/Paris", "JPN": "Asia/Tokyo"}

# Every rule off but the one under test: alerts from the others would only be noise.
ALL_OFF = frozenset(MisuseRule)


def only(*rules: MisuseRule, **fields: object) -> MisuseRules:
    return MisuseRules.model_validate({"disabled": ALL_OFF - set(rules), **fields})


class Trail:
    """Makes events with increasing sequence numbers and controlled times."""

    def __init__(self) -> None:
        self.seq = 0

    def event(
        self,
        seconds: float = 0,
        *,
        at: dt.datetime | None = None,
        tag: AuditTag = AuditTag.PERSON_READ,
        actor: Actor = ALICE,
        **fields: object,
    ) -> AuditEvent:
        document: dict[str, object] = {
            "seq": self.seq,
            "id": f"event-{self.seq}",
            "at": at if at is not None else MONDAY + dt.timedelta(seconds=seconds),
            "tag": tag,
            "actor": actor,
            "record_kind": tag.value.split(":")[1] if tag.value.startswith("record:") else None,
            "record_ids": ["person-1"] if tag.value.startswith("record:") else [],
            "purpose": "investigation",
        }
        document.update(fields)
        self.seq += 1
        return AuditEvent.model_validate(document)

    def refused(self, seconds: float, username: str, user_id: str | None = None) -> AuditEvent:
        actor = Actor(kind="user" if user_id else "anonymous", id=user_id, name=username)
        return self.event(seconds, tag=AuditTag.LOGIN_FAILED, actor=actor, decision=Decision.FAILED)

    def denied(self, seconds: float, actor: Actor = ALICE) -> AuditEvent:
        return self.event(seconds, tag=AuditTag.ACCESS_DENIED, actor=actor, decision=Decision.DENIED)


def feed(detector: MisuseDetector, events: Iterable[AuditEvent]) -> list[list[MisuseAlert]]:
    """The alerts of each event, in order."""
    return [detector.observe(event) for event in events]


def rules_of(alerts: Iterable[MisuseAlert]) -> list[MisuseRule]:
    return [alert.rule for alert in alerts]


# -- burst ---------------------------------------------------------------------------------


def test_a_burst_fires_one_above_the_limit_and_not_at_it() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=5, burst_window_seconds=60))
    events = [trail.event(second) for second in range(6)]
    alerts = feed(detector, events)
    assert alerts[:5] == [[]] * 5
    (alert,) = alerts[5]
    assert alert.rule is MisuseRule.BURST
    assert alert.severity is Severity.HIGH
    assert alert.actor == ALICE
    assert alert.key == "user:u-alice"
    assert (alert.count, alert.threshold) == (6, 5)
    assert alert.evidence == [event.seq for event in events]
    assert alert.trigger_seq == events[-1].seq
    assert alert.window_end == events[-1].at
    assert alert.window_start == events[-1].at - dt.timedelta(seconds=60)
    assert not alert.reminder
    assert alert.explanation.endswith(".")
    assert alert.explanation.count(". ") == 0  # one sentence
    assert "alice" in alert.explanation


def test_listings_count_as_accesses_but_administration_does_not() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=2))
    assert detector.scan([trail.event(0, tag=AuditTag.USERS_LISTED), trail.event(1, tag=AuditTag.USER_CREATED)]) == []
    assert detector.scan([trail.event(2, tag=AuditTag.VEHICLE_LISTED), trail.event(3, tag=AuditTag.CASE_READ)]) == []
    assert rules_of(detector.observe(trail.event(4, tag=AuditTag.TRAVEL_DOCUMENT_READ))) == [MisuseRule.BURST]


def test_access_tags_are_configurable_patterns() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=1, access_tags=("record:vehicle:*",)))
    assert detector.scan([trail.event(0), trail.event(1), trail.event(2, tag=AuditTag.VEHICLE_READ)]) == []
    assert rules_of(detector.observe(trail.event(3, tag=AuditTag.VEHICLE_UPDATED))) == [MisuseRule.BURST]


def test_the_window_slides_and_old_events_stop_counting() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=3, burst_window_seconds=60))
    at = {seconds: trail.event(seconds) for seconds in (0, 10, 50, 61, 65)}
    alerts = feed(detector, at.values())
    # At 60 the event at 0 leaves the window (start excluded): at 61 three remain.
    assert alerts[:4] == [[]] * 4
    (alert,) = alerts[4]
    assert alert.evidence == [at[seconds].seq for seconds in (10, 50, 61, 65)]
    for seq in alert.evidence:
        event = next(event for event in at.values() if event.seq == seq)
        assert alert.window_start < event.at <= alert.window_end


def test_an_event_exactly_one_window_old_is_out() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=1, burst_window_seconds=60))
    assert detector.scan([trail.event(0), trail.event(60)]) == []
    assert rules_of(detector.observe(trail.event(119.999))) == [MisuseRule.BURST]


def test_actors_are_counted_apart() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=3))
    events = [trail.event(second, actor=ALICE if second % 2 else BOB) for second in range(7)]
    alerts = [alert for batch in feed(detector, events) for alert in batch]
    assert [alert.actor for alert in alerts] == [BOB]  # bob's fourth, at 6; alice has three
    assert alerts[0].evidence == [0, 2, 4, 6]


# -- no storms -----------------------------------------------------------------------------


def test_a_sustained_condition_alerts_once_then_reminds_after_the_cooldown() -> None:
    trail = Trail()
    rules = only(MisuseRule.BURST, burst_limit=3, burst_window_seconds=60, cooldown_seconds=3600)
    detector = MisuseDetector(rules)
    # Four accesses a minute, every 15 s: the condition holds without a break.
    events = [trail.event(15 * step) for step in range(300)]  # 75 minutes
    fired = [(event, alerts) for event, alerts in zip(events, feed(detector, events), strict=True) if alerts]
    assert [event.seq for event, _ in fired] == [3, 3 + 240]  # the 4th event, then one hour later
    first, again = (alerts[0] for _, alerts in fired)
    assert not first.reminder
    assert again.reminder
    assert "still" in again.explanation
    assert set(first.evidence).isdisjoint(again.evidence)


def test_an_alert_returns_once_the_condition_has_cleared() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=3, burst_window_seconds=60))
    first = detector.scan([trail.event(second) for second in range(10)])
    assert len(first) == 1
    # 30 s later the window still held the burst: not cleared, no new alert.
    assert detector.scan([trail.event(40 + second) for second in range(4)]) == []
    # Quiet for more than a window after the last time the condition held: a new episode.
    second = detector.scan([trail.event(200 + second) for second in range(4)])
    assert rules_of(second) == [MisuseRule.BURST]
    assert not second[0].reminder
    assert second[0].evidence == list(range(14, 18))


def test_hovering_at_the_limit_does_not_storm() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=3, burst_window_seconds=60, cooldown_seconds=3600))
    # Alternating 3 and 4 in the window: the condition flips on nearly every event.
    events = [trail.event(seconds) for step in range(100) for seconds in (30 * step, 30 * step + 1)]
    assert len(detector.scan(events)) == 1


# -- off hours -----------------------------------------------------------------------------


def off_hours(limit: int = 0, **fields: object) -> MisuseRules:
    return only(MisuseRule.OFF_HOURS, off_hours_limit=limit, country_time_zones=ZONES, **fields)


def test_off_hours_follow_the_country_time_zone() -> None:
    trail = Trail()
    detector = MisuseDetector(off_hours())
    night = dt.datetime(2026, 3, 3, 23, 30, tzinfo=dt.UTC)  # Tuesday
    # 00:30 on Wednesday in Paris; 08:30 on Wednesday in Tokyo.
    (alert,) = detector.observe(trail.event(at=night, actor=ALICE))
    assert alert.rule is MisuseRule.OFF_HOURS
    assert alert.severity is Severity.LOW
    assert "Wed 00:30 CET" in alert.explanation
    assert detector.observe(trail.event(at=night, actor=KENJI)) == []


def test_daylight_saving_time_is_applied() -> None:
    trail = Trail()
    detector = MisuseDetector(off_hours())
    summer_morning = dt.datetime(2026, 7, 1, 5, 30, tzinfo=dt.UTC)  # 07:30 CEST in Paris
    assert detector.observe(trail.event(at=summer_morning, actor=ALICE)) == []
    winter_morning = dt.datetime(2026, 1, 7, 5, 30, tzinfo=dt.UTC)  # 06:30 CET
    assert rules_of(detector.observe(trail.event(at=winter_morning, actor=ALICE))) == [MisuseRule.OFF_HOURS]


def test_weekends_are_off_hours_and_actors_without_a_zone_use_the_default() -> None:
    trail = Trail()
    detector = MisuseDetector(off_hours())
    saturday_noon = dt.datetime(2026, 3, 7, 11, 0, tzinfo=dt.UTC)
    assert rules_of(detector.observe(trail.event(at=saturday_noon, actor=KENJI))) == [MisuseRule.OFF_HOURS]
    nowhere = Actor(kind="api_key", id="k-1", name="gateway")
    assert detector.observe(trail.event(at=MONDAY, actor=nowhere)) == []  # 10:00 UTC
    assert rules_of(detector.observe(trail.event(at=MONDAY.replace(hour=21), actor=nowhere))) == [MisuseRule.OFF_HOURS]


def test_off_hours_fire_one_above_the_limit_within_a_day() -> None:
    trail = Trail()
    detector = MisuseDetector(off_hours(limit=2))
    evening = dt.datetime(2026, 3, 2, 20, 0, tzinfo=dt.UTC)  # 21:00 in Paris
    in_hours = [trail.event(at=MONDAY + dt.timedelta(minutes=minute)) for minute in range(50)]
    assert detector.scan(in_hours) == []
    late = [trail.event(at=evening + dt.timedelta(minutes=minute)) for minute in range(3)]
    alerts = feed(detector, late)
    assert alerts[:2] == [[], []]
    (alert,) = alerts[2]
    assert alert.evidence == [event.seq for event in late]  # in-hours accesses are no evidence
    # A day later the evening accesses have left the window.
    next_evening = [trail.event(at=evening + dt.timedelta(days=1, minutes=5 + minute)) for minute in range(2)]
    assert detector.scan(next_evening) == []


def test_country_working_hours_can_be_overridden_including_night_shifts() -> None:
    night_shift = WorkingHours(start=dt.time(22), end=dt.time(6), weekdays=frozenset({1, 2, 3, 4, 5}))
    trail = Trail()
    detector = MisuseDetector(off_hours(country_working_hours={"jpn": night_shift}))
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert detector.observe(trail.event(at=dt.datetime(2026, 3, 3, 23, 0, tzinfo=tokyo), actor=KENJI)) == []
    # 03:00 on Saturday belongs to Friday's shift.
    assert detector.observe(trail.event(at=dt.datetime(2026, 3, 7, 3, 0, tzinfo=tokyo), actor=KENJI)) == []
    alerts = detector.observe(trail.event(at=dt.datetime(2026, 3, 3, 12, 0, tzinfo=tokyo), actor=KENJI))
    assert rules_of(alerts) == [MisuseRule.OFF_HOURS]


@pytest.mark.parametrize(
    ("local", "covered"),
    [
        (dt.datetime(2026, 3, 2, 6, 59), False),
        (dt.datetime(2026, 3, 2, 7, 0), True),
        (dt.datetime(2026, 3, 6, 19, 59), True),
        (dt.datetime(2026, 3, 6, 20, 0), False),
        (dt.datetime(2026, 3, 8, 12, 0), False),  # Sunday
    ],
)
def test_default_working_hours(local: dt.datetime, covered: bool) -> None:
    assert WorkingHours().covers(local) is covered


def test_round_the_clock_agencies_kinds_actors_and_roles_are_exempt() -> None:
    night = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)
    border = Actor(kind="user", id="u-border", name="guard", agency_id="ag-border", country="FRA")
    machine = Actor(kind="api_key", id="k-gate", name="e-gate", agency_id="ag-paris", country="FRA")
    rules = off_hours(
        allow_off_hours_agencies=frozenset({"ag-border"}),
        allow_off_hours_kinds=frozenset({"api_key"}),
        allow_off_hours_actors=frozenset({"u-bob"}),
    )
    roles = {"u-alice": {"border_officer"}, "u-kenji": {"investigator"}}
    detector = MisuseDetector(rules, roles_of=lambda actor: roles.get(actor.id or "", set()))
    trail = Trail()
    for actor in (border, machine, BOB, ALICE):
        assert detector.observe(trail.event(at=night, actor=actor)) == [], actor.name
    tokyo_night = night + dt.timedelta(hours=14)  # 00:00 in Tokyo
    assert rules_of(detector.observe(trail.event(at=tokyo_night, actor=KENJI))) == [MisuseRule.OFF_HOURS]
    # Without a way to know roles, nobody is exempt by role.
    assert rules_of(MisuseDetector(rules).observe(trail.event(at=night, actor=ALICE))) == [MisuseRule.OFF_HOURS]


# -- many unrelated persons ----------------------------------------------------------------


def test_many_distinct_persons_without_a_case_fire_one_above_the_limit() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.UNRELATED_PERSONS, unrelated_persons_limit=3))
    reads = [trail.event(minute * 60, record_ids=[f"person-{minute % 3}"]) for minute in range(6)]
    with_case = [trail.event(400 + second, record_ids=[f"other-{second}"], case_reference="C-1") for second in range(5)]
    vehicles = [trail.event(500, tag=AuditTag.VEHICLE_READ, record_ids=["vehicle-9"])]
    assert detector.scan([*reads, *with_case, *vehicles]) == []  # three people, read twice each
    last = trail.event(600, record_ids=["person-9"])
    (alert,) = detector.observe(last)
    assert alert.rule is MisuseRule.UNRELATED_PERSONS
    assert (alert.count, alert.threshold) == (4, 3)
    assert alert.evidence == [*(event.seq for event in reads), last.seq]


def test_person_reads_spread_over_too_many_cases() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.CASE_SPREAD, MisuseRule.UNRELATED_PERSONS, case_spread_limit=2))
    events = [trail.event(second, record_ids=[f"p-{second}"], case_reference=f"C-{second % 3}") for second in range(3)]
    alerts = feed(detector, events)
    assert alerts[:2] == [[], []]
    assert rules_of(alerts[2]) == [MisuseRule.CASE_SPREAD]


def test_distinct_persons_leave_the_window_after_a_shift() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.UNRELATED_PERSONS, unrelated_persons_limit=2))
    assert detector.scan([trail.event(0, record_ids=["a"]), trail.event(1, record_ids=["b"])]) == []
    assert detector.observe(trail.event(8 * 3600 + 1, record_ids=["c"])) == []


# -- denials -------------------------------------------------------------------------------


def test_denials_fire_one_above_the_limit() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.DENIALS, denial_limit=3, denial_window_seconds=600))
    alerts = feed(detector, [trail.denied(second) for second in range(4)])
    assert alerts[:3] == [[]] * 3
    (alert,) = alerts[3]
    assert alert.rule is MisuseRule.DENIALS
    assert alert.evidence == [0, 1, 2, 3]
    # Ten minutes later they are forgotten.
    assert detector.scan([trail.denied(700 + second) for second in range(3)]) == []


def test_a_high_denial_ratio_fires_above_the_ratio_with_enough_attempts() -> None:
    trail = Trail()
    rules = only(MisuseRule.DENIAL_RATIO, denial_ratio_limit=0.5, denial_ratio_min_attempts=10)
    detector = MisuseDetector(rules)
    events = [trail.event(second) if second % 2 else trail.denied(second) for second in range(10)]
    assert detector.scan(events) == []  # 5 of 10: not above one half
    (alert,) = detector.observe(trail.denied(10))
    assert alert.rule is MisuseRule.DENIAL_RATIO
    assert alert.count == pytest.approx(6 / 11)
    assert alert.threshold == 0.5
    assert alert.evidence == list(range(11))  # accesses and denials are both attempts
    assert "6 of 11" in alert.explanation


def test_the_denial_ratio_needs_enough_attempts() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.DENIAL_RATIO, denial_ratio_min_attempts=10))
    assert detector.scan([trail.denied(second) for second in range(9)]) == []
    assert rules_of(detector.observe(trail.denied(9))) == [MisuseRule.DENIAL_RATIO]


# -- no purpose ----------------------------------------------------------------------------


def test_accesses_without_purpose_fire_one_above_the_daily_limit() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.NO_PURPOSE, no_purpose_limit=3))
    declared = [trail.event(second) for second in range(10)]
    undeclared = [trail.event(100 + second, purpose=None) for second in range(4)]
    alerts = feed(detector, [*declared, *undeclared])
    assert [len(batch) for batch in alerts] == [0] * 13 + [1]
    assert alerts[-1][0].evidence == [event.seq for event in undeclared]
    assert "purpose" in alerts[-1][0].explanation


# -- failed logins -------------------------------------------------------------------------


def test_guessing_one_password_fires_one_above_the_limit() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.LOGIN_GUESSING, MisuseRule.PASSWORD_SPRAYING, failed_login_limit=3))
    attempts = [trail.refused(second, name, "u-alice") for second, name in enumerate(["alice", "Alice", "ALICE"])]
    assert detector.scan(attempts) == []
    (alert,) = detector.observe(trail.refused(3, "alice", "u-alice"))
    assert alert.rule is MisuseRule.LOGIN_GUESSING
    assert alert.key == "username:alice"
    assert alert.actor is not None
    assert alert.actor.name == "alice"
    assert alert.evidence == [0, 1, 2, 3]
    # Refusals for a username nobody has (no actor id) are counted too.
    assert detector.scan([trail.refused(10 + second, "ghost") for second in range(3)]) == []
    assert rules_of(detector.observe(trail.refused(14, "ghost"))) == [MisuseRule.LOGIN_GUESSING]


def test_password_spraying_is_many_usernames_failing() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.LOGIN_GUESSING, MisuseRule.PASSWORD_SPRAYING, spraying_usernames_limit=3))
    sprayed = [trail.refused(second, f"user{second}") for second in range(3)]
    assert detector.scan(sprayed) == []
    last = trail.refused(3, "user3")
    (alert,) = detector.observe(last)  # one try each: no guessing alert
    assert alert.rule is MisuseRule.PASSWORD_SPRAYING
    assert alert.severity is Severity.HIGH
    assert alert.actor is None
    assert alert.key == "node"
    assert alert.evidence == [*(event.seq for event in sprayed), last.seq]
    assert "spraying" in alert.explanation


def test_one_user_failing_often_is_not_spraying() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.PASSWORD_SPRAYING, spraying_usernames_limit=3))
    assert detector.scan([trail.refused(second, "alice") for second in range(50)]) == []


# -- the detector --------------------------------------------------------------------------


def mixed_trail() -> list[AuditEvent]:
    trail = Trail()
    events: list[AuditEvent] = []
    for step in range(400):
        actor = (ALICE, BOB, KENJI)[step % 3]
        seconds = step * 7
        if step % 11 == 0:
            events.append(trail.denied(seconds, actor))
        elif step % 13 == 0:
            events.append(trail.refused(seconds, f"user{step % 29}"))
        else:
            events.append(trail.event(seconds, actor=actor, record_ids=[f"p-{step % 37}"], purpose=None))
    return events


def small_rules() -> MisuseRules:
    return MisuseRules(
        burst_limit=2,
        burst_window_seconds=60,
        off_hours_limit=1,
        country_time_zones=ZONES,
        unrelated_persons_limit=5,
        denial_limit=2,
        denial_ratio_min_attempts=4,
        no_purpose_limit=6,
        failed_login_limit=1,
        spraying_usernames_limit=3,
        cooldown_seconds=300,
    )


def test_replaying_the_trail_gives_the_same_alerts() -> None:
    events = mixed_trail()
    first = MisuseDetector(small_rules()).scan(events)
    assert first == MisuseDetector(small_rules()).scan(events)
    assert len({alert.rule for alert in first}) >= 5


def test_events_already_seen_are_ignored() -> None:
    events = mixed_trail()
    detector = MisuseDetector(small_rules())
    assert detector.scan(events)
    assert detector.scan(events) == []


def test_a_late_timestamp_counts_as_the_latest_time_seen() -> None:
    trail = Trail()
    detector = MisuseDetector(only(MisuseRule.BURST, burst_limit=1))
    detector.observe(trail.event(100))
    (alert,) = detector.observe(trail.event(90))
    assert alert.window_end == MONDAY + dt.timedelta(seconds=100)


def test_disabled_rules_raise_nothing_and_keep_no_state() -> None:
    detector = MisuseDetector(MisuseRules(disabled=frozenset(MisuseRule)))
    assert detector.scan(mixed_trail()) == []
    assert detector.tracked_keys() == 0


def test_severities_can_be_configured() -> None:
    trail = Trail()
    rules = only(MisuseRule.BURST, burst_limit=0, severities={MisuseRule.BURST: Severity.LOW})
    (alert,) = MisuseDetector(rules).observe(trail.event())
    assert alert.severity is Severity.LOW


@pytest.mark.parametrize(
    "fields",
    [
        {"default_time_zone": "Mars/Olympus"},
        {"country_time_zones": {"FRA": "Europe/Pariss"}},
        {"agency_time_zones": {"ag": "../../etc/passwd"}},
        {"working_hours": {"weekdays": [0, 1]}},
        {"burst_window_seconds": 0},
        {"denial_ratio_limit": 1.5},
        {"unknown": 1},
    ],
)
def test_bad_rules_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MisuseRules.model_validate(fields)


def test_every_rule_field_is_documented() -> None:
    for name, spec in MisuseRules.model_fields.items():
        assert spec.description, name


def test_memory_stays_within_the_windows() -> None:
    template = Trail().event(purpose=None)
    rules = MisuseRules()
    detector = MisuseDetector(rules)
    # 100,000 reads of one person by one actor, ten a second for nearly three hours.
    for step in range(100_000):
        detector.observe(template.model_copy(update={"seq": step, "at": MONDAY + dt.timedelta(seconds=step / 10)}))
        if step % 10_000 == 9_999:
            lengths = detector.window_lengths()
            assert lengths[MisuseRule.BURST] == rules.burst_limit + 1  # 600 in the window, 201 needed
            assert lengths[MisuseRule.NO_PURPOSE] == rules.no_purpose_limit + 1
            assert lengths[MisuseRule.DENIAL_RATIO] <= rules.denial_ratio_sample
            assert lengths[MisuseRule.UNRELATED_PERSONS] <= rules.max_window_events
    # Many actors once each: those whose windows have passed are forgotten.
    detector = MisuseDetector(only(MisuseRule.BURST, burst_window_seconds=60))
    for step in range(20_000):
        actor = Actor(kind="user", id=f"u-{step}")
        at = MONDAY + dt.timedelta(seconds=step)
        detector.observe(template.model_copy(update={"seq": step, "at": at, "actor": actor}))
    assert detector.tracked_keys() <= 60


# -- properties ----------------------------------------------------------------------------

ACTORS = [ALICE, BOB, KENJI, Actor(kind="api_key", id="k-1", name="gate", country="JPN")]


@st.composite
def streams(draw: st.DrawFn) -> list[AuditEvent]:
    count = draw(st.integers(min_value=0, max_value=120))
    trail = Trail()
    seconds = 0.0
    events: list[AuditEvent] = []
    for _ in range(count):
        seconds += draw(st.sampled_from([0, 0.5, 1, 5, 30, 600, 7200]))
        kind = draw(st.sampled_from(["read", "read", "list", "denied", "refused"]))
        actor = draw(st.sampled_from(ACTORS))
        if kind == "denied":
            events.append(trail.denied(seconds, actor))
        elif kind == "refused":
            events.append(trail.refused(seconds, draw(st.sampled_from(["alice", "bob", "carol", "dave", "eve"]))))
        else:
            events.append(
                trail.event(
                    seconds,
                    tag=AuditTag.PERSON_READ if kind == "read" else AuditTag.PERSON_LISTED,
                    actor=actor,
                    record_ids=[f"p-{draw(st.integers(0, 8))}"],
                    purpose=draw(st.sampled_from([None, "check"])),
                    case_reference=draw(st.sampled_from([None, None, "C-1", "C-2", "C-3"])),
                )
            )
    return events


@settings(max_examples=60, deadline=None)
@given(streams())
def test_scanning_equals_observing_and_evidence_lies_in_the_window(events: list[AuditEvent]) -> None:
    rules = MisuseRules(
        burst_limit=3,
        burst_window_seconds=10,
        off_hours_limit=2,
        country_time_zones=ZONES,
        unrelated_persons_limit=3,
        case_spread_limit=1,
        person_window_seconds=60,
        denial_limit=2,
        denial_window_seconds=30,
        denial_ratio_min_attempts=3,
        no_purpose_limit=2,
        no_purpose_window_seconds=60,
        failed_login_limit=1,
        spraying_usernames_limit=2,
        cooldown_seconds=20,
    )
    scanned = MisuseDetector(rules).scan(events)
    one_by_one = MisuseDetector(rules)
    observed = [alert for event in events for alert in one_by_one.observe(event)]
    assert scanned == observed
    by_seq = {event.seq: event for event in events}
    for alert in scanned:
        assert alert.evidence == sorted(set(alert.evidence))
        assert alert.evidence[-1] == alert.trigger_seq
        assert alert.window_end == by_seq[alert.trigger_seq].at
        for seq in alert.evidence:
            assert alert.window_start < by_seq[seq].at <= alert.window_end
        if alert.rule is MisuseRule.BURST:
            # Exactly the actor's accesses in the window (its latest limit + 1 on a reminder).
            in_window = [
                event.seq
                for event in events
                if event.actor == alert.actor
                and event.tag in (AuditTag.PERSON_READ, AuditTag.PERSON_LISTED)
                and alert.window_start < event.at <= alert.window_end
                and event.seq <= alert.trigger_seq
            ]
            assert alert.evidence == (in_window if not alert.reminder else in_window[-len(alert.evidence) :])
            assert alert.count == len(alert.evidence)
