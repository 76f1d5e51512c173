"""Record decisions per second in the filtering path: polex's compiled policy against the
straightforward per-record evaluation, side by side in one run, on one core.

Run: .venv/bin/python benchmarks/policy_decisions.py [--records 20000] [--requesters 20] [--repeat 5]

The mix is realistic for a hub: 50 member countries; 10 agreements (a multilateral
convention on notices and travel documents most members acceded to, two regional
conventions on persons and cases, five bilateral treaties sharing a field set of persons,
a memorandum on vehicles at hit-only level, a retired treaty); national rules for ten
countries (biometrics and health never shared, purposes refused, shorter retention);
records of every kind from every country, half of them with owner restrictions (country
and agency lists, hit-only lists, TLP:RED, consult-the-owner). Each requester (a country,
an agency, a purpose) has every record decided, as screening filters its candidates:

- straightforward: ``decide(policy, requester, record, now)`` for each record, reading
  every agreement, every time;
- compiled: ``snapshot.for_requester(requester)`` once, then ``decide_parts`` per record
  from its stored columns, as lists and screening call it.

Both must agree on every decision (checked); the figure is decisions per second of each and
their ratio, best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
import uuid
from typing import Any

from polex.domain.base import Restrictions, Tlp
from polex.domain.decisions import AgreementState, PolicySet, RecordFacts, Requester, decide
from polex.domain.policy import (
    ALL_MEMBERS,
    AccessLevel,
    Agreement,
    AgreementKind,
    DataCategory,
    NationalRules,
    Purpose,
)

COUNTRIES = [
    "ARG",
    "AUS",
    "AUT",
    "BEL",
    "BRA",
    "CAN",
    "CHE",
    "CHL",
    "CHN",
    "COL",
    "CZE",
    "DEU",
    "DNK",
    "EGY",
    "ESP",
    "EST",
    "FIN",
    "FRA",
    "GBR",
    "GRC",
    "HUN",
    "IDN",
    "IND",
    "IRL",
    "ISR",
    "ITA",
    "JPN",
    "KEN",
    "KOR",
    "LTU",
    "LVA",
    "MAR",
    "MEX",
    "NGA",
    "NLD",
    "NOR",
    "NZL",
    "PER",
    "POL",
    "PRT",
    "ROU",
    "SWE",
    "THA",
    "TUR",
    "UKR",
    "URY",
    "USA",
    "VNM",
    "ZAF",
    "XPO",
]
KINDS = ("person", "travel_document", "vehicle", "case")
TODAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


def policy_set(rng: random.Random) -> PolicySet:
    europe = COUNTRIES[:28]
    americas = ["ARG", "BRA", "CAN", "CHL", "COL", "MEX", "PER", "URY", "USA"]
    agreements: list[AgreementState] = [
        AgreementState(
            Agreement(
                id="notices-convention",
                title="Convention on notices and travel documents",
                kind=AgreementKind.MULTILATERAL_CONVENTION,
                parties=[ALL_MEMBERS],
                categories=[DataCategory.NOTICES, DataCategory.TRAVEL_DOCUMENTS],
                purposes=[Purpose.BORDER_CONTROL, Purpose.CRIMINAL_INVESTIGATION, Purpose.PROSECUTION],
                level=AccessLevel.FULL,
                valid_from=dt.date(2020, 1, 1),
                legal_reference="Convention art. 4",
            ),
            1,
            frozenset(rng.sample(COUNTRIES, 45)),
        ),
        AgreementState(
            Agreement(
                id="europe-police-convention",
                title="Regional convention on police cooperation",
                kind=AgreementKind.MULTILATERAL_CONVENTION,
                parties=europe,
                categories=[DataCategory.PERSONS, DataCategory.CASES, DataCategory.VEHICLES],
                purposes=[Purpose.CRIMINAL_INVESTIGATION, Purpose.COUNTER_TERRORISM],
                level=AccessLevel.FULL,
                valid_from=dt.date(2019, 1, 1),
                legal_reference="Regional convention art. 39",
            ),
            1,
            frozenset(europe[:24]),
        ),
        AgreementState(
            Agreement(
                id="americas-police-convention",
                title="Convention of the Americas on mutual assistance",
                kind=AgreementKind.MULTILATERAL_CONVENTION,
                parties=americas,
                categories=[DataCategory.PERSONS, DataCategory.CASES],
                purposes=[Purpose.CRIMINAL_INVESTIGATION, Purpose.MISSING_PERSONS],
                level=AccessLevel.FULL,
                valid_from=dt.date(2018, 6, 1),
                legal_reference="Americas convention art. 7",
            ),
            1,
            frozenset(americas),
        ),
        AgreementState(
            Agreement(
                id="vehicles-memorandum",
                title="Memorandum on stolen vehicles",
                kind=AgreementKind.MEMORANDUM,
                parties=["FRA", "DEU", "POL", "UKR", "ROU"],
                categories=[DataCategory.VEHICLES],
                purposes=[Purpose.BORDER_CONTROL, Purpose.CRIMINAL_INVESTIGATION],
                level=AccessLevel.HIT_ONLY,
                valid_from=dt.date(2022, 1, 1),
                legal_reference="Memorandum point 3",
            ),
            1,
            frozenset({"FRA", "DEU", "POL", "UKR", "ROU"}),
        ),
        AgreementState(
            Agreement(
                id="retired-treaty",
                title="A treaty since retired",
                kind=AgreementKind.BILATERAL_TREATY,
                parties=["FRA", "MAR"],
                categories=[DataCategory.PERSONS],
                purposes=list(Purpose),
                level=AccessLevel.FULL,
                valid_from=dt.date(2010, 1, 1),
                legal_reference="Old treaty art. 1",
            ),
            1,
            frozenset({"FRA", "MAR"}),
            retired=True,
        ),
    ]
    for index in range(5):
        first, second = rng.sample(COUNTRIES[:-1], 2)
        agreements.append(
            AgreementState(
                Agreement(
                    id=f"bilateral-{index}",
                    title=f"Treaty between {first} and {second} on criminal records",
                    kind=AgreementKind.BILATERAL_TREATY,
                    parties=[first, second],
                    categories=[DataCategory.PERSONS, DataCategory.CASES],
                    purposes=[Purpose.CRIMINAL_INVESTIGATION, Purpose.PROSECUTION],
                    level=AccessLevel.FIELDS,
                    fields=["person.names", "person.birth_dates", "person.nationalities", "case.title", "case.status"],
                    valid_from=dt.date(2021, 1, 1),
                    legal_reference=f"Bilateral treaty {index} art. 2",
                ),
                1,
                frozenset({first, second}),
            )
        )
    rules = {}
    for country in rng.sample(COUNTRIES, 10):
        rules[country] = NationalRules(
            country=country,
            never_shared=rng.sample(["biometrics", "health", "person.identifiers", "person.physical"], 2),
            refused_purposes=rng.sample([Purpose.CRIME_PREVENTION, Purpose.COUNTER_TERRORISM], 1),
            retention_months={DataCategory.PERSONS: 36},
            legal_reference=f"Data protection act of {country}",
        )
    return PolicySet(agreements=tuple(agreements), national_rules=rules)


def records(
    rng: random.Random, count: int, agencies: dict[str, list[str]], restricted_share: float = 0.5
) -> list[RecordFacts]:
    made = []
    for _ in range(count):
        country = rng.choice(COUNTRIES)
        restrictions = Restrictions()
        if rng.random() < restricted_share:
            others = [c for c in COUNTRIES if c != country]
            choice = rng.random()
            restrictions = Restrictions(
                handling=rng.choice([Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED]),
                excluded_countries=rng.sample(others, 3) if choice < 0.3 else [],
                allowed_countries=rng.sample(others, 8) if 0.3 <= choice < 0.5 else None,
                hit_only_countries=rng.sample(others, 5) if 0.5 <= choice < 0.8 else [],
                excluded_agencies=rng.sample([a for c in others[:5] for a in agencies[c]], 2) if choice >= 0.8 else [],
                hit_only_agencies=rng.sample(agencies[rng.choice(others)], 1) if choice >= 0.9 else [],
                consult_owner=rng.random() < 0.3,
                onward_transmission=rng.random() < 0.3,
            )
        made.append(
            RecordFacts(
                kind=rng.choice(KINDS),
                owner_agency_id=rng.choice(agencies[country]),
                owner_country=country,
                restrictions=restrictions.model_dump(mode="json"),
                retain_until=NOW + dt.timedelta(days=rng.randint(-30, 1800)),
            )
        )
    return made


# What officers declare: mostly investigations and border checks.
PURPOSE_WEIGHTS = {
    Purpose.CRIMINAL_INVESTIGATION: 45,
    Purpose.BORDER_CONTROL: 30,
    Purpose.PROSECUTION: 8,
    Purpose.MISSING_PERSONS: 6,
    Purpose.COUNTER_TERRORISM: 5,
    Purpose.IMMINENT_THREAT: 2,
    Purpose.CRIME_PREVENTION: 2,
    Purpose.BODY_IDENTIFICATION: 1,
    Purpose.DATA_QUALITY: 1,
}


def requesters(rng: random.Random, count: int, agencies: dict[str, list[str]]) -> list[Requester]:
    purposes = list(PURPOSE_WEIGHTS)
    weights = list(PURPOSE_WEIGHTS.values())
    return [
        Requester(
            agency_id=rng.choice(agencies[country]),
            country=country,
            purpose=rng.choices(purposes, weights)[0],
        )
        for country in (rng.choice(COUNTRIES) for _ in range(count))
    ]


def run_straightforward(policy: PolicySet, people: list[Requester], items: list[RecordFacts]) -> list[Any]:
    return [decide(policy, requester, facts, NOW) for requester in people for facts in items]


def run_compiled(policy: PolicySet, people: list[Requester], items: list[RecordFacts]) -> list[Any]:
    snapshot = policy.snapshot(NOW)
    out = []
    for requester in people:
        view = snapshot.for_requester(requester)
        decide_parts = view.decide_parts
        out.extend(
            decide_parts(f.kind, f.owner_agency_id, f.owner_country, f.restrictions, f.retain_until) for f in items
        )
    return out


def best_of(repeat: int, work: Any, *args: Any) -> tuple[float, list[Any]]:
    best = float("inf")
    result: list[Any] = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = work(*args)
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--requesters", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--restricted-share", type=float, default=0.5, help="Share of records with owner restrictions (0 to 1)"
    )
    args = parser.parse_args()

    rng = random.Random(args.seed)
    agencies = {country: [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(4)] for country in COUNTRIES}
    policy = policy_set(rng)
    items = records(rng, args.records, agencies, args.restricted_share)
    people = requesters(rng, args.requesters, agencies)
    total = len(items) * len(people)

    slow_time, slow = best_of(max(1, args.repeat // 2), run_straightforward, policy, people, items)
    fast_time, fast = best_of(args.repeat, run_compiled, policy, people, items)
    disagreements = sum(1 for a, b in zip(slow, fast, strict=True) if a != b)
    outcomes: dict[str, int] = {}
    for decision in fast:
        outcomes[decision.outcome.value] = outcomes.get(decision.outcome.value, 0) + 1

    print(
        f"{total:,} record decisions ({len(people)} requesters x {len(items):,} records, "
        f"{args.restricted_share:.0%} with owner restrictions), one core"
    )
    print(f"outcomes: {', '.join(f'{name} {count:,}' for name, count in sorted(outcomes.items()))}")
    print(f"{'evaluation':<40}{'seconds':>10}{'decisions/s':>14}{'us/decision':>13}")
    for name, seconds in (
        ("straightforward (every agreement)", slow_time),
        ("compiled per requester (polex)", fast_time),
    ):
        print(f"{name:<40}{seconds:>10.3f}{total / seconds:>14,.0f}{seconds / total * 1e6:>13.2f}")
    print(f"ratio compiled / straightforward: {slow_time / fast_time:.1f}x")
    print(f"disagreements: {disagreements}")
    if disagreements:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
