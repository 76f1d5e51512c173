"""Notice propagation: from publication at the hub to availability in every national
replica and its indexes, and from cancellation to disappearance everywhere.

A hub and national nodes run in this process, each a real uvicorn server on its own port
with its own SQLite database, enrolled in the hub's network as operators would do it. A
source bureau's red notices are submitted and then, one at a time, approved by the hub's
reviewer; the clock starts before the approval call and stops when a national node has
committed the notice to its replica and updated its fingerprint and person indexes (the
replica's own ``applied_listeners`` hook). Then each notice is cancelled the same way.

Three rows: the push over the in-process bus (the embedded default), the push over NATS
JetStream (the production bus; needs the server at --nats), and, as the peer, the settled
pull alone (what a national node gets without the push: its next pull, every
``replica_seconds``, of changes at least two seconds old).

    .venv/bin/python benchmarks/notice_propagation.py --notices 1000 --nationals 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from polex.agency.schemas import AgencyCreate
from polex.api.app import create_app
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.notice import Action, NoticeRequest
from polex.domain.policy import ALL_MEMBERS, AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_CSR, NodeKeyFiles
from polex.network.schemas import EnrolmentCreate
from polex.provision import NodeIdentity, initialise_node, own_agency
from polex.settings import NodeRole

COUNTRIES = ("FRA", "DEU", "ESP", "ITA", "POL", "NLD")


@dataclass
class Served:
    node: Node
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    arrivals: dict[str, float] = field(default_factory=dict)  # record id -> when applied
    seen: threading.Condition = field(default_factory=threading.Condition)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(directory: Path, name: str, country: str, *, hub: bool) -> Served:
    port = _free_port()
    node = initialise_node(
        directory, NodeIdentity(name=name, country=country, role=NodeRole.HUB if hub else NodeRole.NATIONAL, port=port)
    )
    config = uvicorn.Config(create_app(node), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return Served(node, f"http://127.0.0.1:{port}", server, thread)


def _enrol(hub: Served, national: Served, operator: Principal) -> None:
    settings = national.node.settings
    keys = NodeKeyFiles(settings.keys_dir)
    invitation = hub.node.network.invite(settings.node_name, settings.node_country, operator)
    hub.node.network.enrol(
        EnrolmentCreate(
            name=settings.node_name,
            csr=keys.read(NODE_CSR).decode(),
            encryption_key=keys.encryption_jwk(),
            url=national.url,
        ),
        invitation.code,
    )
    hub.node.network.approve(settings.node_name, operator)
    issued = hub.node.network.enrolment(settings.node_name, invitation.code)
    assert issued.certificate is not None
    assert issued.ca_certificate is not None
    keys.write_public(CA_CERTIFICATE, issued.ca_certificate.encode())
    keys.write_public(NODE_CERTIFICATE, issued.certificate.encode())
    national.node.network_view.hub_url = hub.url


@contextmanager
def _network(nationals: int, *, bus_url: str | None, replica_seconds: float, push: bool) -> Iterator[list[Served]]:
    saved = {key: os.environ.get(key) for key in ("POLEX_BUS_URL", "POLEX_REPLICA_SECONDS", "POLEX_LOG_LEVEL")}
    os.environ["POLEX_REPLICA_SECONDS"] = str(replica_seconds)
    os.environ["POLEX_LOG_LEVEL"] = "warning"
    if bus_url:
        os.environ["POLEX_BUS_URL"] = bus_url
    else:
        os.environ.pop("POLEX_BUS_URL", None)
    served: list[Served] = []
    try:
        with tempfile.TemporaryDirectory(prefix="polex-propagation-") as folder:
            run = secrets.token_hex(3)
            hub = _serve(Path(folder) / "hub", "hub", "XPO", hub=True)  # nodes know the hub by this name
            served.append(hub)
            if not push and hub.node.replica_push is not None:
                hub.node.notices.dissemination_listeners.clear()
            operator = Principal(
                PrincipalKind.LOCAL, "bench", "bench", own_agency_id(hub.node), "XPO", frozenset({Role.ADMIN})
            )
            hub.node.network.ensure_hub_member(hub.url)
            for position in range(nationals):
                country = COUNTRIES[position]
                national = _serve(Path(folder) / country.lower(), f"{country.lower()}{run}", country, hub=False)
                _enrol(hub, national, operator)
                served.append(national)

                def arrived(ids: object, target: Served = national) -> None:
                    now = time.perf_counter()
                    with target.seen:
                        for record_id in ids:  # type: ignore[attr-defined]
                            target.arrivals[str(record_id)] = now
                        target.seen.notify_all()

                assert national.node.replica is not None
                national.node.replica.applied_listeners.append(arrived)
            hub.node.network_view.refresh()  # the new members count from now, not after the cache's minute
            yield served
    finally:
        for item in reversed(served):
            item.server.should_exit = True
            item.thread.join(timeout=10)
            item.node.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def own_agency_id(node: Node) -> str:
    return node.agencies.ensure(own_agency(node.settings)).id


def _agree(hub: Node) -> None:
    """Notices to all members, in full, for border control and prosecution; every member
    accedes (a convention binds each party that approved it)."""
    agreement = Agreement(
        id=f"notices-{new_id()[-8:]}",
        title="Notices to all members",
        kind=AgreementKind.MULTILATERAL_CONVENTION,
        parties=[ALL_MEMBERS],
        categories=[DataCategory.NOTICES],
        purposes=[Purpose.BORDER_CONTROL, Purpose.PROSECUTION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="Rules on the Processing of Data, art. 10",
    )

    def admin(country: str) -> Principal:
        return Principal(PrincipalKind.LOCAL, new_id(), f"admin {country}", new_id(), country, frozenset({Role.ADMIN}))

    read = hub.policy.propose(agreement, admin("XPO"))
    for country in ("XPO", "UKR", *COUNTRIES):
        hub.policy.approve(agreement.id, read.version, admin(country))


def _red_notice(position: int) -> NoticeRequest:
    return NoticeRequest.model_validate(
        {
            "notice_type": "red",
            "subject": {
                "names": [
                    {
                        "full": f"Bench Subject{position:05d} KOVALENKO",
                        "given": f"Subject{position:05d}",
                        "family": "KOVALENKO",
                    }
                ],
                "sex": "male",
                "birth_dates": [f"{1950 + position % 50}-0{1 + position % 9}-1{position % 10}"],
                "nationalities": ["UKR"],
            },
            "offences": [
                {"description": {"language": "en", "text": "Armed robbery"}, "iccs": "0401", "max_penalty_months": 144}
            ],
            "legal_basis": [
                {
                    "kind": "arrest_warrant",
                    "reference": f"W-{position}",
                    "issuing_authority": "Kyiv court",
                    "issued_on": "2024-01-10",
                    "issuing_country": "UKR",
                }
            ],
        }
    )


def _wait(nationals: list[Served], record_id: str, after: float, deadline: float) -> list[float]:
    """Seconds from ``after`` until each national node applied ``record_id``."""
    delays: list[float] = []
    for national in nationals:
        with national.seen:
            while national.arrivals.get(record_id, 0.0) < after:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"{record_id} did not reach {national.node.settings.node_name}")
                national.seen.wait(remaining)
            delays.append(national.arrivals[record_id] - after)
    return delays


def measure(
    label: str, notices: int, nationals: int, *, bus_url: str | None, push: bool, replica_seconds: float
) -> dict[str, object]:
    with _network(nationals, bus_url=bus_url, replica_seconds=replica_seconds, push=push) as served:
        hub, members = served[0], served[1:]
        _agree(hub.node)
        source_agency = hub.node.agencies.ensure(
            AgencyCreate(name="NCB Kyiv", country="UKR", kind=AgencyKind.POLICE)
        ).id
        source = Principal(PrincipalKind.USER, new_id(), "ncb", source_agency, "UKR", frozenset({Role.NCB_OPERATOR}))
        reviewer = Principal(
            PrincipalKind.USER, new_id(), "reviewer", own_agency_id(hub.node), "XPO", frozenset({Role.REVIEWER})
        )
        ids = []
        for position in range(notices):
            notice_id = hub.node.notices.create(_red_notice(position), source).id
            hub.node.notices.act(notice_id, Action.SUBMIT, source)
            ids.append(notice_id)
        timeout = 5.0 if push else replica_seconds + 10
        published: list[float] = []
        cancelled: list[float] = []
        for notice_id in ids:
            started = time.perf_counter()
            hub.node.notices.act(notice_id, Action.APPROVE, reviewer)
            published += _wait(members, notice_id, started, started + timeout)
        for notice_id in ids:
            started = time.perf_counter()
            hub.node.notices.act(notice_id, Action.CANCEL, source, reason="arrested")
            cancelled += _wait(members, notice_id, started, started + timeout)
        # The end state is checked too: nothing cancelled is left in any replica.
        for member in members:
            assert member.node.replica is not None
            assert not member.node.replica.rows(ids), "a cancelled notice stayed in a replica"
    return {"label": label, "published": published, "cancelled": cancelled, "notices": notices}


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000, max(values) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=1000)
    parser.add_argument("--nationals", type=int, default=2)
    parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS JetStream URL ('' to skip)")
    parser.add_argument("--pull-notices", type=int, default=20, help="Notices for the pull-only peer row")
    args = parser.parse_args()

    rows = [measure("push, in-process bus", args.notices, args.nationals, bus_url=None, push=True, replica_seconds=600)]
    if args.nats:
        rows.append(
            measure(
                "push, NATS JetStream", args.notices, args.nationals, bus_url=args.nats, push=True, replica_seconds=600
            )
        )
    rows.append(
        measure(
            "settled pull only (replica_seconds=1)",
            args.pull_notices,
            args.nationals,
            bus_url=None,
            push=False,
            replica_seconds=1.0,
        )
    )

    print(f"\n### Notice propagation: hub to {args.nationals} national replicas\n")
    print("| path | notices | publication p50 / p99 / max (ms) | cancellation p50 / p99 / max (ms) |")
    print("|---|---:|---:|---:|")
    for row in rows:
        pub = _quantiles(row["published"])  # type: ignore[arg-type]
        can = _quantiles(row["cancelled"])  # type: ignore[arg-type]
        print(
            f"| {row['label']} | {row['notices']} | {pub[0]:.1f} / {pub[1]:.1f} / {pub[2]:.1f} | "
            f"{can[0]:.1f} / {can[1]:.1f} / {can[2]:.1f} |"
        )
    pull_p99 = _quantiles(rows[-1]["published"])[1]  # type: ignore[arg-type]
    for row in rows[:-1]:
        p99 = _quantiles(row["published"])[1]  # type: ignore[arg-type]
        print(f"\n{row['label']}: publication p99 {pull_p99 / p99:.0f}x shorter than the settled pull's")


if __name__ == "__main__":
    main()
