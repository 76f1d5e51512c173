"""Records forwarded in a message: what each recipient may receive, decided by this node's
policy engine before the message is sealed.

A user names records (``"records": [{"kind": "persons", "id": ...}]``); for each record:

1. The sender must see it: a record of this node (decided for the sender, its agency and
   the declared purpose) or, on a national node, its replica of a hub record (as the hub
   decided for this country). One it cannot see is answered as one that does not exist
   (404), whichever it is.
2. For each recipient country, the engine decides what that country may have of it, as if
   it asked the owner (the owner's restrictions, the agreements between the owner's country
   and the recipient's, national law), for the declared purpose, for an agency of its own
   that the owner did not name. Nothing (``none``) refuses the send.
3. A sender that does not own the record passes it on: its own decision must allow onward
   transmission (the owner's flag, every agreement by which the sender's country holds
   it, and a handling code other than TLP:RED or TLP:AMBER+STRICT), except towards the
   owner's own country, where the record goes back rather than on. This comes before
   the recipient's decision: a record the sender may not pass on is refused as such.
4. A recipient never gets more than the sender holds: the levels combine (hit-only wins, the
   removed fields add up).

Because one envelope is encrypted to all the recipients, a record must come out at the same
level (outcome and removed fields) for every one of them; otherwise the send is refused
naming the record, the recipients and their levels, and the user sends separate messages.
(Splitting one message into an envelope per level would give the recipients different
message ids in one conversation and hide from each that the others got more or less.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import AuditTag
from polex.domain.audit import Decision as AuditDecision
from polex.domain.decisions import Decision, Outcome, RecordFacts, Requester, Rule, apply_decision
from polex.domain.policy import Purpose
from polex.domain.records import RECORD_TYPES
from polex.domain.roles import Permission
from polex.errors import FieldError, NotFound, ValidationFailed
from polex.message.schemas import RecordReference
from polex.policy.service import PolicyService, parse_purpose, requester_of
from polex.record.repository import RecordRepository
from polex.record.service import RecordService, facts_of
from polex.storage.tables import ReplicaRecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

KIND_OF = {record_type.plural: kind.value for kind, record_type in RECORD_TYPES.items()}
_RANK = {Outcome.HIT_ONLY: 1, Outcome.REDACTED: 2, Outcome.FULL: 3}


@dataclass(frozen=True)
class _Held:
    """A record as the sender holds it: its facts, its JSON form, and the sender's view."""

    reference: RecordReference
    kind: str
    facts: RecordFacts
    record: dict[str, Any]
    view: Decision
    held_as: str  # record (this node's) or replica (the hub's, as copied here)

    @property
    def id(self) -> str:
        return self.reference.id


@dataclass
class Forwarded:
    """What a send forwards: the records for the body and the trail's account of them."""

    records: list[dict[str, Any]] = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    audit: list[dict[str, Any]] = field(default_factory=list)

    @property
    def record_kind(self) -> str | None:
        return next(iter(self.kinds)) if len(self.kinds) == 1 else None


def level(decision: Decision) -> str:
    """A decision's level as the refusals name it: ``redacted (health, biometrics)``."""
    removed = f" ({', '.join(decision.removed_fields)})" if decision.removed_fields else ""
    return f"{decision.outcome.value}{removed}"


class RecordForwarding:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        policy: PolicyService,
        records: Mapping[str, RecordService],
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._records = records

    def decide(
        self,
        references: Sequence[RecordReference],
        principal: Principal,
        declared: str | None,
        recipients: Mapping[str, str],
    ) -> Forwarded:
        """The records, each at the one level every recipient (node name to its country)
        may have for the ``declared`` purpose (the X-Polex-Purpose header: 400 without);
        NotFound for a record the sender cannot see, ValidationFailed (audited) naming each
        record the policy refuses to forward, and why."""
        principal.require(Permission.RECORD_READ)
        purpose = parse_purpose(declared)
        snapshot = self._policy.snapshot()
        sender = snapshot.for_requester(requester_of(principal, purpose))
        held: list[_Held] = []
        missing: list[tuple[int, RecordReference]] = []
        with self._uow(read_only=True) as uow:
            repository = RecordRepository(uow.session)
            for index, reference in enumerate(references):
                kind = KIND_OF[reference.kind]
                if kind not in self._records:  # a kind this node does not store
                    missing.append((index, reference))
                    continue
                row = repository.get(kind, reference.id)
                if row is not None:
                    view = sender.decide(facts_of(row))
                    if view.visible:
                        record = self._records[kind].to_json(row)
                        held.append(_Held(reference, kind, facts_of(row), record, view, "record"))
                        continue
                else:
                    copy = uow.session.get(ReplicaRecordRow, reference.id)
                    if copy is not None and copy.kind == kind:
                        held.append(_replica_held(reference, copy))
                        continue
                missing.append((index, reference))
        if missing:
            # Missing and hidden alike: the sender learns nothing of records it cannot see.
            unknown = [
                FieldError(f"records[{index}]", f"no {KIND_OF[reference.kind].replace('_', ' ')} '{reference.id}'")
                for index, reference in missing
            ]
            refused = [
                {"index": index, "kind": KIND_OF[reference.kind], "id": reference.id, "refusal": "not_found"}
                for index, reference in missing
            ]
            self._refused(principal, purpose, recipients, refused, [reference.id for _, reference in missing])
            detail = unknown[0].reason if len(unknown) == 1 else "some records to forward do not exist"
            raise NotFound(detail, errors=unknown)

        forwarded = Forwarded()
        errors: list[FieldError] = []
        refusals: list[dict[str, Any]] = []
        for index, item in enumerate(held):
            decisions = {
                node: self._for_recipient(snapshot.decide, item, principal, node, country, purpose)
                for node, country in recipients.items()
            }
            refusal = _refusal(index, item, decisions, recipients)
            if refusal is not None:
                errors.append(FieldError(f"records[{index}]", refusal["reason"]))
                refusals.append(refusal)
                continue
            decision = next(iter(decisions.values()))
            shown = apply_decision(item.record, decision) or {}
            access = shown.pop("access")
            access["purpose"] = purpose.value
            access["rules"] = _union(rule for each in decisions.values() for rule in each.rules)
            access["consult_owner"] = any(each.consult_owner for each in decisions.values())
            access["onward_transmission"] = all(each.onward_transmission for each in decisions.values())
            forwarded.records.append(
                {
                    "kind": item.kind,
                    "id": item.id,
                    "owner": {"agency_id": item.facts.owner_agency_id, "country": item.facts.owner_country},
                    "access": access,
                    "record": shown,
                }
            )
            forwarded.record_ids.append(item.id)
            forwarded.kinds.add(item.kind)
            forwarded.audit.append(
                {
                    "kind": item.kind,
                    "id": item.id,
                    "owner_country": item.facts.owner_country,
                    "held_as": item.held_as,
                    "outcome": decision.outcome.value,
                    "removed_fields": list(decision.removed_fields),
                    "rules": {recipients[node]: [rule.code for rule in each.rules] for node, each in decisions.items()},
                }
            )
        if refusals:
            self._refused(principal, purpose, recipients, refusals, [item["id"] for item in refusals])
            raise ValidationFailed(
                errors[0].reason if len(errors) == 1 else "the policy refuses to forward some records",
                errors=errors,
                forwarding=[{key: value for key, value in item.items() if key != "reason"} for item in refusals],
            )
        return forwarded

    def _for_recipient(
        self,
        decide: Any,
        item: _Held,
        principal: Principal,
        node: str,
        country: str,
        purpose: Purpose,
    ) -> Decision:
        """What ``country`` may have of the record, from this sender: none (with why) when it
        may have nothing, or the sender may not pass it on there."""
        owner = item.facts.owner_agency_id == principal.agency_id
        passing: Rule | None = None
        if not owner:
            if country == item.facts.owner_country:
                passing = _BACK_TO_OWNER
            elif not item.view.onward_transmission:
                return Decision(Outcome.NONE, (_onward_refused(principal.country, item.view),))
            else:
                passing = _ONWARD
        # An agency of the recipient country that the owner did not name: the node's bureau.
        recipient: Decision = decide(Requester(agency_id=f"node:{node}", country=country, purpose=purpose), item.facts)
        if not recipient.visible:
            return recipient
        rules: list[Rule] = [*recipient.rules, *([passing] if passing is not None else [])]
        outcome = min(recipient.outcome, item.view.outcome, key=lambda each: _RANK[each])
        removed: tuple[str, ...] = ()
        if outcome is not Outcome.HIT_ONLY:
            removed = tuple(dict.fromkeys((*item.view.removed_fields, *recipient.removed_fields)))
            outcome = Outcome.REDACTED if removed else Outcome.FULL
        if _RANK[outcome] < _RANK[recipient.outcome] or len(removed) > len(recipient.removed_fields):
            rules.append(_held_as(principal.country, item.view))
        return Decision(
            outcome,
            tuple(rules),
            removed,
            consult_owner=recipient.consult_owner or item.view.consult_owner,
            onward_transmission=recipient.onward_transmission and (owner or item.view.onward_transmission),
        )

    def _refused(
        self,
        principal: Principal,
        purpose: Purpose,
        recipients: Mapping[str, str],
        refused: list[dict[str, Any]],
        record_ids: list[str],
    ) -> None:
        """Durable before the refusal is answered: who tried to forward what to whom."""
        details = {"recipients": sorted(recipients), "refused": refused}
        event = EventDraft(
            AuditTag.MESSAGE_FORWARD_REFUSED,
            actor_of(principal),
            record_ids=record_ids,
            decision=AuditDecision.DENIED,
            details=details,
            purpose=purpose.value,
        )
        self._audit.record([event])


# -- rules of forwarding -------------------------------------------------------------------

_ONWARD = Rule(
    "forward.onward_transmission",
    "the owner and the agreements by which the sender's country holds the record allow passing it on",
)
_BACK_TO_OWNER = Rule("forward.owner_country", "the record goes back to its owner's country, not on")


def _onward_refused(country: str, view: Decision) -> Rule:
    why = "; ".join(rule.text for rule in view.rules)
    return Rule(
        "forward.onward_transmission",
        f"{country} may not pass this record on: the owner's restrictions, its handling code or the agreements "
        f"by which {country} holds it do not allow it ({view.outcome.value}: {why})",
    )


def _held_as(country: str, view: Decision) -> Rule:
    return Rule("forward.held_as", f"{country} holds this record only {level(view)}: no more is passed on")


def _union(rules: Any) -> list[dict[str, str | None]]:
    seen: dict[tuple[str, str], dict[str, str | None]] = {}
    for rule in rules:
        seen.setdefault((rule.code, rule.text), rule.as_dict())
    return list(seen.values())


def _explained(decision: Decision) -> str:
    return ", ".join(f"{rule.code}: {rule.text}" for rule in decision.rules)


def _refusal(
    index: int, item: _Held, decisions: Mapping[str, Decision], recipients: Mapping[str, str]
) -> dict[str, Any] | None:
    """Why the record may not go to these recipients in one envelope, or None."""
    what = f"{item.kind.replace('_', ' ')} '{item.id}'"
    base = {"index": index, "kind": item.kind, "id": item.id}
    barred = {node: decision for node, decision in decisions.items() if not decision.visible}
    if barred:
        reasons = [
            f"{recipients[node]} may not receive it ({_explained(decision)})"
            for node, decision in sorted(barred.items())
        ]
        onward = any(rule.code == "forward.onward_transmission" for d in barred.values() for rule in d.rules)
        return {
            **base,
            "refusal": "onward_transmission" if onward else "not_visible",
            "recipients": {
                recipients[node]: {"level": "none", "rules": [rule.as_dict() for rule in decision.rules]}
                for node, decision in sorted(barred.items())
            },
            "reason": f"{what}: " + "; ".join(reasons),
        }
    levels = {recipients[node]: level(decision) for node, decision in decisions.items()}
    if len(set(levels.values())) > 1:
        named = ", ".join(f"{country} {value}" for country, value in sorted(levels.items()))
        return {
            **base,
            "refusal": "different_levels",
            "recipients": {country: {"level": value} for country, value in sorted(levels.items())},
            "reason": f"{what} would reach the recipients at different levels ({named}): "
            "send it to each in a message of its own",
        }
    return None


def _replica_held(reference: RecordReference, copy: ReplicaRecordRow) -> _Held:
    """A hub record as this node's replica holds it: at the level the hub decided for this
    country (the rules it gave), with the owner's restrictions where the copy shows them."""
    record = dict(copy.record)
    access = record.pop("access", None) or {}
    view = Decision(
        Outcome(copy.access),
        tuple(Rule(rule["code"], rule["text"], rule.get("reference")) for rule in access.get("rules", ())),
        tuple(access.get("removed_fields", ())),
        consult_owner=bool(access.get("consult_owner", copy.consult_owner)),
        onward_transmission=bool(access.get("onward_transmission", False)),
    )
    restrictions = record.get("restrictions") if isinstance(record.get("restrictions"), dict) else {}
    facts = RecordFacts(copy.kind, copy.owner_agency_id, copy.owner_country, restrictions or {})
    return _Held(reference, copy.kind, facts, record, view, "replica")
