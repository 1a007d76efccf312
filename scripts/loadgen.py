"""What the load scripts (bench.py, soak.py) and the process-level tests share: the real server
process, request bodies, /metrics scraping and percentiles.

Import it with ``scripts/`` on ``sys.path`` (the scripts run from there; the tests add it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

# httpcore tries `import sniffio` for every lock it creates (several per request); where sniffio is
# not installed each failed import searches all of sys.path, which made a 1000-client soak spend a
# third of its CPU in the import system. A None entry fails that import at once (httpcore then
# takes asyncio, which is what runs here).
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)

WORDS = (
    "paris france capital city berlin germany europe tower river museum history people "
    "language government population economy culture science music art food travel"
).split()


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
    """The real server (``python -m reranker``) on a free loopback port, its output in a log file
    (a pipe nobody reads would stall a server that logs a lot under load)."""

    def __init__(self, args: Sequence[str], log_path: Path | None = None, env: Mapping[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._own_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="reranker-server-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        self.log_path = Path(log_path)
        command = [sys.executable, "-m", "reranker", "--host", "127.0.0.1", "--http_port", str(self.port), *args]
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
        """Until /v2/health/ready answers 200; RuntimeError (with the log's tail) if the process
        exits first or the time runs out."""
        wait_ready(self.url, self.process, timeout, self.log)

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


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 300, output=None) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2, trust_env=False) as http:  # one client: each new one loads the CA files
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                tail = output()[-3000:] if output else ""
                raise RuntimeError(f"server exited with status {process.returncode}:\n{tail}")
            try:
                if http.get(f"{url}/v2/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
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
    response = httpx.get(f"{url}/metrics", timeout=timeout, headers=headers)
    response.raise_for_status()
    return parse_metrics(response.text)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(rank) - 1]
