"""The hub's own view of its member list, on SQLite and PostgreSQL: read from its store again
every second (a suspension takes effect within it), but the same list object while nothing
changed, so that what the node builds from a list (the directory's parsed keys, the peers'
verified tokens and certificates) is not built again every second."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from polex.bootstrap import Node
from polex.network import view
from polex.storage.tables import NetworkMemberRow


@pytest.fixture
def hub(hub_node: Node, monkeypatch: pytest.MonkeyPatch) -> Node:
    hub_node.network.ensure_hub_member("http://127.0.0.1:1")
    monkeypatch.setattr(view, "HUB_MEMBERS_SECONDS", 0.0)  # read the store on every call
    return hub_node


def test_an_unchanged_list_is_the_same_list(hub: Node) -> None:
    first = hub.network_view.membership()
    directory = hub.network_view.directory()
    again = hub.network_view.membership()
    assert again is first
    assert hub.network_view.directory() is directory


def test_a_change_in_the_store_is_a_new_list(hub: Node) -> None:
    first = hub.network_view.membership()
    directory = hub.network_view.directory()
    with hub.uow() as uow:
        uow.session.execute(update(NetworkMemberRow).where(NetworkMemberRow.name == "hub").values(status="suspended"))
        uow.commit()
    changed = hub.network_view.membership()
    assert changed is not first
    assert changed.members["hub"].status == "suspended"
    assert hub.network_view.directory() is not directory
    assert "hub" not in hub.network_view.directory().nodes
