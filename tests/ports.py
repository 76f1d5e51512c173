"""Free TCP ports for servers that tests start in processes of their own.

A port found free must stay free until the server binds it, which may be a minute later
(``polex demo`` prepares its nodes first). Ports from the kernel's ephemeral range cannot
promise that: any outgoing connection in the meantime (a node calling the hub, a test's
client) may be given that port as its local end, and the server then fails to bind.
So ports are picked below that range, at random, and never handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
_LOWEST = 20000  # above the usual services: PostgreSQL, Redis, RabbitMQ, NATS


def _ephemeral_floor() -> int:
    try:
        low, _ = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low)
    except (OSError, ValueError):
        return 32768  # Linux's default


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """A base port with ``count`` consecutive ports after it, free now and outside the ephemeral range."""
    highest = max(_ephemeral_floor(), _LOWEST + 1000) - count
    for _ in range(1000):
        base = random.randrange(_LOWEST, highest)
        ports = range(base, base + count)
        if _handed_out.isdisjoint(ports) and all(_free(port) for port in ports):
            _handed_out.update(ports)
            return base
    raise RuntimeError(f"no {count} free consecutive ports below the ephemeral range")


def free_port() -> int:
    return free_ports(1)
