"""The ``polex`` command: set up, serve and demonstrate nodes; administer them locally."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from pydantic import BaseModel

from polex.domain.roles import Role
from polex.settings import DEFAULT_DATA_DIR, NodeRole, load_settings

if TYPE_CHECKING:
    import httpx
    from cryptography import x509

    from polex.agency.schemas import AgencyRead
    from polex.auth.principal import Principal
    from polex.bootstrap import Node
    from polex.domain.policy import Purpose
    from polex.ingest.service import ImportSummary
    from polex.network.keys import NodeKeyFiles

# How often a busy thread of a serving node hands the interpreter to the event loop (see serve).
SERVING_SWITCH_SECONDS = 0.0005

app = typer.Typer(
    name="polex",
    help="Police information exchange: hub and national nodes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="The common schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users of a node.", no_args_is_help=True)
agency_app = typer.Typer(help="Agencies of a node.", no_args_is_help=True)
api_key_app = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)
audit_app = typer.Typer(help="The node's tamper-evident audit trail.", no_args_is_help=True)
agreement_app = typer.Typer(help="Agreements: propose, approve, list, show, retire.", no_args_is_help=True)
policy_app = typer.Typer(help="The policy engine: explain decisions, national rules.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention deadlines, reviews and purges.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(user_app, name="user")
app.add_typer(agency_app, name="agency")
app.add_typer(api_key_app, name="api-key")
app.add_typer(audit_app, name="audit")
app.add_typer(agreement_app, name="agreement")
app.add_typer(policy_app, name="policy")
app.add_typer(retention_app, name="retention")

DataDir = Annotated[
    Path,
    typer.Option("--data-dir", envvar="POLEX_DATA_DIR", help="The node's folder: config, keys, database"),
]


def _secret(value: str | None, env: str, prompt: str) -> str:
    """A secret from the option, the environment, or a prompt; never echoed or logged."""
    if value:
        return value
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise typer.BadParameter(f"give {prompt} with the option or the {env} environment variable")
    first = getpass.getpass(f"{prompt}: ")
    if first != getpass.getpass(f"{prompt} (again): "):
        raise typer.BadParameter("the two entries differ")
    return first


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


@app.command()
def init(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    name: Annotated[str, typer.Option(help="Node name, e.g. 'fra' or 'hub'")] = "hub",
    country: Annotated[str, typer.Option(help="ISO 3166-1 alpha-3; the hub is XPO")] = "XPO",
    hub: Annotated[bool, typer.Option("--hub", help="This node is the hub")] = False,
    port: Annotated[int, typer.Option(help="Port 'polex serve' listens on")] = 8400,
    admin_user: Annotated[str | None, typer.Option(help="Create this administrator")] = None,
    admin_password: Annotated[str | None, typer.Option(help="Or POLEX_ADMIN_PASSWORD")] = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="Serve HTTPS, with mutual TLS on the network's node-to-node routes")
    ] = False,
) -> None:
    """Create a node: config, signing keys, database (migrated), own agency, first admin."""
    from polex.errors import PolexError
    from polex.provision import NodeIdentity, initialise_node

    password = _secret(admin_password, "POLEX_ADMIN_PASSWORD", "administrator password") if admin_user else None
    role = NodeRole.HUB if hub else NodeRole.NATIONAL
    try:
        identity = NodeIdentity(name=name, country=country.upper(), role=role, port=port)
        node = initialise_node(data_dir, identity, admin_username=admin_user, admin_password=password, tls=tls)
    except (PolexError, ValueError) as error:
        _fail(str(error))
        return
    node.close()
    typer.echo(f"node '{name}' ({country.upper()}, {role.value}) ready in {data_dir}")


@app.command()
def serve(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Annotated[str | None, typer.Option(help="Overrides node.toml")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides node.toml")] = None,
) -> None:
    """Serve a node's API until SIGINT or SIGTERM: HTTP, or HTTPS with mutual TLS for the
    network's node-to-node routes when the node's config sets tls."""
    import uvicorn

    from polex.api.app import create_app
    from polex.api.heap import CollectorWatch, tune_for_serving
    from polex.api.server import TlsNotReady, server_ssl_context, uvicorn_config
    from polex.bootstrap import build_node
    from polex.logs import configure_logging
    from polex.matching.names import load_name_data

    if not (data_dir / "node.toml").exists():
        _fail(f"{data_dir} holds no node; run 'polex init --data-dir {data_dir}' first")
    settings = load_settings(data_dir=data_dir, host=host, port=port)
    configure_logging(settings.log_level, json_lines=settings.log_json)
    if settings.tls:
        try:
            server_ssl_context(settings)  # refuse to start, saying why, rather than fail in uvicorn
        except (TlsNotReady, OSError, ValueError) as error:
            _fail(str(error))
    node = build_node(settings)
    # The event loop shares the interpreter with the node's threads (audit commits, the
    # misuse monitor, message relays). Each time it comes back from waiting for sockets it
    # must win the interpreter lock back, and a busy thread gives it up only every switch
    # interval: at Python's default 5 ms, a second of background work added hundreds of
    # milliseconds to the border checks' p99 (benchmarks/check_http.py); at 0.5 ms, tens.
    sys.setswitchinterval(SERVING_SWITCH_SECONDS)
    # Before serving: building rigour's name tagger holds the interpreter for seconds, which
    # would freeze every request in flight when the person watch list starts loading.
    load_name_data()
    CollectorWatch(node.metrics)  # its pauses on /metrics
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal into the
    # handlers it found: these make that a normal exit (status 0), as a requested stop is.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    try:
        config = uvicorn_config(
            # Once started, what start-up built is left out of the garbage collector's full
            # collections, which otherwise stall every request for a fifth of a second.
            create_app(node, on_serving=partial(tune_for_serving, node)),
            settings,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            server_header=False,
            access_log=False,  # uvicorn would log query strings (names, document numbers)
            log_config=None,  # keep the JSON logging configured above
        )
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            raise typer.Exit(3)  # uvicorn logged why (the port is taken, the app failed to start)
    finally:
        node.close()


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo nodes keep their data")] = Path("var/demo"),
    reset: Annotated[bool, typer.Option("--reset", help="Start from fresh data")] = False,
    base_port: Annotated[int, typer.Option(help="The hub's port; national nodes take the next ones")] = 8400,
    size: Annotated[float, typer.Option(help="Scale of the synthetic data (1.0: thousands per node)")] = 1.0,
    tls: Annotated[
        bool,
        typer.Option("--tls", help="Serve HTTPS, every link between nodes in mutual TLS (clients trust the demo's CA)"),
    ] = False,
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats",
            help="NATS JetStream URL (nats://host:4222): each node's bus, and envelopes between the nodes go through "
            "their streams (the production transport). Unset: embedded, HTTP between the nodes.",
        ),
    ] = None,
) -> None:
    """Start a hub and national nodes on 127.0.0.1 with synthetic data; Ctrl-C stops them."""
    from polex.demo.runner import run_demo

    raise typer.Exit(run_demo(directory, reset=reset, base_port=base_port, size=size, tls=tls, nats_url=nats))


@schema_app.command("export")
def schema_export(
    out: Annotated[Path, typer.Option(help="Folder for the JSON Schema files")] = Path("docs/schema"),
) -> None:
    """Write the common schema v1 as JSON Schema, one file per record type."""
    from polex.domain.schema import export_json_schema

    for path in export_json_schema(out):
        typer.echo(str(path))


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[list[Role], typer.Option("--role", help="Repeat for several roles")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    agency_id: Annotated[str | None, typer.Option(help="Defaults to the node's own agency")] = None,
    password: Annotated[str | None, typer.Option(help="Or POLEX_USER_PASSWORD, or a prompt")] = None,
) -> None:
    """Add a user to a node."""
    from polex.auth.schemas import UserCreate

    secret = _secret(password, "POLEX_USER_PASSWORD", f"password for {username}")
    with _local_node(data_dir) as node:
        agency = agency_id or _own_agency_id(node)
        user = node.auth.create_user(UserCreate(username=username, password=secret, agency_id=agency, roles=role))
    typer.echo(json.dumps({"id": user.id, "username": user.username, "roles": user.roles}))


@agency_app.command("add")
def agency_add(
    name: str,
    kind: Annotated[str, typer.Option(help="police, border, customs, prosecutor, judicial, other")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Register an agency of the node's country."""
    from polex.agency.schemas import AgencyCreate

    with _local_node(data_dir) as node:
        agency = node.agencies.create(
            AgencyCreate.model_validate({"name": name, "kind": kind, "country": node.settings.node_country})
        )
    typer.echo(json.dumps({"id": agency.id, "name": agency.name, "country": agency.country}))


@api_key_app.command("add")
def api_key_add(
    name: str,
    role: Annotated[list[Role], typer.Option("--role", help="Repeat for several roles")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Create an API key (printed once) for the node's own agency."""
    from polex.auth.schemas import ApiKeyCreate

    with _local_node(data_dir) as node:
        created = node.auth.create_api_key(ApiKeyCreate(name=name, roles=role, agency_id=_own_agency_id(node)))
    typer.echo(json.dumps({"id": created.id, "key": created.key}))


@app.command("import")
def import_records(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    format_name: Annotated[str, typer.Option("--format", help="A format from 'polex formats'")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    mapping: Annotated[Path | None, typer.Option(help="The YAML mapping (csv-mapping)")] = None,
    option: Annotated[list[str] | None, typer.Option(help="Adapter option KEY=VALUE, e.g. status=lost")] = None,
    agency_id: Annotated[
        str | None, typer.Option(help="Owner of the records or notice drafts; the node's own agency by default")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check everything and report what would happen; write nothing")
    ] = False,
) -> None:
    """Import a file: records for the owning agency, rejections kept in quarantine.

    A format that reads notices (interpol-notices) makes each a notice draft of the agency
    instead; 'drafts' in the summary counts them. On a terminal, the counts so far are shown
    on stderr as the import goes.

    With --dry-run every item is read, mapped, validated and checked (owner, duplicates in
    the store and in the file) and nothing is written: the summary says what would be
    imported and quarantined, and lists the first 1,000 items that would be quarantined with
    their line and reason.

    Prints a JSON summary; exits 0 when every item was (or would be) imported, 3 when some
    were (or would be) quarantined, 2 when the file or mapping could not be read at all, or
    the node does not take what the format reads.
    """
    from polex.api.heap import tune_for_batch
    from polex.auth.principal import Principal, PrincipalKind
    from polex.domain.roles import Role
    from polex.formats.csv_mapping import MappingError
    from polex.formats.registry import get_format

    options: dict[str, object] = {}
    for item in option or []:
        key, separator, value = item.partition("=")
        if not separator:
            _fail(f"--option {item!r} is not KEY=VALUE")
        options[key] = value
    if mapping is not None:
        options["mapping"] = mapping
    with _local_node(data_dir) as node:
        try:
            adapter = get_format(format_name, **options)
        except (MappingError, TypeError) as error:
            _fail(str(error))
            return
        owner_agency = node.agencies.get_any(agency_id) if agency_id else _own_agency(node)
        operator = Principal(
            PrincipalKind.LOCAL,
            "local-import",
            getpass.getuser(),
            owner_agency.id,
            owner_agency.country,
            frozenset({Role.NCB_OPERATOR}),
        )
        tune_for_batch()
        progress = _ImportProgress(dry_run=dry_run)
        try:
            with file.open("rb") as stream:
                summary = node.imports.run(
                    adapter,
                    stream,
                    source=str(file),
                    owner=operator,
                    notices=node.notices,
                    dry_run=dry_run,
                    on_progress=progress,
                )
        except MappingError as error:
            _fail(str(error))
            return
        finally:
            progress.done()
    typer.echo(json.dumps(summary.__dict__, ensure_ascii=False, indent=2))
    if summary.rejected:
        raise typer.Exit(3)


class _ImportProgress:
    """An import's counts so far, rewritten in place on stderr at most ten times a second,
    and the final ones at the end (terminals only: a log or a pipe gets the summary alone)."""

    def __init__(self, *, dry_run: bool) -> None:
        self.enabled = sys.stderr.isatty()
        self._verb = "would be " if dry_run else ""
        self._shown = 0.0
        self._last: ImportSummary | None = None

    def __call__(self, summary: ImportSummary) -> None:
        self._last = summary
        now = time.monotonic()
        if self.enabled and now - self._shown >= 0.1:
            self._shown = now
            self._show(summary)

    def _show(self, summary: ImportSummary) -> None:
        sys.stderr.write(f"\r{summary.accepted:,} {self._verb}imported, {summary.rejected:,} {self._verb}quarantined")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self._last is not None:
            self._show(self._last)
            sys.stderr.write("\n")


@app.command("export")
def export_records(
    kind: Annotated[str, typer.Option(help="person, travel_document, vehicle, case or intel")],
    format_name: Annotated[str, typer.Option("--format", help="A writable format from 'polex formats'")],
    out: Annotated[Path, typer.Option(help="The file to write")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    agency_id: Annotated[str | None, typer.Option(help="Only this agency's records")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why you export: a purpose of processing")] = None,
) -> None:
    """Write the records the node's own agency may have in full or redacted, in an outside
    format (audited as an export; hit-only records are withheld and counted)."""
    declared = _declared_purpose(purpose)
    from polex.auth.principal import Principal, PrincipalKind
    from polex.domain.roles import Role
    from polex.formats.registry import WritableFormatAdapter, get_format

    with _local_node(data_dir) as node:
        if kind not in node.records:
            _fail(f"no record kind {kind!r}; choose one of {', '.join(sorted(node.records))}")
        adapter = get_format(format_name)
        if not isinstance(adapter, WritableFormatAdapter):
            _fail(f"the {format_name} format can be read, not written")
            return
        agency = _own_agency(node)
        operator = Principal(
            PrincipalKind.LOCAL,
            "local-export",
            getpass.getuser(),
            agency.id,
            agency.country,
            frozenset({Role.ANALYST}),
        )
        # Read, decided, audited and written a batch at a time: memory does not grow with the export.
        exported = node.records[kind].export_stream(
            operator, purpose=declared, owner_agency_id=agency_id, format_name=format_name
        )
        # Written beside the target and moved into place when complete: a failed export
        # leaves no empty or half-written file under the name asked for.
        partial = out.with_name(f".{out.name}.partial")
        try:
            with partial.open("wb") as stream:
                adapter.write(exported, stream)
            partial.replace(out)
        except (ValueError, TypeError) as error:  # a writer's refusal (e.g. a document its schema rejects)
            _fail(f"the {format_name} export was not written: {error}")
        finally:
            partial.unlink(missing_ok=True)
    summary = {
        "kind": kind,
        "format": format_name,
        "records": exported.exported,
        "withheld": exported.withheld,
        "file": str(out),
    }
    typer.echo(json.dumps(summary))


def _register_match() -> None:
    from polex.matching.cli import match_command

    app.command("match")(match_command)


_register_match()


@app.command("screen")
def screen_manifest(
    manifest: Annotated[Path, typer.Argument(help="A passenger list: CSV, JSON Lines or a JSON array", exists=True)],
    out: Annotated[Path, typer.Option(help="Where to write the results (one JSON line a row)")],
    purpose: Annotated[str | None, typer.Option(help="Why you screen: border_control, ...")] = None,
    format_name: Annotated[str, typer.Option("--format", help="csv, jsonl or json")] = "csv",
    threshold: Annotated[float | None, typer.Option(min=0, max=1, help="Score of a person match")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Screen a manifest against this node's records as its own agency, as the API's
    screenings do (same policy, hits and audit), and write one result line a row."""
    declared = _declared_purpose(purpose)
    from polex.auth.principal import Principal, PrincipalKind
    from polex.screening.jobs import hub_summary
    from polex.screening.service import DEFAULT_MATCH_THRESHOLD

    with _local_node(data_dir) as node:
        agency = _own_agency(node)
        operator = Principal(
            PrincipalKind.LOCAL, "local-screen", getpass.getuser(), agency.id, agency.country, frozenset({Role.ANALYST})
        )
        jobs = node.screenings
        jobs.folder.mkdir(parents=True, exist_ok=True)
        spooled = jobs.folder / f"{manifest.name}.{os.getpid()}.upload"
        with manifest.open("rb") as source, spooled.open("wb") as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
        job = jobs.submit(
            spooled,
            operator,
            purpose=declared,
            format_name=format_name,
            source=manifest.name,
            threshold=DEFAULT_MATCH_THRESHOLD if threshold is None else threshold,
        )
        jobs.run(job.id, principal=operator)
        done = jobs.job(job.id, operator)
        with out.open("wb") as results:
            for line in jobs.results(job.id, operator):
                results.write(line)
    summary = {
        "screening": done.id,
        "status": done.status,
        "rows": done.rows_done,
        "rows_with_errors": done.rows_with_errors,
        "document_hits": done.document_hits,
        "person_matches": done.person_matches,
        **hub_summary(done),
        "file": str(out),
    }
    typer.echo(json.dumps(summary))
    if done.status != "done":
        _fail(done.error or "the screening failed")


@app.command()
def formats() -> None:
    """List the formats this installation reads and writes, plugins included."""
    from polex.formats.registry import default_registry

    registry = default_registry()
    for info in registry.formats():
        mode = "read, write" if info.writable else "read"
        typer.echo(f"{info.name:<16} {mode:<12} {info.description} [{info.source}]")
    for failure in registry.failures:
        typer.secho(f"left out: {failure}", err=True, fg=typer.colors.YELLOW)


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Recompute the audit log from its stored events and check every checkpoint.

    Exits 0 when all is intact, 1 naming the first bad entry when anything was altered,
    removed or reordered.
    """
    import time

    from polex.audit.service import VerificationFailed

    with _local_node(data_dir, migrate=False) as node:
        started = time.perf_counter()
        try:
            checked = node.audit.verify()
        except VerificationFailed as failure:
            typer.secho(f"audit log verification FAILED: {failure}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from failure
        latest = node.audit.latest_checkpoint()
    elapsed = time.perf_counter() - started
    signed = f"; latest checkpoint at size {latest.size}" if latest else "; no checkpoint yet"
    typer.echo(f"audit log intact: {checked} entries verified in {elapsed:.2f} s{signed}")


@audit_app.command("checkpoint")
def audit_checkpoint(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Integrate pending events and sign a checkpoint now."""
    with _local_node(data_dir) as node:
        signed = node.audit.checkpoint(force=True)
    typer.echo(signed.note if signed else "nothing new to sign")


@contextmanager
def _local_node(data_dir: Path, *, migrate: bool = True) -> Iterator[Node]:
    """The node in ``data_dir``, for one administrative command; its errors exit with 2."""
    from polex.bootstrap import build_node
    from polex.errors import PolexError

    if not (data_dir / "node.toml").exists():
        _fail(f"{data_dir} holds no node; run 'polex init --data-dir {data_dir}' first")
    node = build_node(load_settings(data_dir=data_dir), migrate=migrate)
    try:
        yield node
    except (PolexError, ValueError) as error:
        _fail(str(error))
    finally:
        node.close()


def _declared_purpose(value: str | None) -> Purpose:
    """--purpose as the API reads X-Polex-Purpose; exits with 2 naming the problem."""
    from polex.errors import PolexError
    from polex.policy.service import parse_purpose

    try:
        return parse_purpose(value)
    except PolexError as error:
        _fail(f"--purpose: {error.errors[0].reason if error.errors else error}")
        raise AssertionError("unreachable") from error


def _own_agency(node: Node) -> AgencyRead:
    from polex.provision import own_agency

    return node.agencies.ensure(own_agency(node.settings))


def _own_agency_id(node: Node) -> str:
    return _own_agency(node).id


def main() -> None:
    app()


# -- the legal framework ---------------------------------------------------------------
#
# These commands act as the node's own agency's administrator: an operator at the node
# itself speaks for its country, as the API's administrators do.


def _administrator(node: Node) -> Principal:
    from polex.auth.principal import Principal, PrincipalKind
    from polex.domain.roles import Role

    agency = _own_agency(node)
    return Principal(
        PrincipalKind.LOCAL, "local-admin", getpass.getuser(), agency.id, agency.country, frozenset({Role.ADMIN})
    )


Document = TypeVar("Document", bound=BaseModel)


def _read_document(path: Path, model: type[Document]) -> Document:
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except (OSError, yaml.YAMLError) as error:
        _fail(f"{path}: {error}")
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in error.errors())
        _fail(f"{path}: {problems}")
    raise AssertionError("unreachable")


def _echo_model(model: BaseModel, *, as_yaml: bool = False) -> None:
    import yaml

    data = model.model_dump(mode="json")
    if as_yaml:
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
    else:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@agreement_app.command("add")
def agreement_add(
    file: Annotated[Path, typer.Argument(help="The agreement as YAML (or JSON)")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    approve: Annotated[bool, typer.Option(help="Also approve it for this node's country")] = False,
) -> None:
    """Propose an agreement (or a new version of one) from a YAML file."""
    from polex.domain.policy import Agreement

    document = _read_document(file, Agreement)
    with _local_node(data_dir) as node:
        admin = _administrator(node)
        read = node.policy.propose(document, admin)
        if approve:
            read = node.policy.approve(document.id, read.version, admin)
        _echo_model(read)


@agreement_app.command("approve")
def agreement_approve(
    agreement_id: Annotated[str, typer.Argument(help="The agreement's id")],
    version: Annotated[int, typer.Option(help="The version you read and approve")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Approve a version of an agreement for this node's country."""
    with _local_node(data_dir) as node:
        _echo_model(node.policy.approve(agreement_id, version, _administrator(node)))


@agreement_app.command("retire")
def agreement_retire(
    agreement_id: Annotated[str, typer.Argument(help="The agreement's id")],
    reason: Annotated[str, typer.Option(help="Why it ends")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """End an agreement."""
    with _local_node(data_dir) as node:
        _echo_model(node.policy.retire(agreement_id, reason, _administrator(node)))


@agreement_app.command("list")
def agreement_list(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """One line per agreement: id, version, status, kind, level, parties."""
    with _local_node(data_dir) as node:
        for item in node.policy.agreements(_administrator(node)):
            document = item.document
            typer.echo(
                f"{document.id:<32} v{item.version:<3} {item.status.value:<18} {document.kind.value:<24} "
                f"{document.level.value:<9} {','.join(document.parties)}"
            )


@agreement_app.command("show")
def agreement_show(
    agreement_id: Annotated[str, typer.Argument(help="The agreement's id")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """An agreement's current text, as YAML."""
    with _local_node(data_dir) as node:
        _echo_model(node.policy.agreement(agreement_id, _administrator(node)).document, as_yaml=True)


@policy_app.command("rules")
def policy_rules(
    file: Annotated[Path, typer.Argument(help="This node's country's national rules, as YAML")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Set the national rules of this node's country."""
    from polex.domain.policy import NationalRules

    rules = _read_document(file, NationalRules)
    with _local_node(data_dir) as node:
        _echo_model(node.policy.set_national_rules(rules, _administrator(node)))


@policy_app.command("check")
def policy_check(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kind: Annotated[str | None, typer.Option(help="person, travel_document, vehicle or case")] = None,
    record: Annotated[str | None, typer.Option(help="The record's id")] = None,
    country: Annotated[str | None, typer.Option(help="The requester's country")] = None,
    agency: Annotated[str | None, typer.Option(help="The requester's agency id")] = None,
    purpose: Annotated[str | None, typer.Option(help="The requester's declared purpose")] = None,
    dry_run: Annotated[
        Path | None, typer.Option(help="An agreement (YAML): which records and countries it would change")
    ] = None,
) -> None:
    """Explain what a requester would get of a record, or dry-run a new agreement."""
    from polex.domain.decisions import Requester
    from polex.domain.policy import Agreement
    from polex.policy.schemas import DecisionRead

    if dry_run is not None:
        document = _read_document(dry_run, Agreement)
        with _local_node(data_dir) as node:
            _echo_model(node.policy.dry_run(document, _administrator(node)))
        return
    if not (kind and record and country and purpose):
        _fail("give --kind, --record, --country and --purpose (and --agency), or --dry-run FILE")
        return
    declared = _declared_purpose(purpose)
    with _local_node(data_dir) as node:
        requester = Requester(agency_id=agency or "unknown-agency", country=country.upper(), purpose=declared)
        decision = node.policy.explain(_administrator(node), requester, kind, record, None)
        _echo_model(DecisionRead.of(decision))


@retention_app.command("run")
def retention_run(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Give deadlines, ask owners to review, purge what is past its deadline (as the server
    does every hour)."""
    with _local_node(data_dir) as node:
        outcome = node.retention.run_once()
    typer.echo(json.dumps(outcome.__dict__))


# -- the network -----------------------------------------------------------------------

network_app = typer.Typer(
    help="The exchange network: invite, enrol, approve, list, revoke nodes.", no_args_is_help=True
)
app.add_typer(network_app, name="network")
EnrolmentCodeOption = Annotated[
    str, typer.Option(help="The enrolment code from the hub's operator", envvar="POLEX_ENROLMENT_CODE")
]


@network_app.command("invite")
def network_invite(
    name: Annotated[str, typer.Argument(help="The node's name, e.g. 'fra'")],
    country: Annotated[str, typer.Option(help="Its country (ISO 3166-1 alpha-3)")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """At the hub: a one-time enrolment code for a national node (give it out of band)."""
    with _local_node(data_dir) as node:
        invitation = node.network.invite(name, country.upper(), _administrator(node))
    _echo_model(invitation)


@network_app.command("approve")
def network_approve(
    name: Annotated[str, typer.Argument(help="The pending node's name")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """At the hub: sign a pending node's certificate request with the network CA."""
    with _local_node(data_dir) as node:
        member = node.network.approve(name, _administrator(node))
    typer.echo(json.dumps({"name": member.name, "status": member.status.value, "fingerprint": member.fingerprint}))


@network_app.command("members")
def network_members(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """At the hub: one line per node: name, country, role, status, URL, certificate fingerprint."""
    with _local_node(data_dir) as node:
        for member in node.network.members(_administrator(node)):
            typer.echo(
                f"{member.name:<12} {member.country} {member.role:<9} {member.status.value:<10} "
                f"{member.url or '-':<28} {(member.fingerprint or '-')[:16]}"
            )


@network_app.command("revoke")
def network_revoke(
    name: Annotated[str, typer.Argument(help="The node's name")],
    reason: Annotated[str, typer.Option(help="Why")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """At the hub: revoke a node's membership for good (it must be invited again)."""
    from polex.network.schemas import MemberStatus

    with _local_node(data_dir) as node:
        member = node.network.set_status(name, MemberStatus.REVOKED, reason, _administrator(node))
    typer.echo(json.dumps({"name": member.name, "status": member.status.value}))


CaOption = Annotated[
    Path | None,
    typer.Option(
        "--ca",
        exists=True,
        dir_okay=False,
        help="The network CA's certificate (PEM) from the hub's operator: the hub's HTTPS is checked against it",
    ),
]


def _enrolment_client(data_dir: Path, ca: Path | None) -> httpx.Client:
    """A client to the hub for enrolling: over HTTPS it trusts the network CA (given with --ca,
    kept in the keys folder, or from an earlier step) and nothing else."""
    from polex.crypto import pki
    from polex.network.http import NodeClients
    from polex.network.keys import CA_CERTIFICATE, NodeKeyFiles

    keys = NodeKeyFiles(load_settings(data_dir=data_dir).keys_dir)
    if ca is not None:
        try:
            certificate = pki.load_certificate(ca.read_bytes())
        except pki.CertificateRefused as error:
            _fail(f"--ca {ca}: {error.reason}")
        if keys.has(CA_CERTIFICATE) and pki.load_certificate(keys.read(CA_CERTIFICATE)) != certificate:
            _fail(f"--ca {ca} is not the network CA this node already trusts ({keys.path(CA_CERTIFICATE)})")
        keys.write_public(CA_CERTIFICATE, pki.certificate_pem(certificate))
    return NodeClients(keys).client(timeout=30)


@network_app.command("enrol")
def network_enrol(
    hub: Annotated[str, typer.Option(help="The hub's URL")],
    code: Annotated[
        str, typer.Option(help="The enrolment code from the hub's operator", envvar="POLEX_ENROLMENT_CODE")
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    ca: CaOption = None,
) -> None:
    """At a national node: send the certificate request to the hub; run 'polex network fetch'
    once the hub's operator approved it."""
    import httpx

    from polex.network.keys import NODE_CSR, NodeKeyFiles

    settings = load_settings(data_dir=data_dir)
    keys = NodeKeyFiles(settings.keys_dir)
    body = {
        "name": settings.node_name,
        "csr": keys.read(NODE_CSR).decode(),
        "encryption_key": keys.encryption_jwk(),
        "url": settings.base_url,
    }
    try:
        with _enrolment_client(data_dir, ca) as client:
            response = client.post(
                f"{hub.rstrip('/')}/api/v1/network/enrolments",
                json=body,
                headers={"X-Polex-Enrolment-Code": code},
            )
    except httpx.HTTPError as error:
        _fail(f"the hub at {hub} did not answer: {error}")
        return
    if response.status_code != 202:
        _fail(f"the hub refused the enrolment ({response.status_code}): {response.text}")
    typer.echo(response.text)


@network_app.command("fetch")
def network_fetch(
    hub: Annotated[str, typer.Option(help="The hub's URL")],
    code: Annotated[
        str, typer.Option(help="The enrolment code from the hub's operator", envvar="POLEX_ENROLMENT_CODE")
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    ca: CaOption = None,
) -> None:
    """At a national node: fetch the certificate the hub signed, check it, and keep it."""
    import httpx

    from polex.crypto import pki
    from polex.network.keys import CA_CERTIFICATE, NODE_CERTIFICATE, NODE_KEY, NodeKeyFiles

    settings = load_settings(data_dir=data_dir)
    keys = NodeKeyFiles(settings.keys_dir)
    try:
        with _enrolment_client(data_dir, ca) as client:
            response = client.get(
                f"{hub.rstrip('/')}/api/v1/network/enrolments/{settings.node_name}",
                headers={"X-Polex-Enrolment-Code": code},
            )
    except httpx.HTTPError as error:
        _fail(f"the hub at {hub} did not answer: {error}")
        return
    if response.status_code != 200:
        _fail(f"the hub refused ({response.status_code}): {response.text}")
    status = response.json()
    if not status.get("certificate"):
        _fail(f"not approved yet: the enrolment is {status.get('status')}")
    ca_certificate = pki.load_certificate(status["ca_certificate"].encode())
    certificate = pki.load_certificate(status["certificate"].encode())
    try:
        identity = pki.verify_node_certificate(certificate, ca_certificate)
    except pki.CertificateRefused as error:
        _fail(f"the certificate is refused: {error.reason}")
        return
    own_key = pki.load_private_key(keys.read(NODE_KEY)).public_key()
    if certificate.public_key() != own_key or identity.name != settings.node_name:
        _fail("the certificate is not for this node's key")
    if keys.has(CA_CERTIFICATE) and pki.load_certificate(keys.read(CA_CERTIFICATE)) != ca_certificate:
        _fail(f"the hub sent another CA than the network CA this node trusts ({keys.path(CA_CERTIFICATE)})")
    keys.write_public(CA_CERTIFICATE, status["ca_certificate"].encode())
    keys.write_public(NODE_CERTIFICATE, status["certificate"].encode())
    if status.get("hub"):
        _first_membership(keys, hub, settings.node_name, status["hub"], ca_certificate)
    typer.echo(
        json.dumps({"name": identity.name, "country": identity.country, "fingerprint": pki.fingerprint(certificate)})
    )


def _first_membership(
    keys: NodeKeyFiles, hub_url: str, node_name: str, hub_name: str, ca_certificate: x509.Certificate
) -> None:
    """The hub's signed member list, fetched as the member this node now is (with its new
    certificate) and kept: from it the node knows the hub's name and the other members."""
    import httpx

    from polex.network.http import NodeClients
    from polex.network.keys import NODE_KEY
    from polex.network.membership import MembershipRefused, read_membership
    from polex.network.node_auth import make_node_token
    from polex.network.view import MEMBERSHIP_FILE

    token = make_node_token(keys.read(NODE_KEY), issuer=node_name, audience=hub_name)
    try:
        with NodeClients(keys).client(timeout=30) as client:
            response = client.get(
                f"{hub_url.rstrip('/')}/api/v1/network/membership", headers={"Authorization": f"PolexNode {token}"}
            )
        response.raise_for_status()
        signed = response.json()["membership"]
        read_membership(signed, ca_certificate)
    except (httpx.HTTPError, MembershipRefused, KeyError, ValueError) as error:
        typer.secho(f"warning: no member list from the hub yet ({error}); 'polex serve' fetches it", err=True)
        return
    keys.write_public(MEMBERSHIP_FILE, signed.encode())


# -- notices and diffusions -----------------------------------------------------------------
#
# At the hub, as the API does. A source's steps name the agency they are taken for
# (--agency, an agency registered at the hub); the hub's steps (approve, refuse, return,
# suspend, reinstate) are the operator's at the hub itself, as a reviewer. Both are audited
# under the operator's login name.

notice_app = typer.Typer(help="Notices and diffusions: draft, submit, review, publish, cancel.", no_args_is_help=True)
app.add_typer(notice_app, name="notice")
AgencyOption = Annotated[str | None, typer.Option("--agency", help="The source agency's id (source steps)")]


def _notice_operator(node: Node, agency_id: str | None) -> Principal:
    from polex.auth.principal import Principal, PrincipalKind

    if agency_id is None:
        agency = _own_agency(node)
        roles = frozenset({Role.REVIEWER, Role.NCB_OPERATOR})
    else:
        agency = node.agencies.get(agency_id, _administrator(node))
        roles = frozenset({Role.NCB_OPERATOR})
    return Principal(
        PrincipalKind.LOCAL, f"local-{getpass.getuser()}", getpass.getuser(), agency.id, agency.country, roles
    )


def _echo_notice(read: BaseModel) -> None:
    typer.echo(read.model_dump_json(indent=2, exclude_none=True))


@notice_app.command("draft")
def notice_draft(
    request: Annotated[Path, typer.Argument(help="The request, as JSON or YAML (the API's body)", exists=True)],
    agency: AgencyOption = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Draft a notice request or a diffusion for an agency."""
    import yaml

    from polex.domain.base import Restrictions
    from polex.notice.service import check_request

    body = yaml.safe_load(request.read_text(encoding="utf-8"))
    if not isinstance(body, dict):
        _fail(f"{request} does not hold an object")
    with _local_node(data_dir) as node:
        restrictions = body.pop("restrictions", None)
        read = node.notices.create(
            check_request(body),
            _notice_operator(node, agency),
            restrictions=Restrictions.model_validate(restrictions) if restrictions else None,
        )
        _echo_notice(read)


@notice_app.command("act")
def notice_act(
    notice_id: Annotated[str, typer.Argument(help="The notice or diffusion")],
    action: Annotated[
        str, typer.Argument(help="submit, issue, approve, refuse, return, suspend, reinstate, cancel, extend")
    ],
    reason: Annotated[str | None, typer.Option(help="Why (refuse, return, suspend, reinstate, cancel, extend)")] = None,
    valid_until: Annotated[str | None, typer.Option(help="extend: the new end of validity, YYYY-MM-DD")] = None,
    agency: AgencyOption = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Take one step of a notice's lifecycle."""
    import datetime as dt

    from polex.domain.notice import Action

    try:
        step = Action(action)
    except ValueError:
        _fail(
            f"'{action}' is not an action; one of submit, issue, approve, refuse, return, suspend, reinstate, "
            "cancel, extend"
        )
        return
    until = None
    if valid_until is not None:
        try:
            until = dt.date.fromisoformat(valid_until)
        except ValueError:
            _fail(f"--valid-until: '{valid_until}' is not a date YYYY-MM-DD")
    with _local_node(data_dir) as node:
        read = node.notices.act(notice_id, step, _notice_operator(node, agency), reason=reason, valid_until=until)
        _echo_notice(read)


@notice_app.command("show")
def notice_show(
    notice_id: Annotated[str, typer.Argument(help="The notice or diffusion")],
    agency: AgencyOption = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """A notice with its findings and history (as its source, or as the hub's reviewer)."""
    with _local_node(data_dir) as node:
        _echo_notice(node.notices.get(notice_id, _notice_operator(node, agency), purpose=None))


@notice_app.command("list")
def notice_list(
    scope: Annotated[str, typer.Option(help="review (the hub's queue) or mine (--agency's)")] = "review",
    status: Annotated[str | None, typer.Option(help="draft, submitted, returned, published, ...")] = None,
    agency: AgencyOption = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """One line a notice: id, status, type, reference, country, subject."""
    from polex.notice.service import NoticeFilters

    with _local_node(data_dir) as node:
        items, _ = node.notices.list_notices(
            _notice_operator(node, agency),
            NoticeFilters(scope=scope, status=status),
            purpose=None,
            cursor=None,
            limit=limit,
        )
        for item in items:
            label = (item.notice or {}).get("subject") or {}
            names = label.get("names") or [{}]
            typer.echo(
                f"{item.id}  {item.status:<10} {item.channel:<9} {item.notice_type:<10} {item.reference or '-':<12} "
                f"{item.owner.country}  {names[0].get('full', '')}"
            )


@notice_app.command("sweep")
def notice_sweep(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Ask sources to review notices six months before expiry, and expire the ended ones
    (what the serving hub does every notice_seconds)."""
    with _local_node(data_dir) as node:
        typer.echo(json.dumps(node.notices.sweep()))
