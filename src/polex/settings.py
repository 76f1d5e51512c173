"""Node settings: one class, ``POLEX_`` environment variables, a ``node.toml`` in the data dir.

Precedence, strongest first: arguments given in code (the CLI's options), ``POLEX_*``
environment variables, the data directory's ``node.toml`` (written by ``polex init``),
then the defaults below, which run a node locally with no external service.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from polex.domain.countries import CountryCode
from polex.domain.misuse import MisuseRules
from polex.domain.notice import NoticeTypeSpec

NODE_CONFIG_FILE = "node.toml"
DEFAULT_DATA_DIR = Path("var/node")


class NodeRole(StrEnum):
    HUB = "hub"
    NATIONAL = "national"


class PeerLog(BaseModel):
    """Another node's audit log this node witnesses: where to fetch it, with which API key,
    and the verifier key (C2SP note key) its checkpoints must be signed with."""

    name: str
    url: str
    api_key: SecretStr
    verifier_key: str

    @property
    def origin(self) -> str:
        return f"{self.verifier_key.split('+', 1)[0]}/audit"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLEX_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    node_name: str = "node"
    node_country: CountryCode = "XPO"
    node_role: NodeRole = NodeRole.HUB
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; a SQLite file in data_dir when unset"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    public_url: str | None = None
    hub_url: str | None = Field(default=None, description="A national node's hub (its API's base URL)")
    hub_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="A national node's hub access points, tried in turn when one stops answering "
        "(hub_url is the one-item form of it)",
    )
    tls: bool = Field(
        default=False,
        description="Serve HTTPS; the network's node-to-node routes then require the calling node's "
        "certificate (mutual TLS), users' calls need none",
    )
    tls_certificate: Path | None = Field(
        default=None, description="The server's certificate (PEM); the node's own certificate when unset"
    )
    tls_private_key: Path | None = Field(
        default=None, description="The server certificate's private key (PEM); the node's own key when unset"
    )
    tls_client_ca: Path | None = Field(
        default=None, description="The CA that client certificates must chain to; the network CA when unset"
    )
    relay_seconds: float = Field(default=0.5, gt=0, description="How often outgoing envelopes are relayed")
    index_follow_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often a process takes into its in-memory screening indexes the records, and on a "
        "national node the replica's copies, that other processes of the node (over the same database) "
        "changed: about how long its checks may miss them",
    )
    replica_seconds: float = Field(
        default=10.0, gt=0, description="How often a national node pulls the hub's changes into its replica"
    )
    find_online: bool = Field(
        default=True,
        description="A national node checks the hub's records online (FIND), falling back on its replica",
    )
    find_timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="How long a national node waits for the hub's answer to a check"
    )
    find_batch_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="How long a national node waits for the hub's answer to a manifest's batch of checks",
    )
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_import_bytes: int = Field(default=512 * 1_048_576, ge=1024, description="Largest file an import may upload")
    import_workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Processes that convert a large import split into items (one per core when unset; 0: none)",
    )
    page_size_max: int = Field(default=500, ge=1)
    login_attempts_before_lockout: int = Field(default=10, ge=1)
    log_level: str = "info"
    log_json: bool = Field(default=True, description="JSON lines on stderr (False: plain text)")
    audit_checkpoint_seconds: float = Field(default=10.0, gt=0, description="How often the audit log is signed")
    witness_peers: list[PeerLog] = Field(default_factory=list, description="Audit logs of other nodes to witness")
    witness_seconds: float = Field(default=30.0, gt=0, description="How often the peers' logs are witnessed")
    misuse_rules: MisuseRules = Field(default_factory=MisuseRules, description="Thresholds of the misuse rules")
    misuse_seconds: float = Field(default=2.0, gt=0, description="How often new audit entries are checked for misuse")
    retention_seconds: float = Field(
        default=3600.0, gt=0, description="How often retention deadlines are checked (reviews asked, records purged)"
    )
    bus_url: str | None = Field(
        default=None,
        description="NATS JetStream URL (nats://host:4222) for the node's internal bus; the in-process bus when unset",
    )
    notice_types: list[NoticeTypeSpec] = Field(
        default_factory=list,
        description="Notice types beyond the built-in ones (e.g. silver), or built-in ones redefined by code",
    )
    notice_seconds: float = Field(
        default=60.0, gt=0, description="How often notice validity is checked (reviews asked, notices expired)"
    )
    public_notices_per_minute: int = Field(
        default=120, ge=1, description="Requests a client (by address) may make to the public notices API a minute"
    )
    attachment_chunk_bytes: int = Field(
        default=8 * 1_048_576,
        ge=64 * 1024,
        le=32 * 1_048_576,
        description="Size of the chunks attachments are uploaded, sealed and relayed in (the last is shorter)",
    )
    attachment_max_bytes: int = Field(
        default=2 * 1024**3 + 64 * 1_048_576,
        ge=1,
        le=2**40,
        description="Largest attachment this node takes, uploaded by a user or arriving from the network",
    )
    attachment_upload_hours: float = Field(
        default=7 * 24, gt=0, description="How long an upload that was not sent with a message is kept"
    )

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("hub_urls", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        """``POLEX_HUB_URLS`` may be a JSON list or URLs separated by commas."""
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [url.strip() for url in text.split(",") if url.strip()]
        return value

    @field_validator("hub_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return urls

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def config_file(self) -> Path:
        return self.data_dir / NODE_CONFIG_FILE

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is not None:
            return normalise_database_url(self.database_url.get_secret_value())
        return f"sqlite:///{(self.data_dir / 'polex.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def hub_access_points(self) -> list[str]:
        """The hub's URLs in the order they are tried: ``hub_urls``, then ``hub_url`` if it is not among them."""
        urls = [url.rstrip("/") for url in self.hub_urls]
        if self.hub_url and self.hub_url.rstrip("/") not in urls:
            urls.append(self.hub_url.rstrip("/"))
        return urls

    @property
    def tls_files(self) -> tuple[Path, Path, Path]:
        """The server's certificate, its key and the client CA, defaults filled in from the keys folder."""
        return (
            self.tls_certificate or self.keys_dir / "node.pem",
            self.tls_private_key or self.keys_dir / "node.key.pem",
            self.tls_client_ca or self.keys_dir / "network-ca.pem",
        )

    @property
    def is_hub(self) -> bool:
        return self.node_role is NodeRole.HUB

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        data_dir = _data_dir_from(init_settings)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=data_dir / NODE_CONFIG_FILE)
        return (init_settings, env_settings, toml)


def _data_dir_from(init_settings: PydanticBaseSettingsSource) -> Path:
    given = init_settings().get("data_dir")
    if given is not None:
        return Path(given)
    return Path(os.environ.get("POLEX_DATA_DIR", str(DEFAULT_DATA_DIR)))


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: Any) -> Settings:
    """Settings for a node; ``overrides`` (from the CLI) beat everything else."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)
