"""The exchange network as the services see it (notices, hits): who the hub is, which node
serves which country, and the outbox, written in the caller's transaction so that an
envelope leaves when the step that made it commits, or never."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from polex.message.service import MessageService, ServiceEnvelope
from polex.network.view import NetworkView

SERVICE_EXPIRY = dt.timedelta(days=90)  # a national node offline longer than this resyncs by hand


@dataclass(frozen=True)
class Post:
    """An envelope a service asks the network to carry to one node."""

    to: str
    content_type: str
    body: bytes
    conversation_id: str
    subject: str


class ServiceNetwork:
    def __init__(self, messages: MessageService, view: NetworkView) -> None:
        self._messages = messages
        self._view = view

    @property
    def node_name(self) -> str:
        return self._view.node_name

    def hub(self) -> str:
        """The hub's node name; raises NetworkUnavailable before this node has joined."""
        return self._view.hub().name

    def country_of(self, node: str) -> str | None:
        """The country an active member serves (None if it is not one now)."""
        member = self._view.usable_members().get(node)
        return member.country if member is not None else None

    def node_of(self, country: str) -> str | None:
        """The active national node serving ``country`` (None if it has none, or it is the hub's)."""
        for name, member in self._view.usable_members().items():
            if member.country == country and member.role != "hub":
                return name
        return None

    def post(self, session: Any, post: Post) -> str:
        """Seal and queue ``post`` in the caller's transaction; returns the message id.
        Raises NetworkUnavailable when this node has no membership list or keys yet."""
        sealed = self.seal(post)
        self.queue(session, [sealed])
        return sealed.id

    def seal(self, post: Post) -> ServiceEnvelope:
        """``post`` signed and encrypted, touching no store (``queue`` writes it). Raises
        NetworkUnavailable when this node has no membership list or keys yet."""
        return self._messages.seal_service(
            to=[post.to],
            content_type=post.content_type,
            body=post.body,
            conversation_id=post.conversation_id,
            subject=post.subject,
            expires_in=SERVICE_EXPIRY,
        )

    def queue(self, session: Any, sealed: list[ServiceEnvelope]) -> None:
        """Sealed envelopes into the outbox, in the caller's transaction."""
        self._messages.queue(session, sealed)

    def wake(self) -> None:
        """After the caller's commit: move what it queued now, not at the relay's next round."""
        self._messages.on_outbox()

    def delivery(self, message_id: str) -> list[dict[str, Any]]:
        return [status.model_dump(mode="json") for status in self._messages.delivery(message_id)]
