#!/usr/bin/env python3
"""Fuzz the server against its own OpenAPI document with schemathesis (``make fuzz``).

Starts the real server process (the embedded model, torch engine, a free loopback port), waits
for readiness, then runs schemathesis over ``/openapi.json`` with a fixed seed and example count
(tests/fuzz/schemathesis.toml), so a run is reproducible and bounded in time. It fails on any
finding: a 5xx, a status, Content-Type, header or body the document does not list, a request
the document allows but the server refuses (or the reverse), a method without ``Allow``. It also
fails when the server logs a traceback while it is being fuzzed.

    make fuzz
    make fuzz FUZZ_ARGS='--max-examples 100 --seed 7'
    python tests/fuzz/run_fuzz.py --url http://127.0.0.1:8080   # a server already running
    python tests/fuzz/run_fuzz.py --api-key secret               # the server with --api_key
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"

# Phases: explicit examples, the coverage phase's boundary and type-confusion cases, then
# Hypothesis' random ones.
PHASES = "examples,coverage,fuzzing"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(server_args: str, api_key: str | None, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "reranker",
        "--backend",
        "torch",
        "--host",
        "127.0.0.1",
        "--http_port",
        str(port),
        "--log_level",
        "warning",
        *shlex.split(server_args),
    ]
    env = dict(os.environ)
    if api_key:
        env["RERANKER_API_KEY"] = api_key  # as the bundle passes it: never on the command line
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    return process, f"http://127.0.0.1:{port}"


def wait_ready(url: str, process: subprocess.Popen | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server at {url} was not ready after {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def schemathesis_command(url: str, args: argparse.Namespace) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--phases",
        args.phases,
        "--no-color",
    ]
    if args.max_examples is not None:
        command += ["--max-examples", str(args.max_examples)]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.api_key:
        command += ["--header", f"Authorization: Bearer {args.api_key}"]
    return command + shlex.split(args.schemathesis_args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="fuzz a server already running here instead of starting one")
    parser.add_argument("--server-args", default="", help="more flags for the server it starts")
    parser.add_argument("--api-key", help="start the server with this API key and send it (auth is fuzzed too)")
    parser.add_argument("--max-examples", type=int, help="test cases per operation and phase (default: the config's)")
    parser.add_argument("--seed", type=int, help="Hypothesis seed (default: the config's)")
    parser.add_argument("--phases", default=PHASES, help=f"schemathesis phases (default {PHASES})")
    parser.add_argument("--time-limit", type=float, default=240, help="fail when the run takes longer (s)")
    parser.add_argument("--ready-timeout", type=float, default=300, help="seconds to wait for the model")
    parser.add_argument("--schemathesis-args", default="", help="more schemathesis run options")
    args = parser.parse_args(argv)

    started = time.monotonic()
    with tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory(prefix="fuzz-") as scratch:
        process = None
        try:
            if args.url:
                url = args.url.rstrip("/")
            else:
                process, url = start_server(args.server_args, args.api_key, log)
            wait_ready(url, process, args.ready_timeout)
            ready_at = time.monotonic()
            print(f"fuzz: server ready at {url} after {ready_at - started:.1f} s", flush=True)
            try:
                # Hypothesis keeps caches in ./.hypothesis: a scratch folder instead of the checkout.
                env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": os.path.join(scratch, "hypothesis")}
                status = subprocess.run(schemathesis_command(url, args), timeout=args.time_limit, env=env).returncode
            except subprocess.TimeoutExpired:
                print(f"fuzz: FAILED: schemathesis ran past --time-limit {args.time_limit:g} s", flush=True)
                status = 1
            fuzzed_for = time.monotonic() - ready_at
            crashed = process is not None and process.poll() is not None
        except RuntimeError as exc:
            print(f"fuzz: FAILED: {exc}", flush=True)
            status, fuzzed_for, crashed = 1, 0.0, False
        finally:
            if process is not None:
                log.flush()
                server_log_at_end = log.tell()
                stop(process)
        server_log = b""
        if process is not None:
            log.seek(0)
            server_log = log.read(server_log_at_end)

    text = server_log.decode(errors="replace")
    problems = []
    if crashed:
        problems.append("the server exited while it was being fuzzed")
    tracebacks = len(re.findall(r"^Traceback \(most recent call last\)", text, flags=re.MULTILINE))
    if tracebacks:
        problems.append(f"the server logged {tracebacks} traceback(s)")
    if problems or (status != 0 and text):
        print("fuzz: the server's log (last 4000 characters):\n" + text[-4000:], flush=True)
    for problem in problems:
        print(f"fuzz: FAILED: {problem}", flush=True)
    status = status or (1 if problems else 0)
    print(
        f"fuzz: {'passed' if status == 0 else 'FAILED'}: schemathesis ran {fuzzed_for:.1f} s "
        f"({time.monotonic() - started:.1f} s in all)",
        flush=True,
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
