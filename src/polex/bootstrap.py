"""The composition root: builds a node's stores and services for the API, the CLI and tests.

Nothing connects at import time; ``build_node`` does, once, for the settings it is given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text

from polex.agency.service import AgencyService
from polex.audit.access_reports import ACCESS_REPORT_TYPE, AccessReports
from polex.audit.checkpoint import CheckpointSigner
from polex.audit.metrics import AuditLogCollector
from polex.audit.misuse import MisuseMonitor
from polex.audit.sealing import TermSealer
from polex.audit.service import AuditTrail
from polex.audit.witness import Witness
from polex.auth.keys import load_or_create_signing_key
from polex.auth.service import AuthService
from polex.auth.tokens import TokenIssuer
from polex.bus.memory import InProcessBus
from polex.bus.nats import NatsJetStreamBus, stream_for
from polex.bus.ports import Bus
from polex.case.feature import CASE_FEATURE
from polex.correlation.service import CorrelationService
from polex.crypto import pki
from polex.document.feature import DOCUMENT_FEATURE
from polex.events import EventHub
from polex.ingest.service import ImportService
from polex.intel.feature import INTEL_FEATURE
from polex.message.attachments import attachment_service
from polex.message.forwarding import RecordForwarding
from polex.message.jetstream import JetStreamLink
from polex.message.outbound import ServiceNetwork
from polex.message.service import MessageService
from polex.network.http import NodeClients
from polex.network.keys import NodeKeyFiles
from polex.network.service import NetworkService
from polex.network.view import NetworkView
from polex.notice import relay as notice_relay
from polex.notice.feature import NOTICE_FEATURE
from polex.notice.service import NoticeService
from polex.notice.types import NoticeTypes
from polex.person.feature import PERSON_FEATURE
from polex.policy import suspension_relay
from polex.policy.retention import RetentionService
from polex.policy.service import PolicyService
from polex.record.service import RecordService
from polex.record.spec import RecordFeature
from polex.replica.push import ReplicaPush
from polex.replica.service import ReplicaCollector, ReplicaFeed, ReplicaSync
from polex.screening import hit_exchange
from polex.screening.follower import IndexFollower
from polex.screening.jobs import ScreeningJobs
from polex.screening.online import OnlineFind
from polex.screening.service import ScreeningService
from polex.settings import PeerLog, Settings
from polex.storage.engine import WalCheckpointer, make_engine, sqlite_file
from polex.storage.migrate import current_revision, head_revision, upgrade
from polex.storage.unit_of_work import UnitOfWorkFactory, unit_of_work_factory
from polex.vehicle.feature import VEHICLE_FEATURE

if TYPE_CHECKING:
    pass

FEATURES: tuple[RecordFeature, ...] = (
    PERSON_FEATURE,
    DOCUMENT_FEATURE,
    VEHICLE_FEATURE,
    CASE_FEATURE,
    INTEL_FEATURE,
)


@dataclass
class Node:
    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    audit: AuditTrail
    witness: Witness
    misuse: MisuseMonitor
    imports: ImportService
    auth: AuthService
    agencies: AgencyService
    policy: PolicyService
    retention: RetentionService
    network: NetworkService
    network_view: NetworkView
    messages: MessageService
    events: EventHub
    records: dict[str, RecordService]
    screening: ScreeningService
    screenings: ScreeningJobs
    replica_feed: ReplicaFeed | None  # the hub serves it
    replica: ReplicaSync | None  # a national node keeps it
    features: tuple[RecordFeature, ...]
    notices: NoticeService
    bus: Bus
    replica_push: ReplicaPush | None  # the hub pushes changes to the replicas as they happen
    correlations: CorrelationService  # cross-border correlation alerts on person records
    # Brings into this process's screening indexes the records other processes of the node change.
    index_follower: IndexFollower
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    # Accesses to other countries' records reported to their nodes, and the reports this one keeps.
    access_reports: AccessReports | None = None
    # SQLite only: moves the write-ahead log into the database off the writers' path.
    wal_checkpointer: WalCheckpointer | None = None

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def readiness(self) -> dict[str, bool]:
        """What must hold before this node takes traffic: the database answers, its schema
        is the code's, and the audit log is being signed (a stale checkpoint means accesses
        go unsealed)."""
        checks = {"database": self.database_ok()}
        if checks["database"]:
            checks["schema"] = current_revision(self.engine) == head_revision()
            latest = self.audit.latest_checkpoint()
            unsigned_for = dt.datetime.now(dt.UTC) - latest.at if latest else None
            limit = dt.timedelta(seconds=max(60.0, 3 * self.settings.audit_checkpoint_seconds))
            checks["audit_checkpoints"] = unsigned_for is None or unsigned_for < limit or not self.audit.has_unsigned()
        return checks

    def close(self) -> None:
        self.witness.close()
        self.correlations.close()
        self.screening.close()
        self.messages.close()
        if self.replica_push is not None:
            self.replica_push.close()
        self.bus.close()
        if self.wal_checkpointer is not None:
            self.wal_checkpointer.close()
        self.engine.dispose()


def network_keys(settings: Settings) -> NodeKeyFiles:
    """The node's network identity on disk, made on first use (the hub also makes the CA)."""
    keys = NodeKeyFiles(settings.keys_dir)
    node = pki.NodeName(
        name=settings.node_name, country=settings.node_country, role="hub" if settings.is_hub else "national"
    )
    keys.ensure_node_keys(node)
    if settings.is_hub:
        keys.ensure_network_ca()
    return keys


def _witness_client(clients: NodeClients, peer: PeerLog) -> httpx.Client:
    """A client to a witnessed node's audit API (its API key; the network CA over HTTPS)."""
    return clients.client(base_url=peer.url, headers={"X-API-Key": peer.api_key.get_secret_value()}, timeout=10.0)


def make_bus(settings: Settings) -> Bus:
    """The node's internal bus: JetStream when configured, else in-process."""
    if settings.bus_url:
        return NatsJetStreamBus(
            settings.bus_url, stream=stream_for(settings.node_name), subjects=[f"polex.{settings.node_name}.>"]
        )
    return InProcessBus()


def build_node(settings: Settings, *, migrate: bool = True, engine: Engine | None = None) -> Node:
    """Wire a node. ``migrate`` brings the database schema to the latest revision first."""
    node = _wire(settings, migrate=migrate, engine=engine)
    node.metrics.register(AuditLogCollector(node.uow))
    if node.replica is not None:
        node.metrics.register(ReplicaCollector(node.replica))
    return node


def _wire(settings: Settings, *, migrate: bool, engine: Engine | None) -> Node:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine or make_engine(settings.sqlalchemy_url)
    if migrate:
        upgrade(engine)
    uow = unit_of_work_factory(engine)
    audit = AuditTrail(
        uow,
        signer=CheckpointSigner.load_or_create(f"polex/{settings.node_name}", settings.keys_dir),
        sealer=TermSealer.load_or_create(settings.keys_dir),
        origin=f"polex/{settings.node_name}/audit",
        checkpoint_interval=dt.timedelta(seconds=settings.audit_checkpoint_seconds),
    )
    issuer = TokenIssuer(
        load_or_create_signing_key(settings.keys_dir),
        issuer=f"polex:{settings.node_name}",
        lifetime=dt.timedelta(minutes=settings.access_token_minutes),
    )
    policy = PolicyService(uow, audit, node_country=settings.node_country, is_hub=settings.is_hub)
    keys = network_keys(settings)
    events = EventHub()
    # Every client to another node (hub, national nodes, witnessed peers) is made by
    # ``clients``: over HTTPS it presents this node's certificate and trusts the network CA.
    clients = NodeClients(keys)
    view = NetworkView(
        uow,
        keys,
        node_name=settings.node_name,
        is_hub=settings.is_hub,
        hub_url=None,
        hub_urls=settings.hub_access_points,
        clients=clients,
        require_client_certificate=settings.tls,
    )
    network = NetworkService(uow, audit, keys, is_hub=settings.is_hub, node_name=settings.node_name)
    network.on_members_changed = view.refresh
    messages = MessageService(uow, audit, view, attachments=attachment_service(uow, audit, view, settings))
    messages.events = events
    records = {feature.record_type.kind.value: RecordService(uow, audit, policy, feature) for feature in FEATURES}
    # Notices in force are records too (no generic endpoints: their lifecycle is the notice
    # service's), so the policy, screening and replicas treat them as any other record.
    records["notice"] = RecordService(uow, audit, policy, NOTICE_FEATURE)
    retention = RetentionService(uow, audit, policy)
    screening = ScreeningService(uow, audit, policy, records, events)
    # The index follows every change to the records it answers for, after each commit.
    for kind in ("travel_document", "vehicle"):
        records[kind].key_listeners.append(screening.index)
    retention.key_listeners.append(screening.index)
    records["person"].change_listeners.append(screening.watchlist)
    records["notice"].change_listeners.append(screening.watchlist)
    retention.purge_listeners.append(screening.watchlist)
    # After the watch list (which it searches, current with the change by then): the
    # correlation worker matches each changed person against other countries' persons.
    correlations = CorrelationService(uow, audit, policy, records, events, screening.watchlist)
    for kind in ("person", "notice"):
        records[kind].change_listeners.append(correlations)
    retention.purge_listeners.append(correlations)
    # Placed before the index loads (and the watch list, later): a change another process
    # commits meanwhile is then replayed, harmlessly if the load saw it, rather than lost.
    index_follower = IndexFollower(uow, screening.index, screening.watchlist)
    index_follower.start_at_log_end()
    screening.load_index()
    # Not the person watch list: seconds of CPU (the matcher's name data), so a serving node
    # loads it in the background behind /readyz (polex.api.system) and other callers on
    # first use; changes told meanwhile are kept for it.
    replica = None if settings.is_hub else ReplicaSync(uow, audit, view)
    if replica is not None:
        replica.load_index()
        replica.events = events
        screening.replica = replica
        if settings.find_online:
            screening.online = OnlineFind(
                view, timeout=settings.find_timeout_seconds, batch_timeout=settings.find_batch_timeout_seconds
            )
    service_network = ServiceNetwork(messages, view)
    notices = NoticeService(
        uow,
        audit,
        policy,
        records["notice"],
        NoticeTypes(settings.notice_types),
        events,
        is_hub=settings.is_hub,
        watchlist=screening.watchlist,
        network=service_network,
    )
    # National sources' steps reach the hub, and the hub's lifecycle reports reach them, as
    # envelopes of their own content types.
    screening.network, screening.is_hub = service_network, settings.is_hub
    if settings.is_hub:
        messages.handlers[notice_relay.STEP_TYPE] = notices.apply_relayed_step
        messages.handlers[notice_relay.FILE_TYPE] = notices.apply_relayed_file
        messages.handlers[hit_exchange.HIT_ANSWER_TYPE] = screening.apply_hit_answer
        messages.handlers[hit_exchange.HIT_REQUEST_TYPE] = screening.apply_hit_request
        messages.handlers[hit_exchange.HIT_FOUND_TYPE] = screening.apply_hit_found
    else:
        messages.handlers[notice_relay.REPORT_TYPE] = notices.apply_report
        messages.handlers[hit_exchange.HIT_TYPE] = screening.apply_hit_report
    # The hub's suspensions of a national node's agencies and users reach that node.
    policy.network = service_network
    if not settings.is_hub:
        messages.handlers[suspension_relay.SUSPENSION_TYPE] = policy.apply_hub_suspension
    # Records forwarded in messages, each decided for every recipient country.
    messages.forwarding = RecordForwarding(uow, audit, policy, records)
    # Every node reports accesses to other countries' records to their nodes, and keeps the
    # reports on its own country's records for their owners.
    access_reports = AccessReports(uow, audit, view, service_network, node_country=settings.node_country)
    messages.handlers[ACCESS_REPORT_TYPE] = access_reports.apply
    for service in records.values():
        service.reported = access_reports
    bus = make_bus(settings)
    if isinstance(bus, NatsJetStreamBus):
        # The production transport of envelopes: the nodes' streams (HTTP to nodes without one).
        messages.link = JetStreamLink(bus, view)
    replica_feed = ReplicaFeed(uow, audit, policy, records, view) if settings.is_hub else None
    replica_push = None
    if replica_feed is not None:
        replica_push = ReplicaPush(replica_feed, view, bus, node_name=settings.node_name)
        notices.dissemination_listeners.append(replica_push.changed)
    auth = AuthService(
        uow,
        issuer,
        audit,
        node_name=settings.node_name,
        is_hub=settings.is_hub,
        lockout_after=settings.login_attempts_before_lockout,
        suspension=policy.suspension_for,
    )
    return Node(
        settings=settings,
        engine=engine,
        uow=uow,
        audit=audit,
        witness=Witness(uow, settings.witness_peers, client=lambda peer: _witness_client(clients, peer)),
        misuse=MisuseMonitor(uow, settings.misuse_rules, origin=audit.origin),
        auth=auth,
        agencies=AgencyService(uow, audit, node_country=settings.node_country, is_hub=settings.is_hub),
        policy=policy,
        retention=retention,
        network=network,
        network_view=view,
        messages=messages,
        events=events,
        records=records,
        screening=screening,
        replica_feed=replica_feed,
        replica=replica,
        screenings=ScreeningJobs(uow, audit, screening, auth.principal_of, settings.data_dir / "screenings"),
        imports=ImportService(uow, records, audit, workers=settings.import_workers),
        features=FEATURES,
        notices=notices,
        bus=bus,
        replica_push=replica_push,
        access_reports=access_reports,
        correlations=correlations,
        index_follower=index_follower,
        wal_checkpointer=_wal_checkpointer(engine),
    )


def _wal_checkpointer(engine: Engine) -> WalCheckpointer | None:
    database = sqlite_file(engine)
    if database is None:
        return None
    checkpointer = WalCheckpointer(database)
    checkpointer.start()
    return checkpointer
