"""Setting up a node: its config file, keys, database, own agency and first administrator."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from polex.agency.schemas import AgencyCreate
from polex.auth.schemas import UserCreate
from polex.bootstrap import Node, build_node
from polex.domain.agency import AgencyKind
from polex.domain.countries import country_name
from polex.domain.roles import Role
from polex.settings import NodeRole, Settings, load_settings


@dataclass(frozen=True)
class NodeIdentity:
    name: str
    country: str
    role: NodeRole
    port: int


def write_node_config(data_dir: Path, identity: NodeIdentity, *, host: str = "127.0.0.1", tls: bool = False) -> Path:
    """Write ``node.toml``; the database URL stays out of it (pass it by environment)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "node.toml"
    config: dict[str, object] = {
        "node_name": identity.name,
        "node_country": identity.country,
        "node_role": identity.role.value,
        "host": host,
        "port": identity.port,
    }
    if tls:
        config["tls"] = True
    path.write_text(tomli_w.dumps(config))
    return path


def set_node_options(data_dir: Path, **options: object) -> None:
    """Set (or, given None, remove) options in a node's ``node.toml``."""
    path = data_dir / "node.toml"
    config = tomllib.loads(path.read_text())
    for key, value in options.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(tomli_w.dumps(config))


def set_witness_peers(
    data_dir: Path,
    peers: list[dict[str, str]],
    *,
    witness_seconds: float | None = None,
    checkpoint_seconds: float | None = None,
) -> None:
    """List the audit logs this node witnesses in its ``node.toml`` (made private: it now
    holds the peers' API keys)."""
    path = data_dir / "node.toml"
    config = tomllib.loads(path.read_text())
    config["witness_peers"] = peers
    if witness_seconds is not None:
        config["witness_seconds"] = witness_seconds
    if checkpoint_seconds is not None:
        config["audit_checkpoint_seconds"] = checkpoint_seconds
    path.write_text(tomli_w.dumps(config))
    os.chmod(path, 0o600)


def set_hub_url(data_dir: Path, url: str) -> None:
    """Name a national node's hub in its ``node.toml``."""
    path = data_dir / "node.toml"
    config = tomllib.loads(path.read_text())
    config["hub_url"] = url
    path.write_text(tomli_w.dumps(config))


def own_agency(settings: Settings) -> AgencyCreate:
    if settings.is_hub:
        return AgencyCreate(
            name="General Secretariat",
            country=settings.node_country,
            kind=AgencyKind.GENERAL_SECRETARIAT,
        )
    return AgencyCreate(
        name=f"NCB {country_name(settings.node_country)}",
        country=settings.node_country,
        kind=AgencyKind.NCB,
    )


def initialise_node(
    data_dir: Path,
    identity: NodeIdentity,
    *,
    admin_username: str | None = None,
    admin_password: str | None = None,
    database_url: str | None = None,
    tls: bool = False,
    bus_url: str | None = None,
) -> Node:
    """Create (or bring up to date) a node in ``data_dir``; idempotent. With ``tls`` it will
    serve HTTPS (the hub at once; a national node once enrolled, with its certificate). With
    ``bus_url`` (NATS JetStream) its bus and its envelopes go through JetStream."""
    write_node_config(data_dir, identity, tls=tls)
    settings = load_settings(data_dir=data_dir, database_url=database_url, bus_url=bus_url)
    node = build_node(settings)
    node.network.ensure_hub_member(settings.base_url)
    agency = node.agencies.ensure(own_agency(settings))
    if admin_username and admin_password and node.auth.find_user(admin_username) is None:
        node.auth.create_user(
            UserCreate(
                username=admin_username,
                password=admin_password,
                agency_id=agency.id,
                roles=[Role.ADMIN],
            )
        )
    return node
