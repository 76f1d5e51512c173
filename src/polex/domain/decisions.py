"""The policy engine: what a requester may learn of a record, and why.

For a requester (agency, country, declared purpose) and a record (kind, owner, the owner's
restrictions, retention deadline) the engine answers one of four outcomes, with the rules
that decided it:

- ``full``: the record as stored;
- ``redacted``: the record without the fields named in ``removed_fields`` (top-level names,
  or dotted paths inside a field such as a notice's ``subject.health``);
- ``hit_only``: that a record exists, its reference and whom to contact; nothing personal;
- ``none``: nothing at all; the record's existence is not revealed.

The rules, in the order they apply:

1. a suspended user or agency gets nothing;
2. the owning agency gets everything;
3. past its retention deadline a record is shown to nobody else;
4. the owner's agency lists (allowed, excluded) bind every other agency, its compatriots too;
5. agencies of the owner's country get everything (national law governs at home), or only
   the hit where the owner made them hit-only;
6. abroad, the owner's country lists (allowed, excluded) bind; TLP:RED data goes only to
   countries or agencies the owner named;
7. the owner country's law may refuse the declared purpose;
8. an agreement in force must bind both countries and cover the record's data category and
   the declared purpose; the best level among them applies (full, a set of fields, hit-only);
9. the owner's hit-only lists cap the level at hit-only;
10. fields the owner country's law never sends abroad are withheld, inside other fields too
    (a special category wherever a person is held, e.g. a notice's subject).

Every answer also says whether to consult the owner before acting (the owner's flag) and
whether the requester may pass the data on: only if the owner allows it, the handling code
is neither TLP:RED nor TLP:AMBER+STRICT and, abroad, every deciding agreement allows it
(the owning agency always may).

Two evaluations give the same answers: ``decide`` reads every agreement for every record
(the straightforward way, used for explanations and as the benchmark's peer), and
``PolicySnapshot.for_requester`` compiles what depends only on the requester once, so that
filtering thousands of candidates costs a few dictionary look-ups each.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from polex.domain.base import Tlp
from polex.domain.policy import (
    ALL_MEMBERS,
    CATEGORY_OF_KIND,
    LEVEL_RANK,
    AccessLevel,
    Agreement,
    AgreementKind,
    NationalRules,
    Purpose,
    content_fields,
    field_order,
)


class Outcome(StrEnum):
    FULL = "full"
    REDACTED = "redacted"
    HIT_ONLY = "hit_only"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Rule:
    """One reason a decision came out as it did."""

    code: str  # e.g. "agreement", "restriction.excluded_country", "national.never_shared"
    text: str
    reference: str | None = None  # the legal reference or document it comes from

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "text": self.text, "reference": self.reference}


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    rules: tuple[Rule, ...]
    removed_fields: tuple[str, ...] = ()
    consult_owner: bool = False
    onward_transmission: bool = False

    @property
    def visible(self) -> bool:
        return self.outcome is not Outcome.NONE

    @property
    def discloses_content(self) -> bool:
        return self.outcome is Outcome.FULL or self.outcome is Outcome.REDACTED

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "removed_fields": list(self.removed_fields),
            "consult_owner": self.consult_owner,
            "onward_transmission": self.onward_transmission,
            "rules": [rule.as_dict() for rule in self.rules],
        }


@dataclass(frozen=True, slots=True)
class Requester:
    agency_id: str
    country: str
    purpose: Purpose
    user_id: str | None = None
    case_reference: str | None = None


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What the engine needs to know of a record; the content is not among it."""

    kind: str
    owner_agency_id: str
    owner_country: str
    restrictions: Mapping[str, Any]  # as stored: the JSON form of ``Restrictions``
    retain_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AgreementState:
    """One agreement's current version and who approved it; retired ones stay for history."""

    agreement: Agreement
    version: int
    approved_by: frozenset[str]
    retired: bool = False

    def in_force_on(self, day: dt.date) -> bool:
        document = self.agreement
        if self.retired or day < document.valid_from:
            return False
        return document.valid_until is None or day <= document.valid_until

    def citation(self) -> str:
        return f"{self.agreement.legal_reference} ({self.agreement.id} v{self.version})"


@dataclass(frozen=True)
class PolicySet:
    """Everything the engine decides by, at one moment."""

    agreements: tuple[AgreementState, ...] = ()
    national_rules: Mapping[str, NationalRules] = field(default_factory=dict)
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    suspended_agencies: frozenset[str] = frozenset()
    suspended_users: frozenset[str] = frozenset()

    def binds(self, state: AgreementState, first: str, second: str) -> bool:
        """True when the agreement binds both countries: both are parties and have approved
        as its kind requires (each accession for a convention, every party otherwise)."""
        if not (self.is_party(state.agreement, first) and self.is_party(state.agreement, second)):
            return False
        if state.agreement.kind is AgreementKind.MULTILATERAL_CONVENTION:
            return first in state.approved_by and second in state.approved_by
        return all(party in state.approved_by for party in state.agreement.parties)

    def is_party(self, agreement: Agreement, country: str) -> bool:
        for party in agreement.parties:
            if party in (country, ALL_MEMBERS) or country in self.groups.get(party, ()):
                return True
        return False

    def snapshot(self, now: dt.datetime) -> PolicySnapshot:
        return PolicySnapshot(self, now)


# -- shared wording ----------------------------------------------------------------------

_TLP_RED = Tlp.RED.value
_NO_ONWARD_HANDLING = frozenset({Tlp.RED.value, Tlp.AMBER_STRICT.value})
_DEFAULT_HANDLING = Tlp.AMBER.value

_SUSPENDED_USER = Rule("sanction.user_suspended", "the requesting user is suspended")
_SUSPENDED_AGENCY = Rule("sanction.agency_suspended", "the requesting agency is suspended")
_OWNER = Rule("owner", "the requesting agency owns the record")
_EXPIRED = Rule("retention.expired", "the record is past its retention deadline and awaits purging")
_DOMESTIC = Rule("domestic", "the requester is of the owner's country: national law governs")
_NOT_ALLOWED_AGENCY = Rule("restriction.allowed_agencies", "the owner shares this record only with agencies it named")
_EXCLUDED_AGENCY = Rule("restriction.excluded_agencies", "the owner excluded the requesting agency")
_HIT_ONLY_AGENCY = Rule("restriction.hit_only_agencies", "the owner lets the requesting agency see only the hit")
_EXCLUDED_COUNTRY = Rule("restriction.excluded_countries", "the owner excluded the requesting country")
_NOT_ALLOWED_COUNTRY = Rule(
    "restriction.allowed_countries", "the owner shares this record only with countries it named"
)
_RED = Rule("restriction.tlp_red", "TLP:RED data goes only to the countries and agencies the owner named")
_HIT_ONLY_COUNTRY = Rule("restriction.hit_only_countries", "the owner lets the requesting country see only the hit")


def _none(rule: Rule) -> Decision:
    return Decision(Outcome.NONE, (rule,))


def _no_agreement(requester: Requester, facts: RecordFacts) -> Rule:
    category = CATEGORY_OF_KIND[facts.kind].value
    return Rule(
        "no_agreement",
        f"no agreement in force between {facts.owner_country} and {requester.country} covers "
        f"{category} for {requester.purpose.value}",
    )


def _refused_purpose(rules: NationalRules, purpose: Purpose) -> Rule:
    return Rule(
        "national.refused_purpose",
        f"the law of {rules.country} refuses to share its data for {purpose.value}",
        rules.legal_reference,
    )


def _withheld_rule(rules: NationalRules, fields: Iterable[str]) -> Rule:
    return Rule(
        "national.never_shared",
        f"the law of {rules.country} never sends abroad: {', '.join(fields)}",
        rules.legal_reference,
    )


def _field_set_rule(fields: Iterable[str]) -> Rule:
    return Rule("agreement.fields", f"the agreements share only these fields: {', '.join(fields)}")


def _agreement_rule(state: AgreementState) -> Rule:
    return Rule(f"agreement.{state.agreement.level.value}", state.agreement.title, state.citation())


def _in_list(value: str, values: Any) -> bool:
    return bool(values) and value in values


# -- the straightforward evaluation ------------------------------------------------------


def decide(policy: PolicySet, requester: Requester, facts: RecordFacts, now: dt.datetime) -> Decision:
    """One decision, reading every agreement: the reference the compiled path must match."""
    if requester.user_id is not None and requester.user_id in policy.suspended_users:
        return _none(_SUSPENDED_USER)
    if requester.agency_id in policy.suspended_agencies:
        return _none(_SUSPENDED_AGENCY)
    restrictions = facts.restrictions
    if facts.owner_agency_id == requester.agency_id:
        return Decision(Outcome.FULL, (_OWNER,), onward_transmission=True)
    if facts.retain_until is not None and facts.retain_until <= now:
        return _none(_EXPIRED)
    allowed_agencies = restrictions.get("allowed_agencies")
    if allowed_agencies is not None and requester.agency_id not in allowed_agencies:
        return _none(_NOT_ALLOWED_AGENCY)
    if _in_list(requester.agency_id, restrictions.get("excluded_agencies")):
        return _none(_EXCLUDED_AGENCY)
    hit_only_rule: Rule | None = None
    if _in_list(requester.agency_id, restrictions.get("hit_only_agencies")):
        hit_only_rule = _HIT_ONLY_AGENCY
    consult = bool(restrictions.get("consult_owner", False))
    onward = bool(restrictions.get("onward_transmission", False))
    handling = restrictions.get("handling", _DEFAULT_HANDLING)
    if facts.owner_country == requester.country:
        if hit_only_rule is not None:
            return Decision(Outcome.HIT_ONLY, (_DOMESTIC, hit_only_rule), consult_owner=consult)
        onward = onward and handling not in _NO_ONWARD_HANDLING
        return Decision(Outcome.FULL, (_DOMESTIC,), consult_owner=consult, onward_transmission=onward)

    if _in_list(requester.country, restrictions.get("excluded_countries")):
        return _none(_EXCLUDED_COUNTRY)
    allowed_countries = restrictions.get("allowed_countries")
    if allowed_countries is not None and requester.country not in allowed_countries:
        return _none(_NOT_ALLOWED_COUNTRY)
    if handling == _TLP_RED and not (
        _in_list(requester.country, allowed_countries) or _in_list(requester.agency_id, allowed_agencies)
    ):
        return _none(_RED)
    national = policy.national_rules.get(facts.owner_country)
    if national is not None and requester.purpose in national.refused_purposes:
        return _none(_refused_purpose(national, requester.purpose))

    category = CATEGORY_OF_KIND[facts.kind]
    today = now.date()
    granting = [
        state
        for state in policy.agreements
        if state.in_force_on(today)
        and category in state.agreement.categories
        and requester.purpose in state.agreement.purposes
        and policy.binds(state, facts.owner_country, requester.country)
    ]
    if not granting:
        return _none(_no_agreement(requester, facts))
    deciding = _best(granting)
    rules = [_agreement_rule(state) for state in deciding]
    onward = onward and handling not in _NO_ONWARD_HANDLING and all(s.agreement.onward_transmission for s in deciding)
    if _in_list(requester.country, restrictions.get("hit_only_countries")):
        hit_only_rule = hit_only_rule or _HIT_ONLY_COUNTRY
    if hit_only_rule is not None:
        return Decision(Outcome.HIT_ONLY, (*rules, hit_only_rule), consult_owner=consult)
    if deciding[0].agreement.level is AccessLevel.HIT_ONLY:
        return Decision(Outcome.HIT_ONLY, tuple(rules), consult_owner=consult)

    withheld_rules, removed = _withheld(deciding, facts.kind, national)
    outcome = Outcome.REDACTED if removed else Outcome.FULL
    return Decision(outcome, (*rules, *withheld_rules), removed, consult, onward)


def _best(granting: list[AgreementState]) -> list[AgreementState]:
    """The agreements that decide: those granting the best level among ``granting``."""
    best = max(LEVEL_RANK[state.agreement.level] for state in granting)
    return [state for state in granting if LEVEL_RANK[state.agreement.level] == best]


def _withheld(
    deciding: list[AgreementState], kind: str, national: NationalRules | None
) -> tuple[list[Rule], tuple[str, ...]]:
    """For a full or field-set grant: the fields withheld (outside the shared field sets, or
    never sent abroad by the owner country's law) and why. Top-level fields come first, in
    the kind's field order, then fields inside the fields still shown, as dotted paths
    (``subject.health``) in the models' order."""
    kind_fields = content_fields(kind)
    rules: list[Rule] = []
    removed: list[str] = []
    if deciding[0].agreement.level is AccessLevel.FIELDS:
        shared = {path for state in deciding for path in state.agreement.fields}
        removed = [name for name in kind_fields if f"{kind}.{name}" not in shared]
        if removed:
            rules.append(_field_set_rule(sorted(path for path in shared if path.startswith(f"{kind}."))))
    if national is not None:
        never, inside = _never_sent(kind, national.withheld_fields())
        if inside and removed:
            # Inside a field already withheld there is nothing left to withhold.
            inside = tuple(path for path in inside if path.partition(".")[0] not in removed)
        if never or inside:
            rules.append(_withheld_rule(national, (*never, *inside)))
            removed = [name for name in kind_fields if name in removed or name in never]
            removed.extend(inside)
    return rules, tuple(removed)


@functools.lru_cache(maxsize=4096)
def _never_sent(kind: str, withheld: frozenset[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Of the paths a law never sends abroad, this kind's: its top-level fields in the kind's
    order, and the fields inside the others (relative, dotted; the outermost of nested ones)
    in the models' order. Cached: the same law meets the same kind on every decision."""
    prefix = f"{kind}."
    never = tuple(name for name in content_fields(kind) if prefix + name in withheld)
    deeper = sorted(
        (field_order(path), path.removeprefix(prefix))
        for path in withheld
        if path.startswith(prefix) and path.count(".") > 1
    )
    inside: list[str] = []
    for _, path in deeper:
        if path.partition(".")[0] in never or any(path.startswith(f"{outer}.") for outer in inside):
            continue
        inside.append(path)
    return never, tuple(inside)


# -- the compiled evaluation -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Grant:
    """What agreements give one requester for one owner country and record kind, before
    the record's own restrictions."""

    level: AccessLevel | None
    rules: tuple[Rule, ...]  # why the content is shown as it is (agreements, field sets, national law)
    removed: tuple[str, ...]  # by field set and national law
    onward: bool  # every deciding agreement allows it
    agreement_rules: tuple[Rule, ...] = ()  # the deciding agreements alone (what a hit-only answer cites)


class PolicySnapshot:
    """A policy set at one instant, ready to compile per requester."""

    def __init__(self, policy: PolicySet, now: dt.datetime) -> None:
        self.policy = policy
        self.now = now
        self._today = now.date()
        self._in_force = tuple(state for state in policy.agreements if state.in_force_on(self._today))

    def decide(self, requester: Requester, facts: RecordFacts) -> Decision:
        return decide(self.policy, requester, facts, self.now)

    def for_requester(self, requester: Requester) -> RequesterPolicy:
        return RequesterPolicy(self, requester)

    def agreements_for(self, purpose: Purpose) -> tuple[AgreementState, ...]:
        return tuple(state for state in self._in_force if purpose in state.agreement.purposes)


class RequesterPolicy:
    """Decisions for one requester, compiled: per owner country and record kind, the grant
    is computed once; a record then costs its own restriction checks and one look-up."""

    def __init__(self, snapshot: PolicySnapshot, requester: Requester) -> None:
        self.snapshot = snapshot
        self.requester = requester
        policy = snapshot.policy
        self._policy = policy
        self._now = snapshot.now
        self._agency = requester.agency_id
        self._country = requester.country
        self._agreements = snapshot.agreements_for(requester.purpose)
        self._grants: dict[tuple[str, str], _Grant] = {}
        self._decisions: dict[tuple[str, str, bool, bool, str, bool, bool], Decision] = {}
        self._blocked: Decision | None = None
        if requester.user_id is not None and requester.user_id in policy.suspended_users:
            self._blocked = _none(_SUSPENDED_USER)
        elif requester.agency_id in policy.suspended_agencies:
            self._blocked = _none(_SUSPENDED_AGENCY)
        self._owner = Decision(Outcome.FULL, (_OWNER,), onward_transmission=True)
        self._expired = _none(_EXPIRED)

    def decide(self, facts: RecordFacts) -> Decision:
        return self.decide_parts(
            facts.kind, facts.owner_agency_id, facts.owner_country, facts.restrictions, facts.retain_until
        )

    def decide_parts(
        self,
        kind: str,
        owner_agency_id: str,
        owner_country: str,
        restrictions: Mapping[str, Any],
        retain_until: dt.datetime | None,
    ) -> Decision:
        """The decision for one record, from its stored columns (the filtering path)."""
        if self._blocked is not None:
            return self._blocked
        agency = self._agency
        if owner_agency_id == agency:
            return self._owner
        if retain_until is not None and retain_until <= self._now:
            return self._expired
        get = restrictions.get
        allowed_agencies = get("allowed_agencies")
        if allowed_agencies is not None and agency not in allowed_agencies:
            return _none(_NOT_ALLOWED_AGENCY)
        excluded = get("excluded_agencies")
        if excluded and agency in excluded:
            return _none(_EXCLUDED_AGENCY)
        hit_only_agencies = get("hit_only_agencies")
        hit_only_agency = bool(hit_only_agencies and agency in hit_only_agencies)
        handling = get("handling", _DEFAULT_HANDLING)
        country = self._country
        hit_only = hit_only_agency
        if owner_country != country:
            excluded = get("excluded_countries")
            if excluded and country in excluded:
                return _none(_EXCLUDED_COUNTRY)
            allowed_countries = get("allowed_countries")
            if allowed_countries is not None and country not in allowed_countries:
                return _none(_NOT_ALLOWED_COUNTRY)
            named = (allowed_countries and country in allowed_countries) or (
                allowed_agencies and agency in allowed_agencies
            )
            if handling == _TLP_RED and not named:
                return _none(_RED)
            hit_only_countries = get("hit_only_countries")
            hit_only = hit_only or bool(hit_only_countries and country in hit_only_countries)
        key = (
            owner_country,
            kind,
            hit_only_agency,
            hit_only,
            handling,
            bool(get("consult_owner", False)),
            bool(get("onward_transmission", False)),
        )
        decision = self._decisions.get(key)
        if decision is None:
            decision = self._decisions[key] = self._compose(key)
        return decision

    def _compose(self, key: tuple[str, str, bool, bool, str, bool, bool]) -> Decision:
        owner_country, kind, hit_only_agency, hit_only, handling, consult, onward = key
        if owner_country == self._country:
            if hit_only:
                return Decision(Outcome.HIT_ONLY, (_DOMESTIC, _HIT_ONLY_AGENCY), consult_owner=consult)
            onward = onward and handling not in _NO_ONWARD_HANDLING
            return Decision(Outcome.FULL, (_DOMESTIC,), consult_owner=consult, onward_transmission=onward)
        grant = self._grant(owner_country, kind)
        if grant.level is None:
            return Decision(Outcome.NONE, grant.rules)
        if hit_only:
            rule = _HIT_ONLY_AGENCY if hit_only_agency else _HIT_ONLY_COUNTRY
            return Decision(Outcome.HIT_ONLY, (*grant.agreement_rules, rule), consult_owner=consult)
        if grant.level is AccessLevel.HIT_ONLY:
            return Decision(Outcome.HIT_ONLY, grant.agreement_rules, consult_owner=consult)
        onward = onward and grant.onward and handling not in _NO_ONWARD_HANDLING
        outcome = Outcome.REDACTED if grant.removed else Outcome.FULL
        return Decision(outcome, grant.rules, grant.removed, consult, onward)

    def _grant(self, owner_country: str, kind: str) -> _Grant:
        cached = self._grants.get((owner_country, kind))
        if cached is not None:
            return cached
        requester = self.requester
        policy = self._policy
        national = policy.national_rules.get(owner_country)
        grant: _Grant
        if national is not None and requester.purpose in national.refused_purposes:
            grant = _Grant(None, (_refused_purpose(national, requester.purpose),), (), False)
        else:
            category = CATEGORY_OF_KIND[kind]
            granting = [
                state
                for state in self._agreements
                if category in state.agreement.categories and policy.binds(state, owner_country, self._country)
            ]
            if not granting:
                facts = RecordFacts(kind, "", owner_country, {})
                grant = _Grant(None, (_no_agreement(requester, facts),), (), False)
            else:
                grant = self._grant_from(granting, kind, national)
        self._grants[(owner_country, kind)] = grant
        return grant

    @staticmethod
    def _grant_from(granting: list[AgreementState], kind: str, national: NationalRules | None) -> _Grant:
        deciding = _best(granting)
        level = deciding[0].agreement.level
        cited = tuple(_agreement_rule(state) for state in deciding)
        onward = all(state.agreement.onward_transmission for state in deciding)
        if level is AccessLevel.HIT_ONLY:
            return _Grant(level, cited, (), onward, cited)
        withheld_rules, removed = _withheld(deciding, kind, national)
        return _Grant(level, (*cited, *withheld_rules), removed, onward, cited)

    def visible_owner_countries(self, kind: str) -> frozenset[str]:
        """The owner countries whose records of this kind this requester might see at all;
        lists read only these from the database. Finite: a country is bound by an agreement
        only once it approved it."""
        if self._blocked is not None:
            return frozenset()
        category = CATEGORY_OF_KIND[kind]
        candidates = {self._country}
        for state in self._agreements:
            if category in state.agreement.categories:
                candidates.update(state.approved_by)
        return frozenset(
            country
            for country in candidates
            if country == self._country or self._grant(country, kind).level is not None
        )


# -- what leaves the node ----------------------------------------------------------------

ENVELOPE_FIELDS = ("id", "kind", "schema", "owner", "created_at", "updated_at", "version")


def apply_decision(record: Mapping[str, Any], decision: Decision) -> dict[str, Any] | None:
    """The record (its JSON form) as this decision lets it leave, with the decision's
    explanation under ``access``; None when nothing may leave. The record is not changed."""
    outcome = decision.outcome
    if outcome is Outcome.NONE:
        return None
    access = decision.as_dict()
    if outcome is Outcome.HIT_ONLY:
        hit = {name: record[name] for name in ("id", "kind", "owner") if name in record}
        hit["access"] = access
        return hit
    shown = without_fields(record, decision.removed_fields)
    if outcome is Outcome.REDACTED:
        # Provenance keeps originals of normalised fields: withheld fields' originals go too.
        provenance = shown.get("provenance")
        if isinstance(provenance, Mapping):
            originals = provenance.get("original_values") or {}
            withheld = _original_withheld(decision.removed_fields)
            kept = {path: value for path, value in originals.items() if not withheld(path)}
            shown["provenance"] = {**provenance, "original_values": kept}
    shown["access"] = access
    return shown


def without_fields(content: Mapping[str, Any], removed_fields: Sequence[str]) -> dict[str, Any]:
    """A copy of ``content`` (a record or its content, as JSON) without the decision's
    ``removed_fields``: a top-level name, or a dotted path inside one (``subject.health``),
    taken from every element where the path passes through a list. What is not removed is
    shared with ``content``, never changed in it."""
    shown = dict(content)
    for path in removed_fields:
        if "." in path:
            name, *inner = path.split(".")
            if name in shown:
                shown[name] = _without(shown[name], inner)
        else:
            shown.pop(path, None)
    return shown


def _without(value: Any, path: list[str]) -> Any:
    if isinstance(value, list):
        return [_without(item, path) for item in value]
    if not isinstance(value, Mapping) or path[0] not in value:
        return value
    copied = dict(value)
    if len(path) == 1:
        del copied[path[0]]
    else:
        copied[path[0]] = _without(copied[path[0]], path[1:])
    return copied


def _original_withheld(removed_fields: Sequence[str]) -> Callable[[str], bool]:
    """Whether a provenance ``original_values`` key (``names/0/full``, ``subject/health``)
    lies under a removed field; list indices in the key match every element."""
    top = frozenset(path for path in removed_fields if "." not in path)
    inside = [tuple(path.split(".")) for path in removed_fields if "." in path]

    def withheld(key: str) -> bool:
        segments = key.split("/")
        if segments[0] in top:
            return True
        if not inside:
            return False
        names = tuple(segment for segment in segments if not segment.isdigit())
        return any(names[: len(path)] == path for path in inside)

    return withheld
