"""The benchmark's closed-loop load generator (raw HTTP/1.1 over asyncio streams, as cheap for
the client as it can be) and the percentiles both load scripts report (bench, soak).

Run the scripts as modules from the repository root (``python -m benchmarks.bench``).
Standard library only: the benchmark runs it on the air-gapped GPU machine, whose Python may lack
httpx.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(rank) - 1]


# --- the closed-loop load generator --------------------------------------------------------------
# Raw HTTP/1.1 over asyncio streams: each request is serialized once, before the clock starts, and
# a response is read as bytes (status line, Content-Length or chunks) without parsing its JSON. On
# a 2-core machine every cycle this process spends is taken from the server it measures.


@dataclass(frozen=True)
class Request:
    """One request, serialized: the bytes on the wire and the documents it scores."""

    wire: bytes
    documents: int


def post_request(url: str, path: str, body: dict) -> Request:
    """``body`` as JSON, POSTed to ``path`` on ``url``'s host, on a keep-alive connection."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    host = urlsplit(url).netloc
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode()
    return Request(head + payload, len(body.get("documents", ())))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start >= 0:
        end = lowered.index(b"\r\n", start + 2)
        return status, await reader.readexactly(int(lowered[start + 17 : end]))
    if b"\r\ntransfer-encoding: chunked" in lowered:
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)  # the chunk and its CRLF (the last: no trailers)
            if size == 0:
                return status, b"".join(chunks)
            chunks.append(data[:-2])
    return status, await reader.read()  # no length: the body runs to the connection's close


async def send(url: str, request: Request) -> tuple[int, bytes]:
    """One request on a connection of its own: the status and the body."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request.wire)
        return await _read_response(reader)
    finally:
        writer.close()


class Connection:
    """One keep-alive connection for requests sent one at a time from synchronous code (a loop of
    its own, so each exchange costs what ``closed_loop``'s clients pay, not a new connection)."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self._loop = asyncio.new_event_loop()
        self._reader, self._writer = self._loop.run_until_complete(asyncio.open_connection(parts.hostname, parts.port))

    def exchange(self, request: Request) -> tuple[int, bytes]:
        """Send ``request`` and read its answer: the status and the body."""
        self._writer.write(request.wire)
        return self._loop.run_until_complete(_read_response(self._reader))

    def close(self) -> None:
        self._writer.close()
        self._loop.close()


@dataclass
class LoadResult:
    """What a closed-loop run measured: each answered request's latency, the documents scored,
    the errors by kind, and this process's own CPU time over the run."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    documents: int = 0
    errors: Counter = field(default_factory=Counter)
    client_cpu_s: float = 0.0


async def closed_loop(url: str, requests: Sequence[Request], concurrency: int, seconds: float) -> LoadResult:
    """``concurrency`` clients, each on its own keep-alive connection, send ``requests`` in turn
    (each the next one not yet taken, round robin) and a new one as soon as the last is answered,
    until ``seconds`` have passed. Only 200s count; other statuses and broken connections are
    tallied in ``errors`` (a broken connection is reopened)."""
    parts = urlsplit(url)
    result = LoadResult()
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        reader = writer = None
        while time.perf_counter() < deadline:
            request = requests[next_index % len(requests)]
            next_index += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                started = time.perf_counter()
                writer.write(request.wire)
                status, _ = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                result.errors[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.05)
                continue
            if status != 200:
                result.errors[f"status {status}"] += 1
                # A shed request (429/503) is sent again after a pause: not a storm that takes CPU
                # from the server, nor Retry-After's whole seconds that would leave the point idle.
                await asyncio.sleep(0.1)
                continue
            result.latencies.append(time.perf_counter() - started)
            result.documents += request.documents
        if writer is not None:
            writer.close()

    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - cpu_started
    result.latencies.sort()
    return result
