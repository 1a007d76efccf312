"""What the load scripts (bench.py, soak.py) and the process-level tests share: the real server
process, request bodies, a lean closed-loop load generator, /metrics scraping and percentiles.

Import it with ``scripts/`` on ``sys.path`` (the scripts run from there; the tests add it).
Standard library only at import time: bench.py runs it on the air-gapped GPU machine, whose
Python may lack httpx; only ``scrape`` (soak.py and the tests) imports httpx.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# httpcore tries `import sniffio` for every lock it creates (several per request); where sniffio is
# not installed each failed import searches all of sys.path, which made a 1000-client soak spend a
# third of its CPU in the import system. A None entry fails that import at once (httpcore then
# takes asyncio, which is what runs here).
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)

# The KServe reranker guide's request, the one our contract is
# written for: the benchmark's seed workload and the tests' requests (tests/helpers.py imports it;
# tests/e2e/seed_contract.py checks the answer to it).
SEED_REQUEST = {
    "model": "reranker",
    "query": "What is the capital of France?",
    "documents": [
        "Paris is the capital and most populous city of France.",
        "Berlin is the capital and largest city of Germany.",
        "The Eiffel Tower is located in Paris, France.",
        "France is a country in Western Europe.",
    ],
    "top_n": 2,
}

WORDS = (
    "paris france capital city berlin germany europe tower river museum history people "
    "language government population economy culture science music art food travel"
).split()

# Common English words that BERT's uncased WordPiece vocabulary (MiniLM's) keeps whole: a document
# of n of them is n tokens, and random draws make every benchmark document distinct (an engine
# that embeds each distinct text once must not be flattered by repeated text).
_VOCABULARY_TEXT = (
    "time year people way day man thing woman life child world school state family student group "
    "country problem hand part place case week company system program question work government "
    "number night point home water room mother area money story fact month lot right study book eye "
    "job word business issue side kind head house service friend father power hour game line end "
    "member law car city community name president team minute idea kid body information back parent "
    "face others level office door health person art war history party result change morning reason "
    "research girl guy moment air teacher force education foot boy age policy process music market "
    "sense nation plan college interest death experience effect use class control care field "
    "development role effort rate heart drug show leader light voice wife police mind price report "
    "decision son view relationship town road arm difference value building action model season "
    "society tax director position player record paper space ground form event official matter "
    "center couple site project activity star table need court oil situation cost industry figure "
    "street image television tree river mountain ocean island bridge station garden kitchen window "
    "library museum hospital church village castle forest desert valley lake beach harbor airport "
    "train engine computer network server data cloud memory signal energy sound color language "
    "science theory method answer"
)
VOCABULARY = _VOCABULARY_TEXT.split()


def make_documents(count: int, words_per_doc: int, seed: int) -> list[str]:
    docs = []
    for i in range(count):
        start = (seed * 7 + i * 13) % len(WORDS)
        docs.append(" ".join(WORDS[(start + k * 3) % len(WORDS)] for k in range(words_per_doc)))
    return docs


def rerank_body(documents: int, words: int, seed: int) -> dict:
    """A seed-shaped rerank request: one query and ``documents`` documents of ``words`` words."""
    return {"query": f"what is the capital of {WORDS[seed % len(WORDS)]}",
            "documents": make_documents(documents, words, seed), "return_documents": False}


def distinct_rerank_body(documents: int, words: int, seed: int, model: str = "reranker") -> dict:
    """A rerank request whose query (6 words) and documents (``words`` words each) are random
    draws from VOCABULARY: distinct across seeds, the same for the same seed."""
    rng = random.Random(seed)
    return {"model": model, "query": " ".join(rng.choices(VOCABULARY, k=6)),
            "documents": [" ".join(rng.choices(VOCABULARY, k=words)) for _ in range(documents)]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to the hard limit (one file per connection;
    a server started afterwards inherits it). Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


class Server:
    """A server process on a free loopback port, its output in a log file (a pipe nobody reads
    would stall a server that logs a lot under load).

    By default the real server (``python -m reranker``, this interpreter or ``python``) with
    ``args``; ``command`` runs another server instead (``{port}`` in it becomes the port), whose
    readiness is a 200 from ``ready_path``.
    """

    def __init__(self, args: Sequence[str] = (), log_path: Path | None = None, env: Mapping[str, str] | None = None,
                 *, python: str | None = None, command: Sequence[str] | None = None,
                 ready_path: str = "/v2/health/ready"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self._own_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="reranker-server-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = Path(log_path)
        if command is None:
            command = [python or sys.executable, "-m", "reranker", "--host", "127.0.0.1",
                       "--http_port", str(self.port), *args]
        else:
            command = [part.replace("{port}", str(self.port)) for part in command]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **(env or {})})

    def __enter__(self) -> Server:
        """Started and ready (the process is stopped if it does not get ready)."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 300) -> None:
        """Until the readiness path answers 200; RuntimeError (with the log's tail) if the process
        exits first or the time runs out."""
        wait_ready(self.url, self.process, timeout, self.log, self.ready_path)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (SIGKILL after ``timeout``); the exit status. Removes a log file it made."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        return self.process.returncode


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 300, output=None,
               path: str = "/v2/health/ready") -> None:
    deadline = time.monotonic() + timeout
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = output()[-3000:] if output else ""
            raise RuntimeError(f"server exited with status {process.returncode}:\n{tail}")
        try:
            with opener.open(url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or 503 while the model loads
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} not ready after {timeout:.0f}s")


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format as {'name{labels}': value} (labels as written by the server)."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def metric(samples: Mapping[str, float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when there is none)."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for key, value in samples.items():
        base, _, label_text = key.partition("{")
        if base == name and all(w in label_text for w in wanted):
            total += value
    return total


def scrape(url: str, timeout: float = 5, headers: Mapping[str, str] | None = None) -> dict[str, float]:
    import httpx  # callers catch httpx.HTTPError

    response = httpx.get(f"{url}/metrics", timeout=timeout, headers=headers)
    response.raise_for_status()
    return parse_metrics(response.text)


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
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    return Request(head + payload, len(body.get("documents", ())))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start >= 0:
        end = lowered.index(b"\r\n", start + 2)
        return status, await reader.readexactly(int(lowered[start + 17:end]))
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
        self._reader, self._writer = self._loop.run_until_complete(
            asyncio.open_connection(parts.hostname, parts.port))

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
