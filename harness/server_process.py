"""A real server process for the tests and the benchmarks: loopback ports, the process with its
log, and readiness. Standard library only at import time (the benchmarks run it on machines
without httpx)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


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

    def __init__(
        self,
        args: Sequence[str] = (),
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        python: str | None = None,
        command: Sequence[str] | None = None,
        ready_path: str = "/v2/health/ready",
    ):
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
            command = [
                python or sys.executable,
                "-m",
                "reranker",
                "--host",
                "127.0.0.1",
                "--http_port",
                str(self.port),
                *args,
            ]
        else:
            command = [part.replace("{port}", str(self.port)) for part in command]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )

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
        terminate(self.process, timeout)
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        return self.process.returncode


def wait_ready(
    url: str, process: subprocess.Popen | None = None, timeout: float = 300, output=None, path: str = "/v2/health/ready"
) -> None:
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


def terminate(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited after ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
