from pathlib import Path

import pytest
from pydantic import ValidationError

from polex.provision import NodeIdentity, write_node_config
from polex.settings import NodeRole, load_settings


def test_defaults_run_locally_on_sqlite(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{(tmp_path / 'polex.db').resolve()}"
    assert settings.is_hub
    assert settings.access_token_minutes == 15


def test_node_toml_then_environment_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_node_config(tmp_path, NodeIdentity(name="ukr", country="UKR", role=NodeRole.NATIONAL, port=8402))
    settings = load_settings(data_dir=tmp_path)
    assert (settings.node_name, settings.node_country, settings.port) == ("ukr", "UKR", 8402)
    assert not settings.is_hub
    monkeypatch.setenv("POLEX_PORT", "9000")
    monkeypatch.setenv("POLEX_DATABASE_URL", "postgresql://polex@db.example/polex")
    settings = load_settings(data_dir=tmp_path)
    assert settings.port == 9000
    assert settings.sqlalchemy_url == "postgresql+psycopg://polex@db.example/polex"
    assert "polex@db" not in repr(settings)  # the URL may hold a password: it is a secret
    assert load_settings(data_dir=tmp_path, port=9100).port == 9100


def test_invalid_settings_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLEX_NODE_COUNTRY", "ZZZ")
    with pytest.raises(ValidationError, match="ISO 3166-1"):
        load_settings(data_dir=tmp_path)


def test_hub_access_points_come_from_a_list_or_the_single_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(data_dir=tmp_path).hub_access_points == []
    assert load_settings(data_dir=tmp_path, hub_url="https://hub:8400/").hub_access_points == ["https://hub:8400"]
    monkeypatch.setenv("POLEX_HUB_URLS", "https://hub-a:8400, https://hub-b:8400")
    assert load_settings(data_dir=tmp_path).hub_access_points == ["https://hub-a:8400", "https://hub-b:8400"]
    monkeypatch.setenv("POLEX_HUB_URLS", '["https://hub-b:8400"]')
    settings = load_settings(data_dir=tmp_path, hub_url="https://hub-a:8400")
    assert settings.hub_access_points == ["https://hub-b:8400", "https://hub-a:8400"]
    monkeypatch.setenv("POLEX_HUB_URLS", "hub-b:8400")
    with pytest.raises(ValidationError, match="http"):
        load_settings(data_dir=tmp_path)


def test_tls_serves_https_with_the_node_s_own_files_by_default(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, tls=True, port=8443)
    assert settings.base_url == "https://127.0.0.1:8443"
    assert settings.tls_files == (
        tmp_path / "keys" / "node.pem",
        tmp_path / "keys" / "node.key.pem",
        tmp_path / "keys" / "network-ca.pem",
    )
    assert load_settings(data_dir=tmp_path).base_url.startswith("http://")
