"""Cross-border correlation per new person record, beside a plain person match, at the hub.

Run: .venv/bin/python benchmarks/correlation_speed.py [--size 100000] [--records 300] [--postgres]

A hub (built as ``polex init`` builds it, SQLite in a temporary folder or a fresh schema of
the PostgreSQL test database) holds ``--size`` synthetic persons filed by the bureaus of
France, Ukraine, Greece, Japan and the hub itself (the demo's generator: names in each
country's script with the transliterations its passports print), loaded with the
correlation worker off, then the watch list. Then ``--records`` new person records are filed,
one at a time, each by another country than the first: half are persons already on file
recorded again the way another bureau would (the passport's Latin name alone, sometimes only
the birth year), half new persons. For each, timed apart, in one thread:

- filing: ``RecordService.create`` (what the request waits for; the watch list is updated
  in it, the correlation is not);
- plain match: ``PersonWatchlist.search`` of the record's persons at the default threshold
  (the index alone: blocking, scoring, explanations), and ``ScreeningService.match_persons``
  (the whole path of ``POST /api/v1/persons/match``: index, store, policy, audit);
- correlation: ``CorrelationService.correlate`` of the record (what the worker does after
  the commit: read it again, search the watch list below the threshold, score the candidates
  of other countries both ways, raise or refresh its correlations with their audit events).

Printed: mean, p50 and p99 milliseconds, how many correlations were raised, and how many of the
persons recorded again were paired with the record they were copied from. The machine's two
cores may be shared: the load average is printed. Figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text

# This checkout's src/ is looked in last: a PYTHONPATH naming a copy of src/ (the code to compare
# against) comes first, and the installed package is this checkout's anyway.
sys.path.append(str(Path(__file__).resolve().parent.parent / "src"))

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.correlation.service import CorrelationService
from polex.demo.synthetic import generate
from polex.domain.agency import AgencyKind
from polex.domain.base import Provenance, Restrictions, new_id
from polex.domain.person import NameKind, Person
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.matching.scoring import DEFAULT_THRESHOLD
from polex.person.feature import PERSON_FEATURE
from polex.provision import NodeIdentity, initialise_node
from polex.record.schemas import create_model_for
from polex.record.service import NewRecord
from polex.screening.persons import person_queries
from polex.settings import NodeRole
from polex.storage.tables import CorrelationRow

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COUNTRIES = ("FRA", "UKR", "GRC", "JPN", "XPO")
CREATE = create_model_for(PERSON_FEATURE.record_type)


def hub_on(postgres: bool, directory: Path) -> tuple[Node, Callable[[], None]]:
    identity = NodeIdentity(name="hub", country="XPO", role=NodeRole.HUB, port=8497)
    if not postgres:
        return initialise_node(directory, identity), lambda: None
    schema = f"polex_bench_{new_id()[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return initialise_node(directory, identity, database_url=f"{POSTGRES}?options=-csearch_path%3D{schema}"), drop


def bureau(node: Node, country: str) -> Principal:
    agency = node.agencies.ensure(AgencyCreate(name=f"NCB {country}", country=country, kind=AgencyKind.NCB))
    return Principal(PrincipalKind.USER, new_id(), f"ncb-{country}", agency.id, country, frozenset({Role.NCB_OPERATOR}))


def recorded_again(person: Person, rng: random.Random) -> dict[str, Any]:
    """The person as another bureau records them: the Latin name its passport prints (the
    transliteration, when the name is in another script), sometimes only the birth year."""
    names = [name for name in person.names if name.kind is NameKind.TRANSLITERATION] or person.names[:1]
    dates = [str(date) for date in person.birth_dates]
    if dates and rng.random() < 0.3:
        dates = [dates[0][:4]]
    return {
        "names": [{"full": names[0].full}],
        "sex": person.sex.value if person.sex else None,
        "birth_dates": dates,
        "nationalities": list(person.nationalities),
    }


def fresh(person: Person) -> dict[str, Any]:
    body: dict[str, Any] = person.model_dump(mode="json", exclude_none=True)
    return {key: body[key] for key in ("names", "sex", "birth_dates", "nationalities") if key in body}


def figures(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{label:<44} mean {statistics.fmean(seconds) * 1000:8.2f} ms   p50 {ordered[len(ordered) // 2] * 1000:8.2f} ms"
        f"   p99 {p99 * 1000:8.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--postgres", action="store_true", help="the PostgreSQL test database, not SQLite")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="polex-correlation-") as folder:
        node, drop = hub_on(args.postgres, Path(folder))
        try:
            node.correlations.close()  # loading is not what is measured: the worker stays off
            bureaus = {country: bureau(node, country) for country in COUNTRIES}
            started = time.perf_counter()
            filed: list[tuple[str, str, Person]] = []  # owner country, record id, person
            per_country = args.size // len(COUNTRIES)
            for offset, country in enumerate(COUNTRIES):
                data = generate(
                    country, seed=args.seed * 100 + offset, persons=per_country, documents=0, vehicles=0, cases=0
                )
                for start in range(0, len(data.persons), 5_000):
                    chunk = data.persons[start : start + 5_000]
                    node.records["person"].create_many(
                        [
                            NewRecord(
                                id=item.id,
                                content=item.person,
                                owner_agency_id=bureaus[country].agency_id,
                                owner_country=country,
                                restrictions=Restrictions(),
                                provenance=Provenance(source_format="synthetic"),
                            )
                            for item in chunk
                        ]
                    )
                filed.extend((country, item.id, item.person) for item in data.persons)
            print(f"filed {len(filed):,} persons in {time.perf_counter() - started:.0f} s", flush=True)
            records, seconds = node.screening.watchlist.load()
            print(f"watch list: {records:,} records in {seconds:.0f} s", flush=True)

            newcomers = generate(
                "UKR", seed=args.seed * 100 + 99, persons=args.records, documents=0, vehicles=0, cases=0
            )
            service = CorrelationService(
                node.uow, node.audit, node.policy, node.records, node.events, node.screening.watchlist
            )
            timings: dict[str, list[float]] = {"file": [], "index": [], "match": [], "correlate": []}
            sources: dict[str, str] = {}  # new record -> the record it is the same person as
            for position in range(args.records):
                source = None
                if position % 2 == 0:
                    owner_country, source, person = rng.choice(filed)
                    body = recorded_again(person, rng)
                else:
                    owner_country, body = "XPO", fresh(newcomers.persons[position].person)
                filer = bureaus[rng.choice([c for c in COUNTRIES if c != owner_country])]
                clock = time.perf_counter()
                record = node.records["person"].create(CREATE.model_validate(body), filer)
                timings["file"].append(time.perf_counter() - clock)
                if source is not None:
                    sources[record.id] = source
                queries = person_queries(body)
                clock = time.perf_counter()
                for query in queries:
                    node.screening.watchlist.search(query, limit=10, threshold=DEFAULT_THRESHOLD, wait=0)
                timings["index"].append(time.perf_counter() - clock)
                asked = {
                    "names": [name["full"] for name in body["names"]],
                    "birth_date": (body["birth_dates"] or [None])[0],
                }
                clock = time.perf_counter()
                node.screening.match_persons(asked, filer, purpose=Purpose.CRIMINAL_INVESTIGATION)
                timings["match"].append(time.perf_counter() - clock)
                clock = time.perf_counter()
                service.correlate(record.id)
                timings["correlate"].append(time.perf_counter() - clock)
            with node.uow(read_only=True) as uow:
                raised = uow.session.scalar(select(func.count()).select_from(CorrelationRow))
                pairs = {
                    frozenset((row.record_a_id, row.record_b_id)) for row in uow.session.scalars(select(CorrelationRow))
                }
            found = sum(frozenset((new, old)) in pairs for new, old in sources.items())
            backend = "PostgreSQL" if args.postgres else "SQLite"
            print(f"\n{args.records} new person records against {len(filed):,} persons of 5 countries ({backend})")
            print(figures("filing (RecordService.create)", timings["file"]))
            print(figures("plain match, index (PersonWatchlist.search)", timings["index"]))
            print(figures("plain match, service (match_persons)", timings["match"]))
            print(figures("correlation (CorrelationService.correlate)", timings["correlate"]))
            print(
                f"correlations raised: {raised}; of the {len(sources)} persons recorded again, "
                f"{found} found with the record they were copied from (the others pair persons of the same name)"
            )
            print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
        finally:
            node.close()
            drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
