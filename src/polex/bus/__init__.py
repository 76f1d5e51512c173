"""The message bus: the port the services use, an in-process bus for embedded nodes, and a
NATS JetStream bus for production. Adapters import this package; the domain never does.

``polex.bus.nats`` is not imported here, so an embedded node never loads nats-py.
"""

from polex.bus.memory import InProcessBus
from polex.bus.ports import Bus, BusMessage, BusUnavailable

__all__ = ["Bus", "BusMessage", "BusUnavailable", "InProcessBus"]
