"""The FastAPI application of one node. ``bootstrap`` builds the node; this serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from polex import __version__
from polex.agency.endpoints import router as agency_router
from polex.api.lean import LeanRoutes
from polex.api.middleware import BodySizeLimit, RequestContext
from polex.api.problems import install_problem_handlers
from polex.api.system import router as system_router
from polex.audit.background import PeriodicTask
from polex.audit.endpoints import router as audit_router
from polex.auth.endpoints import router as auth_router
from polex.bootstrap import Node
from polex.console.routes import router as console_router
from polex.correlation.endpoints import router as correlation_router
from polex.ingest.endpoints import formats_router
from polex.ingest.endpoints import router as import_router
from polex.ingest.exports import router as export_router
from polex.message.endpoints import attachments_router, events_router
from polex.message.endpoints import node_router as message_node_router
from polex.message.endpoints import router as message_router
from polex.message.lean import message_routes
from polex.network.endpoints import router as network_router
from polex.notice.endpoints import router as notice_router
from polex.notice.public_endpoints import router as public_notices_router
from polex.policy.endpoints import router as policy_router
from polex.record.endpoints import build_router
from polex.replica.endpoints import node_router as replica_node_router
from polex.replica.endpoints import router as replica_router
from polex.screening.border import border_checks, find_checks
from polex.screening.endpoints import node_router as find_node_router
from polex.screening.endpoints import router as screening_router


def create_app(node: Node, *, on_serving: Callable[[], None] | None = None) -> FastAPI:
    """The node's API. ``on_serving`` runs once start-up is done, before the first request
    (``polex serve`` freezes the heap there: polex.api.heap)."""
    settings = node.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tasks = [
            PeriodicTask("audit-checkpointer", node.audit.checkpoint, settings.audit_checkpoint_seconds),
            PeriodicTask("misuse-monitor", node.misuse.run_once, settings.misuse_seconds),
            PeriodicTask("retention", node.retention.run_once, settings.retention_seconds),
            relay := PeriodicTask("message-relay", node.messages.relay_once, settings.relay_seconds),
        ]
        node.messages.on_outbox = relay.wake
        tasks.append(screenings := PeriodicTask("screenings", node.screenings.run_pending, 5.0))
        # The records other processes of this node change, into this one's screening indexes.
        tasks.append(PeriodicTask("index-follower", node.index_follower.run_once, settings.index_follow_seconds))
        if node.replica is not None:
            tasks.append(PeriodicTask("replica-sync", node.replica.sync_once, settings.replica_seconds))
            # What the node's other processes store in the replica, into this one's indexes.
            follow = node.replica.follower.run_once
            tasks.append(PeriodicTask("replica-follower", follow, settings.index_follow_seconds))
        if node.replica_push is not None:
            tasks.append(push := PeriodicTask("replica-push", node.replica_push.push_once, 0.5))
            node.replica_push.on_published = push.wake
        if settings.is_hub:
            tasks.append(PeriodicTask("notice-clock", node.notices.sweep, settings.notice_seconds))
        node.screenings.on_submitted = screenings.wake
        if settings.is_hub:
            delivery = PeriodicTask("message-delivery", node.messages.deliver_once, settings.relay_seconds)
            node.messages.on_hub_queue = delivery.wake
            tasks.append(delivery)
        if node.messages.link is not None:  # each round waits up to a second for the stream
            tasks.append(PeriodicTask("message-intake", node.messages.intake_once, 0.001))
        if settings.witness_peers:
            tasks.append(PeriodicTask("audit-witness", node.witness.run_once, settings.witness_seconds))
        if node.access_reports is not None:  # entries are reported once a checkpoint signs them
            reports = PeriodicTask("access-reports", node.access_reports.run_once, settings.audit_checkpoint_seconds)
            tasks.append(reports)
        node.misuse.run_once()  # warm the misuse windows with the last day before serving
        node.network.ensure_hub_member(settings.base_url)  # the hub is its network's first member
        node.imports.recover_interrupted()
        for task in tasks:
            task.start()
        if on_serving is not None:
            on_serving()
        try:
            yield
        finally:
            for task in tasks:
                task.stop()
            node.imports.stop()

    app = FastAPI(
        lifespan=lifespan,
        title=f"polex node {settings.node_name} ({settings.node_country}, {settings.node_role.value})",
        version=__version__,
        description="Police information exchange. Every endpoint but /healthz and the public notice extracts "
        "(/public/notices/v1) needs a bearer token or an API key.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.node = node
    install_problem_handlers(app, node.metrics)
    # Routes are matched in the order they are included, and each included router the
    # request passes costs a match: the border checks carry most of the traffic, so they go
    # first. (No other router has a path they could take: theirs are all literal.)
    app.include_router(screening_router)
    app.include_router(system_router)
    app.include_router(auth_router)
    app.include_router(agency_router)
    app.include_router(audit_router)
    app.include_router(import_router)
    app.include_router(formats_router)
    app.include_router(export_router)
    app.include_router(policy_router)
    app.include_router(network_router)
    app.include_router(message_router)
    app.include_router(attachments_router)
    app.include_router(message_node_router)
    app.include_router(events_router)
    app.include_router(find_node_router)
    app.include_router(replica_router)
    app.include_router(replica_node_router)
    app.include_router(public_notices_router)
    app.include_router(notice_router)
    app.include_router(correlation_router)
    for feature in node.features:
        app.include_router(build_router(feature))
    app.include_router(console_router)  # the web console, /console (docs/console.md)
    # Outermost last: the request id and metrics see every answer, the 413s included. The
    # lean routes are innermost: inside the size limit, request ids and metrics, in front of
    # the routing (polex.api.lean: the border checks, FIND at the hub, a message sent, and the
    # routes a message crosses between nodes).
    app.add_middleware(LeanRoutes, node=node, routes=[*border_checks(node), *find_checks(node), *message_routes()])
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        # Envelopes (up to 16 MiB each) and batches of them travel between nodes.
        larger={
            "/api/v1/imports": settings.max_import_bytes,
            "/api/v1/screenings": settings.max_import_bytes,
            "/api/v1/network/": 64 * 1024 * 1024,
            # Attachments are uploaded a chunk a request (the declarations are far smaller).
            "/api/v1/attachments": max(settings.attachment_chunk_bytes, settings.max_body_bytes),
            # Photos and scanned warrants uploaded to notices and diffusions.
            "/api/v1/notices/": 11 * 1_048_576,
            "/api/v1/diffusions/": 11 * 1_048_576,
        },
    )
    app.add_middleware(RequestContext, registry=node.metrics)
    return app
