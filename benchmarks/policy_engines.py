"""Record-level access decisions per second: general-purpose policy engines against plain Python.

Run: python benchmarks/policy_engines.py [--requesters 10] [--records 2000] [--repeat 3] [--seed 42] [--explain]

Why: polex decides, for every candidate record a screening or a list returns, whether the
requester sees it in full, as a hit only, or not at all. For that record-level filtering
path the project chose a hand-written evaluator, compiled once per requester, over Cedar,
casbin and OPA/Rego. This script is the evidence: the same model written for each engine,
every engine's decisions checked against a plain-Python reference, and decisions per second
measured side by side in one run.

The model (synthetic, seeded): 50 countries with 4 agencies each; 10 agreements, each
between 8 to 25 of the countries, covering some of 4 record categories and 4 purposes, at
level ``full`` or ``hit_only``; requesters are an agency of a country acting for a purpose;
half the records carry owner restrictions (excluded countries, an allowed-countries list,
hit-only countries). The decision is ``full``, ``hit_only`` or ``deny``, in this order:
same agency -> full; requester's country excluded -> deny; an allowed-countries list
without it (and not the owner's country) -> deny; same country -> full; otherwise the best
level of the agreements joining both countries for the record's category and the
requester's purpose, capped at hit_only for the record's hit-only countries.

Rows (each decides every record of every requester; best of ``--repeat`` runs unless the
"runs" column says otherwise):

- python naive: every agreement read for every record;
- python compiled: a (owner country, category) -> level table built once per requester
  country and purpose and reused, then a few comparisons per record (the approach polex
  takes; ``benchmarks/policy_decisions.py`` measures polex's own implementation);
- cedarpy: one request per (record, action), two actions per record, with entities built
  from the Python dicts each time, with a schema, with pre-built entities (engine time
  only), one ``is_authorized`` call per request, and agreements as an entity hierarchy;
- pycasbin: one matcher over the restrictions and agreements, two ``enforce`` per record;
- regorus (Rego): one evaluation per requester batch, with Python objects or JSON input,
  with a per-requester table computed in Rego, and through the RVM compiler/VM
  (10-record chunks: the VM has a 25,000-instruction limit not settable from Python).

The "1-rec call" column is the cost of one call with a one-record batch (the latency of a
single decision); "x compiled" is each row's time divided by the python-compiled row's.
The whole run takes about 2 to 3 minutes, most of it casbin and Cedar.

Setup: the engines are not polex dependencies; install them into a separate venv:

    python -m venv /tmp/policy-engines && /tmp/policy-engines/bin/pip install cedarpy pycasbin celine-regorus
    /tmp/policy-engines/bin/python benchmarks/policy_engines.py

celine-regorus is a third-party build of microsoft/regorus (Microsoft publishes no PyPI
package); it is imported as ``regorus``. An engine that is not installed is skipped with
"not installed", so the script also runs in the project's own venv
(``.venv/bin/python benchmarks/policy_engines.py``) with only the plain-Python rows.
Any disagreement with the plain-Python reference exits with status 1. No network access.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

CATEGORIES = ["persons", "travel_documents", "vehicles", "cases"]
PURPOSES = ["criminal_investigation", "border_control", "counter_terrorism", "missing_persons"]
LEVELS = ("full", "hit_only", "deny")
RANK = {"deny": 0, "hit_only": 1, "full": 2}
N_COUNTRIES = 50
AGENCIES_PER_COUNTRY = 4
N_AGREEMENTS = 10

Requester = dict[str, Any]
Record = dict[str, Any]
Batch = tuple[Requester, list[Record]]
BatchFn = Callable[[Requester, list[Record]], list[str]]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Model:
    countries: list[str]
    agreements: list[dict[str, Any]]
    batches: list[Batch]

    @property
    def decisions(self) -> int:
        return sum(len(records) for _, records in self.batches)


def build_model(seed: int, n_requesters: int, records_per_requester: int) -> Model:
    rng = random.Random(seed)
    codes: set[str] = set()
    while len(codes) < N_COUNTRIES:
        codes.add("".join(rng.choices(string.ascii_uppercase, k=3)))
    countries = sorted(codes)
    agencies = {c: [f"{c}-AG{i}" for i in range(AGENCIES_PER_COUNTRY)] for c in countries}
    agreements = [
        {
            "id": f"AGR{i}",
            "parties": sorted(rng.sample(countries, rng.randint(8, 25))),
            "categories": sorted(rng.sample(CATEGORIES, rng.randint(1, 4))),
            "purposes": sorted(rng.sample(PURPOSES, rng.randint(1, 4))),
            "level": rng.choice(["full", "hit_only"]),
        }
        for i in range(N_AGREEMENTS)
    ]
    requesters = []
    for i in range(n_requesters):
        country = rng.choice(countries)
        requesters.append(
            {
                "id": f"REQ{i}",
                "country": country,
                "agency": rng.choice(agencies[country]),
                "purpose": rng.choice(PURPOSES),
            }
        )
    batches: list[Batch] = []
    n = 0
    for requester in requesters:
        records = []
        for _ in range(records_per_requester):
            records.append(make_record(rng, n, requester, countries, agencies))
            n += 1
        batches.append((requester, records))
    return Model(countries, agreements, batches)


def pick_countries(rng: random.Random, countries: list[str], k: int, requester: Requester) -> list[str]:
    """A small restriction list, biased so that it often names the requester's country."""
    chosen = set(rng.sample(countries, k))
    if rng.random() < 0.3:
        chosen.add(requester["country"])
    return sorted(chosen)


def make_record(
    rng: random.Random, i: int, requester: Requester, countries: list[str], agencies: dict[str, list[str]]
) -> Record:
    r = rng.random()
    if r < 0.05:  # the requester's own agency
        owner_country, owner_agency = requester["country"], requester["agency"]
    elif r < 0.12:  # the requester's country, another agency
        owner_country = requester["country"]
        owner_agency = rng.choice([a for a in agencies[owner_country] if a != requester["agency"]])
    else:
        owner_country = rng.choice(countries)
        owner_agency = rng.choice(agencies[owner_country])
    record: Record = {
        "id": f"R{i}",
        "category": rng.choice(CATEGORIES),
        "owner_country": owner_country,
        "owner_agency": owner_agency,
        "excluded_countries": [],
        "allowed_countries": None,
        "hit_only_countries": [],
    }
    if rng.random() < 0.5:
        if rng.random() < 0.4:
            record["excluded_countries"] = pick_countries(rng, countries, rng.randint(1, 3), requester)
        if rng.random() < 0.4:
            record["allowed_countries"] = pick_countries(rng, countries, rng.randint(2, 8), requester)
        if rng.random() < 0.5:
            record["hit_only_countries"] = pick_countries(rng, countries, rng.randint(1, 4), requester)
    return record


# --------------------------------------------------------------------------- engines


@dataclass
class Case:
    """One measured way of deciding a batch of records for a requester."""

    name: str
    fn: BatchFn
    repeat: int | None = None  # None: --repeat
    per_call: int = 500  # one-record calls timed for the "1-rec call" column; 0: not measured


@dataclass
class Engine:
    cases: list[Case]
    explain: Callable[[], None] | None = None
    notes: list[str] = field(default_factory=list)


def python_engine(model: Model) -> Engine:
    agreements = [
        {
            "parties": set(a["parties"]),
            "categories": set(a["categories"]),
            "purposes": set(a["purposes"]),
            "level": a["level"],
        }
        for a in model.agreements
    ]

    def decide(requester: Requester, record: Record) -> str:
        country = requester["country"]
        if requester["agency"] == record["owner_agency"]:
            return "full"
        if country in record["excluded_countries"]:
            return "deny"
        allowed = record["allowed_countries"]
        if allowed is not None and country not in allowed and country != record["owner_country"]:
            return "deny"
        if country == record["owner_country"]:
            return "full"
        best = "deny"
        owner, category, purpose = record["owner_country"], record["category"], requester["purpose"]
        for a in agreements:
            if (
                country in a["parties"]
                and owner in a["parties"]
                and category in a["categories"]
                and purpose in a["purposes"]
                and RANK[a["level"]] > RANK[best]
            ):
                best = a["level"]
        if best == "full" and country in record["hit_only_countries"]:
            best = "hit_only"
        return best

    def naive(requester: Requester, records: list[Record]) -> list[str]:
        return [decide(requester, r) for r in records]

    def compile_requester(country: str, purpose: str) -> dict[tuple[str, str], str]:
        """(owner_country, category) -> best level, for one requester country and purpose."""
        table: dict[tuple[str, str], str] = {}
        for a in agreements:
            if country in a["parties"] and purpose in a["purposes"]:
                for owner in a["parties"]:
                    if owner == country:
                        continue
                    for category in a["categories"]:
                        if RANK[a["level"]] > RANK[table.get((owner, category), "deny")]:
                            table[(owner, category)] = a["level"]
        return table

    tables: dict[tuple[str, str], dict[tuple[str, str], str]] = {}

    def compiled(requester: Requester, records: list[Record]) -> list[str]:
        country, agency = requester["country"], requester["agency"]
        key = (country, requester["purpose"])
        table = tables.get(key)
        if table is None:
            table = tables[key] = compile_requester(*key)
        out: list[str] = []
        append = out.append
        get = table.get
        for record in records:
            owner = record["owner_country"]
            allowed = record["allowed_countries"]
            if agency == record["owner_agency"]:
                append("full")
            elif country in record["excluded_countries"] or (
                allowed is not None and country not in allowed and country != owner
            ):
                append("deny")
            elif country == owner:
                append("full")
            else:
                level = get((owner, record["category"]), "deny")
                if level == "full" and country in record["hit_only_countries"]:
                    level = "hit_only"
                append(level)
        return out

    return Engine([Case("python naive", naive), Case("python compiled", compiled)])


# ---- Cedar

CEDAR_SCHEMA = """
entity Agency = { country: String };
entity Record = {
  category: String, owner_country: String, owner_agency: Agency,
  excluded_countries: Set<String>, allowed_countries?: Set<String>, hit_only_countries: Set<String>
};
action view_full, view_hit_only appliesTo {
  principal: Agency, resource: Record, context: { purpose: String }
};
"""

CEDAR_FIXED_POLICIES = [
    """@id("same_agency")
permit (principal, action in [Action::"view_full", Action::"view_hit_only"], resource)
when { resource.owner_agency == principal };""",
    """@id("same_country")
permit (principal, action in [Action::"view_full", Action::"view_hit_only"], resource)
when { resource.owner_country == principal.country };""",
    """@id("excluded_country")
forbid (principal, action, resource)
when { resource.excluded_countries.contains(principal.country) }
unless { resource.owner_agency == principal };""",
    """@id("not_in_allowed_countries")
forbid (principal, action, resource)
when { resource has allowed_countries &&
       !resource.allowed_countries.contains(principal.country) &&
       principal.country != resource.owner_country }
unless { resource.owner_agency == principal };""",
    """@id("hit_only_cap")
forbid (principal, action == Action::"view_full", resource)
when { resource.hit_only_countries.contains(principal.country) }
unless { resource.owner_agency == principal || resource.owner_country == principal.country };""",
]


def cedar_set(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def cedar_actions(agreement: dict[str, Any]) -> str:
    if agreement["level"] == "full":
        return 'action in [Action::"view_full", Action::"view_hit_only"]'
    return 'action == Action::"view_hit_only"'


def cedar_policies(model: Model) -> str:
    """Agreements as permits whose conditions list the parties."""
    policies = list(CEDAR_FIXED_POLICIES)
    for a in model.agreements:
        policies.append(f"""@id("{a["id"]}")
permit (principal, {cedar_actions(a)}, resource)
when {{ {cedar_set(a["parties"])}.contains(principal.country) &&
       {cedar_set(a["parties"])}.contains(resource.owner_country) &&
       {cedar_set(a["categories"])}.contains(resource.category) &&
       {cedar_set(a["purposes"])}.contains(context.purpose) }};""")
    return "\n\n".join(policies)


def cedar_policies_hierarchy(model: Model) -> str:
    """Agreements as entities, parents of their member countries, parents of agencies and records."""
    policies = list(CEDAR_FIXED_POLICIES)
    for a in model.agreements:
        policies.append(f"""@id("{a["id"]}")
permit (principal in Agreement::"{a["id"]}", {cedar_actions(a)}, resource in Agreement::"{a["id"]}")
when {{ {cedar_set(a["categories"])}.contains(resource.category) &&
       {cedar_set(a["purposes"])}.contains(context.purpose) }};""")
    return "\n\n".join(policies)


def cedar_entities(requester: Requester, records: list[Record]) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = [
        {
            "uid": {"type": "Agency", "id": requester["agency"]},
            "attrs": {"country": requester["country"]},
            "parents": [],
        }
    ]
    for r in records:
        attrs = {
            "category": r["category"],
            "owner_country": r["owner_country"],
            "owner_agency": {"__entity": {"type": "Agency", "id": r["owner_agency"]}},
            "excluded_countries": r["excluded_countries"],
            "hit_only_countries": r["hit_only_countries"],
        }
        if r["allowed_countries"] is not None:
            attrs["allowed_countries"] = r["allowed_countries"]
        entities.append({"uid": {"type": "Record", "id": r["id"]}, "attrs": attrs, "parents": []})
    return entities


def cedar_base_entities_hierarchy(model: Model) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = [
        {"uid": {"type": "Agreement", "id": a["id"]}, "attrs": {}, "parents": []} for a in model.agreements
    ]
    for c in model.countries:
        parents = [{"type": "Agreement", "id": a["id"]} for a in model.agreements if c in a["parties"]]
        entities.append({"uid": {"type": "Country", "id": c}, "attrs": {}, "parents": parents})
    return entities


def cedar_entities_hierarchy(requester: Requester, records: list[Record]) -> list[dict[str, Any]]:
    entities = cedar_entities(requester, records)
    entities[0]["parents"] = [{"type": "Country", "id": requester["country"]}]
    for entity, record in zip(entities[1:], records, strict=True):
        entity["parents"] = [{"type": "Country", "id": record["owner_country"]}]
    return entities


def cedar_requests(requester: Requester, records: list[Record]) -> list[dict[str, Any]]:
    """Two requests per record: view_full, then view_hit_only."""
    principal = {"type": "Agency", "id": requester["agency"]}
    context = {"purpose": requester["purpose"]}
    requests = []
    for r in records:
        resource = {"type": "Record", "id": r["id"]}
        for action in ("view_full", "view_hit_only"):
            requests.append(
                {
                    "principal": principal,
                    "action": {"type": "Action", "id": action},
                    "resource": resource,
                    "context": context,
                }
            )
    return requests


def cedar_levels(results: list[Any]) -> list[str]:
    levels = []
    for i in range(0, len(results), 2):
        if results[i].allowed:
            levels.append("full")
        elif results[i + 1].allowed:
            levels.append("hit_only")
        else:
            levels.append("deny")
    return levels


def cedar_engine(model: Model) -> Engine:
    import cedarpy

    text = cedar_policies(model)
    validation = cedarpy.validate_policies(text, CEDAR_SCHEMA)
    if not validation.validation_passed:
        raise SystemExit(f"Cedar policies do not validate against the schema: {[str(e) for e in validation.errors]}")
    policies = cedarpy.PolicySet.from_str(text)
    schema = cedarpy.Schema.from_str(CEDAR_SCHEMA)

    def build_and_decide(requester: Requester, records: list[Record]) -> list[str]:
        entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(requester, records)))
        return cedar_levels(cedarpy.is_authorized_batch(cedar_requests(requester, records), policies, entities))

    def with_schema(requester: Requester, records: list[Record]) -> list[str]:
        entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(requester, records)), schema)
        requests = cedar_requests(requester, records)
        return cedar_levels(cedarpy.is_authorized_batch(requests, policies, entities, schema))

    prebuilt = {
        requester["id"]: (
            cedarpy.Entities.from_json_str(json.dumps(cedar_entities(requester, records))),
            cedar_requests(requester, records),
        )
        for requester, records in model.batches
    }

    def engine_only(requester: Requester, records: list[Record]) -> list[str]:
        entities, requests = prebuilt[requester["id"]]
        return cedar_levels(cedarpy.is_authorized_batch(requests, policies, entities))

    def per_request(requester: Requester, records: list[Record]) -> list[str]:
        requests = cedar_requests(requester, records)
        levels = []
        for full, hit_only, record in zip(requests[::2], requests[1::2], records, strict=True):
            entities = cedar_entities(requester, [record])
            if cedarpy.is_authorized(full, policies, entities).allowed:
                levels.append("full")
            elif cedarpy.is_authorized(hit_only, policies, entities).allowed:
                levels.append("hit_only")
            else:
                levels.append("deny")
        return levels

    hierarchy = cedarpy.PolicySet.from_str(cedar_policies_hierarchy(model))
    base = cedarpy.Entities.from_json_str(json.dumps(cedar_base_entities_hierarchy(model)))

    def agreements_as_entities(requester: Requester, records: list[Record]) -> list[str]:
        entities = base.with_added_json_str(json.dumps(cedar_entities_hierarchy(requester, records)))
        return cedar_levels(cedarpy.is_authorized_batch(cedar_requests(requester, records), hierarchy, entities))

    def explain() -> None:
        requester, records = model.batches[0]
        sample = records[:4]
        results = cedarpy.is_authorized_batch(
            cedar_requests(requester, sample), policies, cedar_entities(requester, sample)
        )
        for i, result in enumerate(results):
            reasons = list(result.diagnostics.id_annotations_by_reason.values())
            action = ("view_full", "view_hit_only")[i % 2]
            print(f"  cedar   {sample[i // 2]['id']:>4} {action:<14} {result.decision.value:<6} policies {reasons}")

    return Engine(
        [
            Case("cedar batch (build entities+requests)", build_and_decide),
            Case("cedar batch (+schema)", with_schema, per_call=0),
            Case("cedar batch (pre-built entities, engine only)", engine_only, per_call=0),
            Case("cedar is_authorized per request", per_request, repeat=1, per_call=0),
            Case("cedar batch, agreements as entity hierarchy", agreements_as_entities),
        ],
        explain,
    )


# ---- casbin

CASBIN_MODEL = """
[request_definition]
r = sub, obj, act

[policy_definition]
p = kind, parties, categories, purposes, level, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = (p.kind == "same_agency" && r.sub.agency == r.obj.owner_agency) || \
    (r.sub.agency != r.obj.owner_agency && ( \
      (p.kind == "excluded" && r.sub.country in r.obj.excluded_countries) || \
      (p.kind == "not_allowed" && r.obj.allowed_countries != None && \
         !(r.sub.country in r.obj.allowed_countries) && r.sub.country != r.obj.owner_country) || \
      (p.kind == "same_country" && r.sub.country == r.obj.owner_country) || \
      (p.kind == "agreement" && r.sub.country != r.obj.owner_country && \
         inSet(r.sub.country, p.parties) && inSet(r.obj.owner_country, p.parties) && \
         inSet(r.obj.category, p.categories) && inSet(r.sub.purpose, p.purposes) && \
         (r.act == "hit_only" || (p.level == "full" && !(r.sub.country in r.obj.hit_only_countries))))))
"""

_split_cache: dict[str, frozenset[str]] = {}


def in_set(value: str, spaced: str) -> bool:
    """casbin policy fields are strings: a set is its members separated by spaces."""
    members = _split_cache.get(spaced)
    if members is None:
        members = _split_cache[spaced] = frozenset(spaced.split(" "))
    return value in members


def casbin_engine(model: Model) -> Engine:
    import casbin
    from casbin.model import Model as CasbinModel

    casbin_model = CasbinModel()
    casbin_model.load_model_from_text(CASBIN_MODEL)
    enforcer = casbin.Enforcer(casbin_model)
    enforcer.add_function("inSet", in_set)
    enforcer.add_policy("same_agency", "*", "*", "*", "full", "allow")
    enforcer.add_policy("excluded", "*", "*", "*", "-", "deny")
    enforcer.add_policy("not_allowed", "*", "*", "*", "-", "deny")
    enforcer.add_policy("same_country", "*", "*", "*", "full", "allow")
    for a in model.agreements:
        parties, categories, purposes = (" ".join(a[k]) for k in ("parties", "categories", "purposes"))
        enforcer.add_policy("agreement", parties, categories, purposes, a["level"], "allow")

    def enforce(requester: Requester, records: list[Record]) -> list[str]:
        levels = []
        for r in records:
            if enforcer.enforce(requester, r, "full"):
                levels.append("full")
            elif enforcer.enforce(requester, r, "hit_only"):
                levels.append("hit_only")
            else:
                levels.append("deny")
        return levels

    def explain() -> None:
        requester, records = model.batches[0]
        for r in records[:4]:
            allowed, rule = enforcer.enforce_ex(requester, r, "full")
            print(f"  casbin  {r['id']:>4} full           {allowed!s:<6} rule {rule[:1] + rule[4:]}")

    return Engine([Case("casbin enforce (2 calls/record)", enforce, repeat=1, per_call=200)], explain)


# ---- regorus (Rego)

REGO = """
package screening
import rego.v1

agreement_level(req, rec) := lvl if {
  matching := {a.level |
    some a in data.agreements
    req.country in a.parties
    rec.owner_country in a.parties
    rec.category in a.categories
    req.purpose in a.purposes
  }
  lvl := max_level(matching)
}

max_level(s) := "full" if "full" in s
else := "hit_only" if "hit_only" in s
else := "deny"

cap(req, rec, "full") := "hit_only" if req.country in rec.hit_only_countries
else := "full"
cap(_, _, lvl) := lvl if lvl != "full"

decide(req, rec) := ["full", "same_agency"] if {
  req.agency == rec.owner_agency
} else := ["deny", "excluded_country"] if {
  req.country in rec.excluded_countries
} else := ["deny", "not_in_allowed_countries"] if {
  rec.allowed_countries != null
  not req.country in rec.allowed_countries
  req.country != rec.owner_country
} else := ["full", "same_country"] if {
  req.country == rec.owner_country
} else := [cap(req, rec, agreement_level(req, rec)), "agreement"]

decisions := [decide(input.requester, rec)[0] | some rec in input.records]

# "compiled" variant: per evaluation (one requester batch), the reachable (owner_country, category) pairs
reachable := {[oc, cat, a.level] |
  some a in data.agreements
  input.requester.country in a.parties
  input.requester.purpose in a.purposes
  some oc in a.parties
  some cat in a.categories
}
full_pairs := {[oc, cat] | some [oc, cat, lvl] in reachable; lvl == "full"}
any_pairs := {[oc, cat] | some [oc, cat, _] in reachable}

table_level(rec) := "full" if [rec.owner_country, rec.category] in full_pairs
else := "hit_only" if [rec.owner_country, rec.category] in any_pairs
else := "deny"

decide_fast(req, rec) := "full" if {
  req.agency == rec.owner_agency
} else := "deny" if {
  req.country in rec.excluded_countries
} else := "deny" if {
  rec.allowed_countries != null
  not req.country in rec.allowed_countries
  req.country != rec.owner_country
} else := "full" if {
  req.country == rec.owner_country
} else := cap(req, rec, table_level(rec))

decisions_fast := [decide_fast(input.requester, rec) | some rec in input.records]

matching_agreements(req, rec) := {a.id |
  some a in data.agreements
  req.country in a.parties
  rec.owner_country in a.parties
  rec.category in a.categories
  req.purpose in a.purposes
}

decisions_explained := [{"id": rec.id, "decision": d[0], "rule": d[1],
                         "agreements": matching_agreements(input.requester, rec)} |
  some rec in input.records
  d := decide(input.requester, rec)
]
"""

RVM_CHUNK = 10  # the RVM stops at 25,000 instructions, a limit not settable from Python


def regorus_engine(model: Model) -> Engine:
    import regorus

    engine = regorus.Engine()
    engine.add_policy("screening.rego", REGO)
    engine.add_data({"agreements": model.agreements})

    def evaluate(rule: str) -> BatchFn:
        def run(requester: Requester, records: list[Record]) -> list[str]:
            engine.set_input({"requester": requester, "records": records})
            return engine.eval_rule(rule)

        return run

    def evaluate_json(requester: Requester, records: list[Record]) -> list[str]:
        engine.set_input_json(json.dumps({"requester": requester, "records": records}))
        return json.loads(engine.eval_rule_as_json("data.screening.decisions"))

    cases = [
        Case("regorus batch (python objs)", evaluate("data.screening.decisions")),
        Case("regorus batch (json)", evaluate_json, per_call=0),
        Case("regorus batch, per-requester table in Rego", evaluate("data.screening.decisions_fast")),
    ]
    notes = []
    try:
        from regorus import regorus as native  # Program and Rvm are not re-exported by the package

        data = json.dumps({"agreements": model.agreements})
        for entry in ("data.screening.decisions", "data.screening.decisions_fast"):
            program = native.Program.compile_from_modules(data, [("screening.rego", REGO)], [entry])
            vm = native.Rvm()
            vm.load_program(program)
            vm.set_data_json(data)
            cases.append(
                Case(f"regorus RVM {entry.rsplit('.', 1)[-1]} ({RVM_CHUNK}-record chunks)", rvm_batch(vm, entry))
            )
    except (ImportError, AttributeError) as exc:
        notes.append(f"regorus RVM: not available in this build ({exc})")

    def explain() -> None:
        requester, records = model.batches[0]
        engine.set_input({"requester": requester, "records": records[:4]})
        for d in engine.eval_rule("data.screening.decisions_explained"):
            print(f"  regorus {d['id']:>4} {d['decision']:<14} rule {d['rule']}, agreements {sorted(d['agreements'])}")

    return Engine(cases, explain, notes)


def rvm_batch(vm: Any, entry: str) -> BatchFn:
    def run(requester: Requester, records: list[Record]) -> list[str]:
        levels: list[str] = []
        for i in range(0, len(records), RVM_CHUNK):
            vm.set_input_json(json.dumps({"requester": requester, "records": records[i : i + RVM_CHUNK]}))
            levels += json.loads(vm.execute_entry_point(entry))
        return levels

    return run


# (label, PyPI distribution or None for the standard library, setup)
ENGINES: list[tuple[str, str | None, Callable[[Model], Engine]]] = [
    ("python", None, python_engine),
    ("cedarpy", "cedarpy", cedar_engine),
    ("pycasbin", "pycasbin", casbin_engine),
    ("regorus", "celine-regorus", regorus_engine),
]


# --------------------------------------------------------------------------- harness


@dataclass
class Row:
    name: str
    seconds: float
    runs: int
    call_us: float | None
    mismatches: int
    sample: list[tuple[int, str, str]]


def decide_all(fn: BatchFn, model: Model, repeat: int) -> tuple[float, list[str]]:
    """Best wall time over `repeat` runs of every batch, and the decisions, flattened."""
    best = float("inf")
    levels: list[str] = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = [fn(requester, records) for requester, records in model.batches]
        best = min(best, time.perf_counter() - started)
        levels = [level for batch in out for level in batch]
    return best, levels


def one_record_call_us(fn: BatchFn, model: Model, n: int) -> float:
    """Microseconds per call with a one-record batch, best of 3."""
    requester, records = model.batches[0]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for record in records[:n]:
            fn(requester, [record])
        best = min(best, time.perf_counter() - started)
    return best / min(n, len(records)) * 1e6


def measure(case: Case, model: Model, repeat: int, reference: list[str] | None) -> tuple[Row, list[str]]:
    runs = case.repeat or repeat
    seconds, levels = decide_all(case.fn, model, runs)
    call_us = one_record_call_us(case.fn, model, case.per_call) if case.per_call else None
    expected = levels if reference is None else reference
    bad = [(i, got, want) for i, (got, want) in enumerate(zip(levels, expected, strict=False)) if got != want]
    mismatches = len(bad) + abs(len(levels) - len(expected))
    return Row(case.name, seconds, runs, call_us, mismatches, bad[:5]), levels


def installed(distribution: str | None) -> str:
    if distribution is None:
        return f"Python {sys.version.split()[0]}"
    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return distribution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requesters", type=int, default=10)
    parser.add_argument("--records", type=int, default=2000, help="records per requester")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per row, best kept (casbin and Cedar per-request: 1)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--explain", action="store_true", help="also print how each engine explains a few decisions")
    args = parser.parse_args()

    logging.disable(logging.CRITICAL)  # pycasbin logs every request; keep it out of the timings
    model = build_model(args.seed, args.requesters, args.records)

    rows: list[Row] = []
    reference: list[str] | None = None
    explains: list[Callable[[], None]] = []
    for label, distribution, setup in ENGINES:
        try:
            engine = setup(model)
        except ImportError:
            print(f"{label}: not installed (pip install {distribution})")
            continue
        print(f"{label}: {installed(distribution)}")
        for note in engine.notes:
            print(f"  {note}")
        for case in engine.cases:
            row, levels = measure(case, model, args.repeat, reference)
            if reference is None:
                reference = levels  # the first row, python naive, is the reference
            rows.append(row)
        if engine.explain is not None:
            explains.append(engine.explain)

    assert reference is not None  # the plain-Python engine needs no install
    compiled = next(row.seconds for row in rows if row.name == "python compiled")
    mix = ", ".join(f"{level} {reference.count(level):,}" for level in LEVELS)
    print()
    print(
        f"{model.decisions:,} decisions ({args.requesters} requesters x {args.records:,} records; "
        f"{len(model.countries)} countries, {len(model.agreements)} agreements), one core"
    )
    print(f"decisions: {mix}")
    print(
        f"{'engine':<48}{'runs':>5}{'seconds':>9}{'decisions/s':>13}{'1-rec call µs':>15}"
        f"{'x compiled':>12}{'mismatches':>12}"
    )
    for row in rows:
        call = f"{row.call_us:,.1f}" if row.call_us is not None else "-"
        print(
            f"{row.name:<48}{row.runs:>5}{row.seconds:>9.3f}{model.decisions / row.seconds:>13,.0f}{call:>15}"
            f"{row.seconds / compiled:>11,.1f}x{row.mismatches:>12,}"
        )
        if row.mismatches:
            print(f"    first mismatches (index, got, want): {row.sample}")

    if args.explain:
        print("\nexplanations (first records of the first requester):")
        for explain in explains:
            explain()

    disagreeing = [row.name for row in rows if row.mismatches]
    if disagreeing:
        print(f"\nDISAGREEMENT with the plain-Python reference: {', '.join(disagreeing)}")
        raise SystemExit(1)
    print("\nevery engine agrees with the plain-Python reference on every decision")


if __name__ == "__main__":
    main()
