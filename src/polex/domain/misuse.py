"""Misuse detection: rules over the audit trail that flag insiders abusing police data.

Police databases are misused from the inside: officers look up neighbours, celebrities or
former partners, sell data, or go on fishing expeditions. Every access leaves an audit
event; the rules here read those events and raise a ``MisuseAlert`` when an actor's
behaviour crosses a configurable threshold. Reporting the alerts (to the node's
administrator and auditor) and suspending accounts is done elsewhere.

The rules (``MisuseRule``), each over a sliding window ``(end - span, end]``:

* ``burst``: more record accesses than ``burst_limit`` within ``burst_window_seconds``;
* ``off_hours``: more accesses outside the actor's local working hours than
  ``off_hours_limit`` within ``off_hours_window_seconds`` (a day by default);
* ``unrelated_persons``: more distinct person records read without a case reference than
  ``unrelated_persons_limit``; ``case_spread``: person reads spread over more distinct
  cases than ``case_spread_limit``;
* ``denials``: more denied requests than ``denial_limit``; ``denial_ratio``: a share of
  denied attempts above ``denial_ratio_limit`` over at least ``denial_ratio_min_attempts``;
* ``no_purpose``: more accesses without a declared purpose than ``no_purpose_limit``;
* ``login_guessing``: more refused logins for one username than ``failed_login_limit``;
  ``password_spraying``: refused logins for more distinct usernames, node-wide, than
  ``spraying_usernames_limit``.

Detection is pure and deterministic: it reads the events' own times (``event.at``), never
the clock, so replaying the trail gives the same alerts, and every alert cites the
sequence numbers of its evidence, for which an auditor can fetch inclusion proofs.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import SchemaModel


class ObservedEvent(Protocol):
    """What the rules read of an audit event: an ``AuditEvent``, or a lighter reading of a
    stored entry (the monitor reads thousands a round, and needs no validation of entries
    the log itself wrote)."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def tag(self) -> AuditTag: ...
    @property
    def decision(self) -> Decision: ...
    @property
    def actor(self) -> Actor: ...
    @property
    def purpose(self) -> str | None: ...
    @property
    def record_ids(self) -> Sequence[str]: ...
    @property
    def case_reference(self) -> str | None: ...


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_SECOND = 1_000_000  # internal times are integer microseconds since the epoch: exact, fast
EVICTION_INTERVAL = _SECOND


class MisuseRule(StrEnum):
    BURST = "burst"
    OFF_HOURS = "off_hours"
    UNRELATED_PERSONS = "unrelated_persons"
    CASE_SPREAD = "case_spread"
    DENIALS = "denials"
    DENIAL_RATIO = "denial_ratio"
    NO_PURPOSE = "no_purpose"
    LOGIN_GUESSING = "login_guessing"
    PASSWORD_SPRAYING = "password_spraying"  # noqa: S105 (a rule name, not a password)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


DEFAULT_SEVERITIES: dict[MisuseRule, Severity] = {
    MisuseRule.BURST: Severity.HIGH,  # bulk extraction: data being copied out
    MisuseRule.OFF_HOURS: Severity.LOW,
    MisuseRule.UNRELATED_PERSONS: Severity.MEDIUM,
    MisuseRule.CASE_SPREAD: Severity.LOW,
    MisuseRule.DENIALS: Severity.MEDIUM,
    MisuseRule.DENIAL_RATIO: Severity.MEDIUM,
    MisuseRule.NO_PURPOSE: Severity.LOW,
    MisuseRule.LOGIN_GUESSING: Severity.MEDIUM,
    MisuseRule.PASSWORD_SPRAYING: Severity.HIGH,
}


def _zone_name(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"'{name}' is not an IANA time zone name (such as 'Europe/Paris')") from error
    return name


class WorkingHours(BaseModel):
    """The local hours and days in which accesses are expected."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    start: dt.time = dt.time(7, 0)
    """Local time of day the working day starts (inclusive)."""
    end: dt.time = dt.time(20, 0)
    """Local time of day it ends (exclusive). Earlier than ``start`` for a night shift that
    crosses midnight; equal to ``start`` for days worked round the clock."""
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    """Working days as ISO weekdays, Monday 1 to Sunday 7. A night shift belongs to the day
    it starts."""

    @field_validator("start", "end")
    @classmethod
    def _local(cls, value: dt.time) -> dt.time:
        if value.tzinfo is not None:
            raise ValueError("a local time of day, without a time zone: the country's zone applies")
        return value

    @field_validator("weekdays")
    @classmethod
    def _iso_weekdays(cls, value: frozenset[int]) -> frozenset[int]:
        if not value <= frozenset(range(1, 8)):
            raise ValueError("weekdays are ISO numbers, Monday 1 to Sunday 7")
        return value

    def covers(self, local: dt.datetime) -> bool:
        """Whether a local time falls within working hours."""
        time = local.time()
        day = local.isoweekday()
        if self.start == self.end:
            return day in self.weekdays
        if self.start < self.end:
            return self.start <= time < self.end and day in self.weekdays
        if time >= self.start:
            return day in self.weekdays
        if time < self.end:
            return (day - 2) % 7 + 1 in self.weekdays  # the shift started the day before
        return False


class MisuseRules(BaseModel):
    """What the detector counts as misuse. A limit is the most that is tolerated: a rule
    fires when its count is *above* its limit within its window."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    disabled: frozenset[MisuseRule] = frozenset()
    """Rules that are not evaluated at all (and keep no state)."""
    severities: dict[MisuseRule, Severity] = Field(default_factory=dict)
    """Severity per rule, overriding ``DEFAULT_SEVERITIES``."""
    cooldown_seconds: int = Field(default=3600, gt=0)
    """While a rule's condition keeps holding for an actor, it is reported again at most
    this often. An alert clears, and the next one is new, once the condition has not held
    for a whole window of the rule."""
    access_tags: tuple[str, ...] = ("record:*:read", "record:*:listed", "screening:*")
    """Tags that count as an access to records, as shell-style patterns (``*`` matches
    anything, so ``screening:*`` is a prefix)."""
    max_window_events: int = Field(default=10_000, ge=1)
    """Most events a distinct-counting window keeps per actor (the oldest are dropped
    first), which bounds memory whatever the rate."""

    # 1. burst
    burst_limit: int = Field(default=200, ge=0)
    """Record accesses tolerated from one actor within ``burst_window_seconds``."""
    burst_window_seconds: int = Field(default=60, gt=0)
    """Length of the burst rule's sliding window."""

    # 2. off hours
    off_hours_limit: int = Field(default=20, ge=0)
    """Accesses outside working hours tolerated from one actor within ``off_hours_window_seconds``."""
    off_hours_window_seconds: int = Field(default=86_400, gt=0)
    """Length of the off-hours rule's sliding window (a day)."""
    working_hours: WorkingHours = WorkingHours()
    """Working hours where ``country_working_hours`` says nothing else (07:00-20:00, Monday to Friday)."""
    country_working_hours: dict[str, WorkingHours] = Field(default_factory=dict)
    """Working hours per country code (ISO 3166-1 alpha-3, as ``Actor.country``)."""
    country_time_zones: dict[str, str] = Field(default_factory=dict)
    """IANA time zone per country code, e.g. ``{"FRA": "Europe/Paris"}``."""
    agency_time_zones: dict[str, str] = Field(default_factory=dict)
    """IANA time zone per agency id, for countries that span several zones; wins over the country's."""
    default_time_zone: str = "UTC"
    """Time zone of actors whose agency and country have none above."""
    allow_off_hours_roles: frozenset[str] = frozenset({"border_officer"})
    """Roles that work round the clock (needs the detector's ``roles_of``: events carry no roles)."""
    allow_off_hours_agencies: frozenset[str] = frozenset()
    """Agency ids that work round the clock, such as 24/7 border posts."""
    allow_off_hours_actors: frozenset[str] = frozenset()
    """Actor ids (users or API keys) exempt from the off-hours rule."""
    allow_off_hours_kinds: frozenset[str] = frozenset()
    """Actor kinds exempt from the off-hours rule, e.g. ``api_key`` for machine clients."""

    # 3. many unrelated persons
    person_read_tags: tuple[str, ...] = ("record:person:read",)
    """Tags of reads of person records, as patterns like ``access_tags``."""
    unrelated_persons_limit: int = Field(default=50, ge=0)
    """Distinct person records one actor may read without a case reference within ``person_window_seconds``."""
    case_spread_limit: int = Field(default=10, ge=0)
    """Distinct case references one actor's person reads may spread over within ``person_window_seconds``."""
    person_window_seconds: int = Field(default=8 * 3600, gt=0)
    """Length of the person rules' sliding window (a shift)."""

    # 4. denials
    denial_limit: int = Field(default=10, ge=0)
    """Denied requests (``Decision.DENIED``) tolerated from one actor within ``denial_window_seconds``."""
    denial_ratio_limit: float = Field(default=0.5, ge=0, le=1)
    """Share of an actor's attempts (accesses and denials) that may be denied."""
    denial_ratio_min_attempts: int = Field(default=20, ge=1)
    """Attempts needed within the window before the denial ratio is judged."""
    denial_ratio_sample: int = Field(default=200, ge=1)
    """The ratio is taken over at most this many of the latest attempts in the window."""
    denial_window_seconds: int = Field(default=600, gt=0)
    """Length of both denial rules' sliding window."""

    # 5. no purpose
    no_purpose_limit: int = Field(default=20, ge=0)
    """Accesses without a declared purpose tolerated from one actor within ``no_purpose_window_seconds``."""
    no_purpose_window_seconds: int = Field(default=86_400, gt=0)
    """Length of the no-purpose rule's sliding window (a day)."""

    # 6. failed logins
    failed_login_tags: tuple[str, ...] = ("auth:session:refused",)
    """Tags of refused logins, as patterns like ``access_tags``; the actor's name is the username tried."""
    failed_login_limit: int = Field(default=5, ge=0)
    """Refused logins tolerated for one username within ``failed_login_window_seconds``."""
    failed_login_window_seconds: int = Field(default=900, gt=0)
    """Length of the single-username rule's sliding window."""
    spraying_usernames_limit: int = Field(default=20, ge=0)
    """Distinct usernames whose logins may be refused, node-wide, within ``spraying_window_seconds``."""
    spraying_window_seconds: int = Field(default=600, gt=0)
    """Length of the password-spraying rule's sliding window."""

    @field_validator("country_time_zones", "agency_time_zones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        return {key: _zone_name(zone) for key, zone in value.items()}

    @field_validator("default_time_zone")
    @classmethod
    def _default_zone(cls, value: str) -> str:
        return _zone_name(value)

    @field_validator("country_time_zones", "country_working_hours", mode="after")
    @classmethod
    def _country_codes(cls, value: dict[str, object]) -> dict[str, object]:
        return {key.strip().upper(): item for key, item in value.items()}

    def severity(self, rule: MisuseRule) -> Severity:
        return self.severities.get(rule, DEFAULT_SEVERITIES[rule])


class MisuseAlert(SchemaModel):
    """One rule crossed its threshold for one actor (or, for password spraying, the node)."""

    rule: MisuseRule
    severity: Severity
    key: str = Field(description="What the rule counted for: 'kind:id' of the actor, 'username:...', or 'node'")
    actor: Actor | None = Field(description="The actor of the triggering event; None for node-wide rules")
    window_start: dt.datetime = Field(description="The window is (window_start, window_end]: start excluded")
    window_end: dt.datetime = Field(description="Time of the triggering event")
    count: int | float = Field(
        description=(
            "What was counted in the window (a share for the ratio rule); exact on a first alert, "
            "a lower bound on a reminder (the counting rules keep limit + 1 events)"
        )
    )
    threshold: int | float = Field(description="The limit the count went above")
    explanation: str
    evidence: list[int] = Field(description="Sequence numbers of the events in the window, oldest first")
    trigger_seq: int = Field(description="Sequence number of the event that made the rule fire")
    reminder: bool = Field(default=False, description="The condition still held a cool-down after the last alert")


# -- sliding windows ---------------------------------------------------------------------

_Entry = tuple[int, int, tuple[str, ...], bool]  # (time, seq, distinct items, flagged)
_Measure = Literal["count", "distinct", "ratio"]


@dataclass(slots=True)
class _Track:
    """One key's window of one rule, and whether an alert about it is open."""

    entries: deque[_Entry] = field(default_factory=deque)
    distinct: dict[str, int] = field(default_factory=dict)  # item -> occurrences in the window
    flagged: int = 0
    last_at: int = 0
    open: bool = False
    fired_at: int = 0
    true_at: int = 0  # the last time the condition held


class _Window:
    """A rule's sliding windows, one per key, least recently touched first (for eviction)."""

    def __init__(
        self, rule: MisuseRule, *, seconds: int, limit: float, measure: _Measure, cap: int, min_attempts: int = 0
    ) -> None:
        self.rule = rule
        self.span = seconds * _SECOND
        self.limit = limit
        self.measure = measure
        self.cap = cap
        self.min_attempts = min_attempts
        self.tracks: OrderedDict[str, _Track] = OrderedDict()

    def add(self, key: str, now: int, seq: int, items: tuple[str, ...] = (), flagged: bool = False) -> _Track:
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = _Track()
        else:
            self.tracks.move_to_end(key)
            self._expire(track, now)
        if len(track.entries) >= self.cap:
            self._drop_oldest(track)
        track.entries.append((now, seq, items, flagged))
        for item in items:
            track.distinct[item] = track.distinct.get(item, 0) + 1
        track.flagged += flagged
        track.last_at = now
        return track

    def _expire(self, track: _Track, now: int) -> None:
        horizon = now - self.span
        while track.entries and track.entries[0][0] <= horizon:
            self._drop_oldest(track)

    @staticmethod
    def _drop_oldest(track: _Track) -> None:
        _, _, items, flagged = track.entries.popleft()
        for item in items:
            left = track.distinct[item] - 1
            if left:
                track.distinct[item] = left
            else:
                del track.distinct[item]
        track.flagged -= flagged

    def evict(self, now: int) -> None:
        """Forget keys whose every event has left the window. Keeping them would change
        nothing: their next event would find an empty window and a cleared alert."""
        horizon = now - self.span
        while self.tracks:
            key, track = next(iter(self.tracks.items()))
            if track.last_at > horizon:
                return
            del self.tracks[key]

    def value(self, track: _Track) -> tuple[bool, int | float]:
        """Whether the condition holds, and the count it is judged on."""
        if self.measure == "count":
            count = len(track.entries)
            return count > self.limit, count
        if self.measure == "distinct":
            count = len(track.distinct)
            return count > self.limit, count
        attempts = len(track.entries)
        ratio = track.flagged / attempts
        return attempts >= self.min_attempts and ratio > self.limit, ratio

    def decide(self, track: _Track, now: int, holds: bool, cooldown: int) -> bool | None:
        """None: no alert. False: a new alert. True: a reminder, the cool-down having passed."""
        if track.open and now - track.true_at >= self.span:
            track.open = False  # the condition has not held for a whole window: cleared
        if not holds:
            return None
        track.true_at = now
        if track.open and now - track.fired_at < cooldown:
            return None
        reminder = track.open
        track.open = True
        track.fired_at = now
        return reminder

    def entry_count(self) -> int:
        return sum(len(track.entries) for track in self.tracks.values())

    def longest(self) -> int:
        return max((len(track.entries) for track in self.tracks.values()), default=0)


# -- the detector --------------------------------------------------------------------------


def _micros(at: dt.datetime) -> int:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)  # the trail writes UTC
    return (at - _EPOCH) // _MICROSECOND


def _time(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def _duration(span: int) -> str:
    seconds = span // _SECOND
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _who(actor: Actor) -> str:
    name = actor.name or actor.id or "an unidentified actor"
    return f"{actor.kind} {name}" + (f" of agency {actor.agency_id}" if actor.agency_id else "")


def _actor_key(actor: Actor) -> str:
    return f"{actor.kind}:{actor.id}" if actor.id else f"{actor.kind}:name={actor.name}"


@dataclass(frozen=True, slots=True)
class _TagClass:
    access: bool
    person_read: bool
    login_failed: bool


class MisuseDetector:
    """Applies ``MisuseRules`` to audit events, one at a time, in sequence order.

    ``observe`` returns the alerts an event triggers. An alert for one rule and one actor
    is raised once per episode: not again while the condition keeps holding, except as a
    reminder once ``cooldown_seconds`` have passed; the episode ends (and the next alert is
    new) when the condition has not held for a whole window. Events with a sequence number
    already seen are ignored, so a batch delivered twice raises nothing twice. Times come
    from the events; one earlier than an event already seen (clocks are not perfect) counts
    as the latest time seen, so windows stay ordered.

    Complexity: ``observe`` is amortised O(1) per rule: each event enters and leaves each
    window's deque at most once, and each key is evicted at most once. An alert copies its
    window's sequence numbers, O(window), at most once per cool-down. Memory is bounded by
    the windows: per rule and key, the events within the window, and never more than
    ``limit + 1`` for the counting rules, ``denial_ratio_sample`` for the ratio and
    ``max_window_events`` for the distinct counts; keys with no event left in a window are
    forgotten, so only actors active within the longest window take memory.

    ``roles_of`` tells an actor's roles, for ``allow_off_hours_roles``: audit events carry
    none. Replays are deterministic as long as it answers the same.
    """

    def __init__(
        self,
        rules: MisuseRules | None = None,
        *,
        roles_of: Callable[[Actor], Iterable[str]] | None = None,
    ) -> None:
        self.rules = rules = rules if rules is not None else MisuseRules()
        self._roles_of = roles_of
        self._last_seq = -1
        self._clock: int | None = None
        self._next_eviction = 0
        self._cooldown = rules.cooldown_seconds * _SECOND
        self._zones: dict[str, ZoneInfo] = {}
        self._tags: dict[str, _TagClass] = {}
        distinct_cap = rules.max_window_events
        windows = [
            _Window(
                MisuseRule.BURST,
                seconds=rules.burst_window_seconds,
                limit=rules.burst_limit,
                measure="count",
                cap=rules.burst_limit + 1,
            ),
            _Window(
                MisuseRule.OFF_HOURS,
                seconds=rules.off_hours_window_seconds,
                limit=rules.off_hours_limit,
                measure="count",
                cap=rules.off_hours_limit + 1,
            ),
            _Window(
                MisuseRule.UNRELATED_PERSONS,
                seconds=rules.person_window_seconds,
                limit=rules.unrelated_persons_limit,
                measure="distinct",
                cap=distinct_cap,
            ),
            _Window(
                MisuseRule.CASE_SPREAD,
                seconds=rules.person_window_seconds,
                limit=rules.case_spread_limit,
                measure="distinct",
                cap=distinct_cap,
            ),
            _Window(
                MisuseRule.DENIALS,
                seconds=rules.denial_window_seconds,
                limit=rules.denial_limit,
                measure="count",
                cap=rules.denial_limit + 1,
            ),
            _Window(
                MisuseRule.DENIAL_RATIO,
                seconds=rules.denial_window_seconds,
                limit=rules.denial_ratio_limit,
                measure="ratio",
                cap=max(rules.denial_ratio_sample, rules.denial_ratio_min_attempts),
                min_attempts=rules.denial_ratio_min_attempts,
            ),
            _Window(
                MisuseRule.NO_PURPOSE,
                seconds=rules.no_purpose_window_seconds,
                limit=rules.no_purpose_limit,
                measure="count",
                cap=rules.no_purpose_limit + 1,
            ),
            _Window(
                MisuseRule.LOGIN_GUESSING,
                seconds=rules.failed_login_window_seconds,
                limit=rules.failed_login_limit,
                measure="count",
                cap=rules.failed_login_limit + 1,
            ),
            _Window(
                MisuseRule.PASSWORD_SPRAYING,
                seconds=rules.spraying_window_seconds,
                limit=rules.spraying_usernames_limit,
                measure="distinct",
                cap=distinct_cap,
            ),
        ]
        self._windows = {window.rule: window for window in windows if window.rule not in rules.disabled}

    # -- feeding ---------------------------------------------------------------------------

    def observe(self, event: ObservedEvent) -> list[MisuseAlert]:
        """Take the next event of the trail; returns the alerts it triggers."""
        if event.seq <= self._last_seq:
            return []
        self._last_seq = event.seq
        now = _micros(event.at)
        if self._clock is not None and now < self._clock:
            now = self._clock
        self._clock = now
        if now >= self._next_eviction:
            # At most once a second of the trail's time: eviction only forgets keys whose
            # events have all left their window (an empty window and a cleared alert, as a
            # new key would have), so doing it less often changes no alert, and keeps a key
            # at most a second longer. Every event paid for nine windows' checks before.
            self._next_eviction = now + EVICTION_INTERVAL
            for window in self._windows.values():
                window.evict(now)

        alerts: list[MisuseAlert] = []
        tags = self._classify(event.tag.value)
        denied = event.decision is Decision.DENIED
        actor = event.actor
        key = _actor_key(actor)

        if tags.access:
            self._count(alerts, MisuseRule.BURST, key, now, event)
            if event.purpose is None:
                self._count(alerts, MisuseRule.NO_PURPOSE, key, now, event)
            if MisuseRule.OFF_HOURS in self._windows and self._off_hours(event) is not None:
                self._count(alerts, MisuseRule.OFF_HOURS, key, now, event)
        if tags.person_read and event.record_ids:
            if event.case_reference is None:
                self._count(alerts, MisuseRule.UNRELATED_PERSONS, key, now, event, tuple(event.record_ids))
            else:
                self._count(alerts, MisuseRule.CASE_SPREAD, key, now, event, (event.case_reference,))
        if denied:
            self._count(alerts, MisuseRule.DENIALS, key, now, event)
        if tags.access or denied:
            self._count(alerts, MisuseRule.DENIAL_RATIO, key, now, event, flagged=denied)
        if tags.login_failed:
            username = actor.name or actor.id
            if username is not None:
                folded = username.casefold()
                self._count(alerts, MisuseRule.LOGIN_GUESSING, f"username:{folded}", now, event)
                self._count(alerts, MisuseRule.PASSWORD_SPRAYING, "node", now, event, (folded,))
        return alerts

    def scan(self, events: Iterable[ObservedEvent]) -> list[MisuseAlert]:
        """Observe a batch of events in order; returns all the alerts they trigger."""
        return [alert for event in events for alert in self.observe(event)]

    # -- introspection ---------------------------------------------------------------------

    def window_lengths(self) -> dict[MisuseRule, int]:
        """The most events any one key holds in each rule's window now."""
        return {rule: window.longest() for rule, window in self._windows.items()}

    def tracked_events(self) -> int:
        """All events held in all windows now (an event can be in several)."""
        return sum(window.entry_count() for window in self._windows.values())

    def tracked_keys(self) -> int:
        """Keys (actors, usernames) with a window now, summed over the rules."""
        return sum(len(window.tracks) for window in self._windows.values())

    # -- the rules -------------------------------------------------------------------------

    def _classify(self, tag: str) -> _TagClass:
        known = self._tags.get(tag)
        if known is None:
            rules = self.rules
            known = self._tags[tag] = _TagClass(
                access=any(fnmatchcase(tag, pattern) for pattern in rules.access_tags),
                person_read=any(fnmatchcase(tag, pattern) for pattern in rules.person_read_tags),
                login_failed=any(fnmatchcase(tag, pattern) for pattern in rules.failed_login_tags),
            )
        return known

    def _zone(self, actor: Actor) -> ZoneInfo:
        rules = self.rules
        name = (
            (rules.agency_time_zones.get(actor.agency_id) if actor.agency_id else None)
            or (rules.country_time_zones.get(actor.country) if actor.country else None)
            or rules.default_time_zone
        )
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = ZoneInfo(name)
        return zone

    def _off_hours(self, event: ObservedEvent) -> dt.datetime | None:
        """The event's local time if it falls outside its actor's working hours and the
        actor is not exempt; None otherwise."""
        rules = self.rules
        actor = event.actor
        if (
            actor.kind in rules.allow_off_hours_kinds
            or (actor.agency_id is not None and actor.agency_id in rules.allow_off_hours_agencies)
            or (actor.id is not None and actor.id in rules.allow_off_hours_actors)
        ):
            return None
        at = event.at if event.at.tzinfo is not None else event.at.replace(tzinfo=dt.UTC)
        local = at.astimezone(self._zone(actor))
        hours = rules.country_working_hours.get(actor.country or "", rules.working_hours)
        if hours.covers(local):
            return None
        if self._roles_of is not None and rules.allow_off_hours_roles.intersection(self._roles_of(actor)):
            return None
        return local

    def _count(
        self,
        alerts: list[MisuseAlert],
        rule: MisuseRule,
        key: str,
        now: int,
        event: ObservedEvent,
        items: tuple[str, ...] = (),
        flagged: bool = False,
    ) -> None:
        window = self._windows.get(rule)
        if window is None:
            return
        track = window.add(key, now, event.seq, items, flagged)
        holds, count = window.value(track)
        reminder = window.decide(track, now, holds, self._cooldown)
        if reminder is None:
            return
        node_wide = rule is MisuseRule.PASSWORD_SPRAYING
        alerts.append(
            MisuseAlert(
                rule=rule,
                severity=self.rules.severity(rule),
                key=key,
                actor=None if node_wide else event.actor.model_copy(),
                window_start=_time(now - window.span),
                window_end=_time(now),
                count=count,
                threshold=window.limit,
                explanation=self._explain(window, track, event, count, reminder),
                evidence=[entry[1] for entry in track.entries],
                trigger_seq=event.seq,
                reminder=reminder,
            )
        )

    def _explain(self, window: _Window, track: _Track, event: ObservedEvent, count: float, reminder: bool) -> str:
        who = _who(event.actor)
        within = f"within {_duration(window.span)}"
        limit = window.limit
        match window.rule:
            case MisuseRule.BURST:
                text = f"{who} accessed records {count} times {within}, above the limit of {limit}"
            case MisuseRule.OFF_HOURS:
                local = self._off_hours(event)
                last = f", the last at {local:%a %H:%M} {local.tzname()}" if local is not None else ""
                text = (
                    f"{who} accessed records {count} times outside working hours {within}{last}, "
                    f"above the limit of {limit}"
                )
            case MisuseRule.UNRELATED_PERSONS:
                text = (
                    f"{who} read {count} distinct person records without a case reference {within}, "
                    f"above the limit of {limit}"
                )
            case MisuseRule.CASE_SPREAD:
                text = f"{who} read person records for {count} distinct cases {within}, above the limit of {limit}"
            case MisuseRule.DENIALS:
                text = f"{who} was denied access {count} times {within}, above the limit of {limit}"
            case MisuseRule.DENIAL_RATIO:
                attempts = len(track.entries)
                text = (
                    f"{who} was denied {track.flagged} of {attempts} attempts ({count:.0%}) {within}, "
                    f"above the limit of {limit:.0%}"
                )
            case MisuseRule.NO_PURPOSE:
                text = (
                    f"{who} accessed records {count} times without declaring a purpose {within}, "
                    f"above the limit of {limit}"
                )
            case MisuseRule.LOGIN_GUESSING:
                username = event.actor.name or event.actor.id
                text = f"Logins as '{username}' were refused {count} times {within}, above the limit of {limit}"
            case MisuseRule.PASSWORD_SPRAYING:
                text = (
                    f"Logins for {count} distinct usernames were refused {within}, above the limit of {limit}, "
                    f"a sign of password spraying"
                )
        if reminder:
            text += ", and still so after the previous alert"
        return text + "."
