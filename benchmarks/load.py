"""A small open-loop HTTP/1.1 load generator for the benchmarks, on asyncio and raw sockets.

Why not httpx threads: on this 2-core machine the load generator shares the cores with the
server it measures, and an httpx request costs the client about as much CPU as the server's
answer; here a request costs the client tens of microseconds, so the figures describe the
server. Why open loop: requests are sent on a fixed schedule (``rate`` per second) whether
or not earlier ones were answered, and each latency is measured from the moment its request
was due, not from when a free connection sent it, so a stalled server shows up as latency
instead of silently lowering the offered load ("coordinated omission").

Only what the benchmarks need: keep-alive connections, ``Content-Length`` bodies (FastAPI's
JSON answers), no TLS, no chunked responses.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int
    body: bytes


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        return cls(reader, writer, parts.netloc)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> Response:
        """``headers`` as a mapping, or as pairs (a header may then be sent twice)."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host}", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in pairs)
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return Response(int(status_line.split(" ", 2)[1]), await self._reader.readexactly(length))

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


@dataclass
class Run:
    offered_rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)  # sorted, from each request's due time
    failures: list[str] = field(default_factory=list)
    late_starts: int = 0  # requests that found no free connection when due

    @property
    def achieved_rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, int(fraction * len(values)))] if values else float("nan")


async def open_loop(
    url: str,
    ask: Callable[[Connection, int], Awaitable[Response]],
    *,
    rate: float,
    seconds: float,
    connections: int = 32,
    check: Callable[[Response], str | None] = lambda response: None,
) -> Run:
    """Send ``rate`` requests a second for ``seconds``; ``ask(connection, n)`` sends the n-th
    and returns its awaitable ``Response``; ``check`` names what is wrong with an answer."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Connection.open(url))
    run = Run(offered_rate=rate, seconds=seconds)
    latencies: list[float] = []
    total = int(rate * seconds)
    started = time.perf_counter()

    async def one(index: int, due: float) -> None:
        if pool.empty():
            run.late_starts += 1
        connection = await pool.get()
        try:
            response = await ask(connection, index)
        except (OSError, asyncio.IncompleteReadError) as error:
            run.failures.append(f"{type(error).__name__}: {error}")
            pool.put_nowait(await Connection.open(url))
            return
        pool.put_nowait(connection)
        latencies.append((time.perf_counter() - due) * 1000)
        problem = check(response)
        if problem is not None:
            run.failures.append(problem)

    tasks = []
    for index in range(total):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    run.seconds = time.perf_counter() - started
    run.latencies_ms = sorted(latencies)
    while not pool.empty():
        await pool.get_nowait().close()
    return run


async def closed_loop(
    url: str, ask: Callable[[Connection, int], Awaitable[Response]], *, seconds: float, connections: int = 8
) -> float:
    """Requests per second with ``connections`` clients each sending the next request as soon
    as the last is answered (the server's capacity, not a latency figure)."""
    done = 0
    stop = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        nonlocal done
        connection = await Connection.open(url)
        while time.perf_counter() < stop:
            await ask(connection, next(counter))
            done += 1
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return done / (time.perf_counter() - started)


async def closed_count(
    url: str,
    ask: Callable[[Connection, int], Awaitable[Response]],
    count: int,
    *,
    connections: int,
    check: Callable[[Response], str | None],
) -> Run:
    """``count`` requests from ``connections`` clients, each sending its next as soon as its
    last is answered; latencies from each request's start."""
    indexes = iter(range(count))
    run = Run(offered_rate=float("nan"), seconds=0.0)
    latencies: list[float] = []

    async def client() -> None:
        connection = await Connection.open(url)
        for index in indexes:
            started = time.perf_counter()
            response = await ask(connection, index)
            latencies.append((time.perf_counter() - started) * 1000)
            problem = check(response)
            if problem is not None:
                run.failures.append(problem)
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    run.seconds = time.perf_counter() - started
    run.latencies_ms = sorted(latencies)
    return run
