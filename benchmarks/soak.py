#!/usr/bin/env python3
"""Soak the rerank server: many concurrent clients for a bounded time, and what became of each request.

Starts the real server process on a loopback port (or uses --url, loopback only), then runs
--clients clients for --duration seconds. Each client has its own keep-alive connection and sends
seed-shaped rerank requests (1 query, --documents documents of --words words) one after another;
after a 429 or 503 it waits what Retry-After says. A --give-up-fraction of the clients abandon
each request after --give-up-after seconds (their work must be dropped, not computed). With
--sigterm-after S the server gets SIGTERM S seconds in, and the report splits requests into those
sent before and after the signal and times the exit. The server's /metrics is scraped before and
during the run (shed, expired and cancelled requests; documents scored; queue depth), its
readiness is probed every 0.5 s from a thread of its own (every 0.1 s after SIGTERM), and the lag
of this script's own event loop is reported: client-side latencies include it. Bounded: no new
request after --duration, none waited on past --timeout (at most --clients connections, loopback).

    make soak
    make soak SOAK_ARGS='--clients 200 --duration 10 --sigterm-after 5'
    python -m benchmarks.soak --server-args '--backend torch --max_queued_pairs 2000' --json

Reports: answers by status, "lost" (connection refused, reset or closed without an answer),
error bodies not in the server's JSON shape, p50/p99 of the 200s, /metrics deltas.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import ipaddress
import json
import os
import shlex
import signal
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from benchmarks import loadgen
from harness.metrics import metric, parse_metrics, scrape
from harness.request_bodies import rerank_body
from harness.server_process import Server, raise_open_files_limit, wait_ready

# httpcore tries `import sniffio` for every lock it creates (several per request); where sniffio is
# not installed each failed import searches all of sys.path, which made a 1000-client soak spend a
# third of its CPU in the import system. A None entry fails that import at once (httpcore then
# takes asyncio, which is what runs here).
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)

ROUTE = "/openai/v1/rerank"
MAX_CLIENTS = 10000
MAX_DURATION = 600.0
# Counters read from /metrics, reported as deltas over the run.
COUNTERS = {
    "shed": "reranker_requests_shed_total",
    "expired": "reranker_requests_expired_total",
    "cancelled": "reranker_requests_cancelled_total",
    "documents_scored": "reranker_documents_scored_total",
    "model_items": "reranker_batch_size_sum",
}
SHED_REASONS = ("queue_full", "overloaded")


@dataclass
class Outcome:
    sent: float  # seconds since the load started
    seconds: float
    kind: str  # "200", "429", "503", "504", "4xx", "5xx", "lost", "gave_up", "timeout"
    status: int | None = None
    documents: int = 0
    in_shape: bool = True  # an error answer in {"error": {...}, "detail": ...}
    retry_after: bool = True  # a 429/503 carried a Retry-After of whole seconds
    error: str = ""  # the exception of a lost request


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_last: dict[str, float] = field(default_factory=dict)
    peak_queue_pairs: float = 0.0
    probe_seconds: list[float] = field(default_factory=list)  # readiness probe latencies
    probe_failures: int = 0
    loop_lag: list[float] = field(default_factory=list)  # this script's event loop, oversleep of 0.1 s
    sigterm_at: float | None = None
    exit_at: float | None = None
    exit_status: int | None = None
    ready_503_at: float | None = None  # first readiness 503 after SIGTERM
    ready_200_after_sigterm: int = 0


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def classify(response: httpx.Response) -> tuple[str, bool, bool]:
    status = response.status_code
    kind = str(status) if status in (200, 429, 503, 504) else ("5xx" if status >= 500 else "4xx")
    in_shape = retry_after = True
    if status != 200:
        try:
            body = response.json()
            in_shape = set(body) == {"error", "detail"} and body["error"].get("code") == status
        except (ValueError, AttributeError, TypeError):
            in_shape = False
    if status in (429, 503):
        retry_after = response.headers.get("retry-after", "").isdigit()
    return kind, in_shape, retry_after


def probe_readiness(url: str, run: Run, started: float, done: threading.Event, signalled: threading.Event) -> None:
    """/v2/health/ready on a new connection each time, as the kubelet probes: every 0.5 s, and
    every 0.1 s after SIGTERM (when it must turn 503)."""
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=10, limits=limits, trust_env=False) as http:
        while not done.is_set():
            start = time.monotonic()
            try:
                status = http.get(f"{url}/v2/health/ready").status_code
                run.probe_seconds.append(time.monotonic() - start)
            except httpx.TransportError:
                status = None
                run.probe_failures += run.sigterm_at is None
            if run.sigterm_at is not None:
                if status == 503 and run.ready_503_at is None:
                    run.ready_503_at = time.monotonic() - started
                run.ready_200_after_sigterm += status == 200
            if signalled.is_set():
                time.sleep(0.1)
            else:
                signalled.wait(0.5)  # woken at once by SIGTERM


async def soak(url: str, args: argparse.Namespace, server: Server | None) -> Run:
    run = Run()
    started = time.monotonic()
    stop_at = started + args.duration
    stopped = asyncio.Event()  # the duration ran out or the server exited
    ssl_context = ssl.create_default_context()  # one for all clients (loading CA files is slow)
    givers_up = round(args.clients * args.give_up_fraction)

    def now() -> float:
        return time.monotonic() - started

    async def client(index: int) -> None:
        gives_up = index < givers_up
        timeout = args.give_up_after if gives_up else args.timeout
        seed = index
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            verify=ssl_context, limits=limits, timeout=timeout, headers=args.headers, trust_env=False
        ) as http:
            await asyncio.sleep(index * args.ramp / max(args.clients, 1))  # spread the first requests
            while not stopped.is_set() and time.monotonic() < stop_at:
                body = rerank_body(args.documents, args.words, seed)
                seed += args.clients
                sent = now()
                pause = 0.0
                try:
                    response = await http.post(url + ROUTE, json=body)
                except httpx.TimeoutException:
                    outcome = Outcome(sent, now() - sent, "gave_up" if gives_up else "timeout")
                except httpx.TransportError as exc:
                    outcome = Outcome(sent, now() - sent, "lost", error=type(exc).__name__)
                    pause = 0.1  # refused after the server stopped: do not spin
                else:
                    kind, in_shape, retry_after = classify(response)
                    outcome = Outcome(
                        sent, now() - sent, kind, response.status_code, args.documents, in_shape, retry_after
                    )
                    if kind in ("429", "503") and args.honor_retry_after:
                        pause = float(response.headers.get("retry-after", "1")) if retry_after else 1.0
                run.outcomes.append(outcome)
                if pause:
                    await asyncio.sleep(min(pause, max(0.0, stop_at - time.monotonic())))

    async def scraper() -> None:
        # A slow answer under load still counts; after SIGTERM the last scrape before exit is all there is.
        async with httpx.AsyncClient(timeout=30, headers=args.headers, trust_env=False) as http:
            while True:
                try:
                    response = await http.get(f"{url}/metrics")
                    if response.status_code == 200:
                        run.metrics_last = parse_metrics(response.text)
                        run.peak_queue_pairs = max(
                            run.peak_queue_pairs, run.metrics_last.get("reranker_queue_pairs", 0.0)
                        )
                except httpx.TransportError:
                    pass
                await asyncio.sleep(1.0 if run.sigterm_at is None else 0.2)

    async def terminator() -> None:
        await asyncio.sleep(args.sigterm_after)
        server.process.send_signal(signal.SIGTERM)
        run.sigterm_at = now()
        signalled.set()

        def wait_exit() -> float:  # timed in the thread: this loop may lag under load
            server.process.wait()
            return time.monotonic() - started

        run.exit_at = await asyncio.to_thread(wait_exit)
        run.exit_status = server.process.returncode
        stopped.set()

    async def lag_monitor() -> None:
        while True:
            start = time.monotonic()
            await asyncio.sleep(0.1)
            run.loop_lag.append(time.monotonic() - start - 0.1)

    async def timer() -> None:
        await asyncio.sleep(args.duration)
        stopped.set()

    run.metrics_before = run.metrics_last = await asyncio.to_thread(scrape, url, 30, args.headers)
    # Readiness is probed from a thread of its own, so that what it measures is the server, not
    # this process's event loop busy with the clients.
    probing_done, signalled = threading.Event(), threading.Event()
    probing = threading.Thread(target=probe_readiness, args=(url, run, started, probing_done, signalled), daemon=True)
    probing.start()
    background = [asyncio.create_task(scraper()), asyncio.create_task(lag_monitor()), asyncio.create_task(timer())]
    if args.sigterm_after is not None:
        background.append(asyncio.create_task(terminator()))
    await asyncio.gather(*(client(i) for i in range(args.clients)))
    if args.sigterm_after is not None and run.exit_at is None:
        await background[-1]  # the server is draining: time its exit
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)
    probing_done.set()
    signalled.set()
    await asyncio.to_thread(probing.join)
    if server is None or server.process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            run.metrics_last = await asyncio.to_thread(scrape, url, 30, args.headers)
    return run


def summarize(run: Run, args: argparse.Namespace) -> dict:
    def count(outcomes: list[Outcome]) -> dict[str, int]:
        kinds = ("200", "429", "503", "504", "4xx", "5xx", "lost", "gave_up", "timeout")
        return {kind: sum(o.kind == kind for o in outcomes) for kind in kinds}

    ok = sorted(o.seconds for o in run.outcomes if o.kind == "200")
    answered = [o for o in run.outcomes if o.status is not None and o.status != 200]
    before, after = run.metrics_before, run.metrics_last
    delta = {name: metric(after, counter) - metric(before, counter) for name, counter in COUNTERS.items()}
    for reason in SHED_REASONS:
        delta[f"shed_{reason}"] = metric(after, COUNTERS["shed"], reason=reason) - metric(
            before, COUNTERS["shed"], reason=reason
        )
    probes = sorted(run.probe_seconds)
    lag = sorted(run.loop_lag)
    summary = {
        "clients": args.clients,
        "duration_s": args.duration,
        "documents_per_request": args.documents,
        "words_per_document": args.words,
        "giving_up_clients": round(args.clients * args.give_up_fraction),
        "give_up_after_s": args.give_up_after,
        "requests": len(run.outcomes),
        "by_outcome": count(run.outcomes),
        "lost_by_error": dict(Counter(o.error for o in run.outcomes if o.kind == "lost")),
        "errors_not_in_shape": sum(not o.in_shape for o in answered),
        "retry_after_missing": sum(not o.retry_after for o in answered),
        "latency_200_ms": {
            "p50": _ms(loadgen.percentile(ok, 50)),
            "p99": _ms(loadgen.percentile(ok, 99)),
            "max": _ms(ok[-1] if ok else None),
        },
        "documents_answered_200": sum(o.documents for o in run.outcomes if o.kind == "200"),
        "server_metrics_delta": {name: round(value) for name, value in delta.items()},
        "peak_queue_pairs": round(run.peak_queue_pairs),
        "readiness_probe_ms": {
            "p50": _ms(loadgen.percentile(probes, 50)),
            "p99": _ms(loadgen.percentile(probes, 99)),
            "max": _ms(probes[-1] if probes else None),
            "failed": run.probe_failures,
        },
        "client_loop_lag_ms": {"p99": _ms(loadgen.percentile(lag, 99)), "max": _ms(lag[-1] if lag else None)},
    }
    if run.sigterm_at is not None:
        pre = [o for o in run.outcomes if o.sent < run.sigterm_at]
        post = [o for o in run.outcomes if o.sent >= run.sigterm_at]
        first_lost = min((o.sent for o in post if o.kind == "lost"), default=None)
        summary["sigterm"] = {
            "at_s": round(run.sigterm_at, 2),
            "sent_before": count(pre),
            "sent_after": count(post),
            "readiness_503_after_s": _round(run.ready_503_at, run.sigterm_at),
            "readiness_200_after_sigterm": run.ready_200_after_sigterm,
            "first_lost_after_s": _round(first_lost, run.sigterm_at),
            "exit_after_s": _round(run.exit_at, run.sigterm_at),
            "exit_status": run.exit_status,
        }
    return summary


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _round(at: float | None, since: float) -> float | None:
    return None if at is None else round(at - since, 2)


def print_table(summary: dict, server_label: str) -> None:
    outcomes = summary["by_outcome"]
    latency = summary["latency_200_ms"]
    metrics = summary["server_metrics_delta"]
    rows = [
        ("requests sent", summary["requests"]),
        ("  200", f"{outcomes['200']}  (p50 {latency['p50']} ms, p99 {latency['p99']} ms, max {latency['max']} ms)"),
        ("  429 (shed)", outcomes["429"]),
        ("  503", outcomes["503"]),
        ("  504 (deadline)", outcomes["504"]),
        ("  other 4xx", outcomes["4xx"]),
        ("  other 5xx", outcomes["5xx"]),
        ("  lost (refused/reset)", f"{outcomes['lost']}  {summary['lost_by_error'] or ''}".rstrip()),
        (
            "  gave up (client)",
            f"{outcomes['gave_up']}  ({summary['giving_up_clients']} clients, after {summary['give_up_after_s']} s)",
        ),
        ("  client timeout", outcomes["timeout"]),
        ("errors not in our shape", summary["errors_not_in_shape"]),
        ("429/503 w/o Retry-After", summary["retry_after_missing"]),
        (
            "server: shed",
            f"{metrics['shed']}  (queue_full {metrics['shed_queue_full']}, overloaded {metrics['shed_overloaded']})",
        ),
        ("server: expired", metrics["expired"]),
        ("server: cancelled", metrics["cancelled"]),
        (
            "server: documents scored",
            f"{metrics['documents_scored']}  (answered 200: {summary['documents_answered_200']}; "
            f"texts or pairs the model ran: {metrics['model_items']})"
            + ("; metrics as last scraped before exit" if summary.get("sigterm") else ""),
        ),
        ("server: peak queue pairs", summary["peak_queue_pairs"]),
        (
            "readiness probe",
            "p50 {p50} ms, p99 {p99} ms, max {max} ms, failed {failed}".format(**summary["readiness_probe_ms"]),
        ),
        (
            "soak's own loop lag",
            "p99 {p99} ms, max {max} ms (in the client latencies)".format(**summary["client_loop_lag_ms"]),
        ),
    ]
    sigterm = summary.get("sigterm")
    if sigterm:
        before, after = sigterm["sent_before"], sigterm["sent_after"]
        rows += [
            ("SIGTERM at", f"{sigterm['at_s']} s"),
            (
                "  sent before: lost / 5xx",
                f"{before['lost']} / {before['5xx'] + before['503'] + before['504']}"
                f"  (503 {before['503']}, 504 {before['504']})",
            ),
            (
                "  sent after: 200 / lost",
                f"{after['200']} / {after['lost']}"
                + (f"  (first lost at +{sigterm['first_lost_after_s']} s)" if after["lost"] else ""),
            ),
            (
                "  readiness 503 after",
                f"{sigterm['readiness_503_after_s']} s  (200s seen after: {sigterm['readiness_200_after_sigterm']})",
            ),
            ("  exit after", f"{sigterm['exit_after_s']} s, status {sigterm['exit_status']}"),
        ]
    print(
        f"soak: {summary['clients']} clients x {summary['duration_s']:g} s, "
        f"{summary['documents_per_request']} documents x {summary['words_per_document']} words; server: {server_label}"
    )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Soak a running server on this machine (loopback) instead of starting one.")
    parser.add_argument(
        "--server-args",
        default=os.environ.get("SOAK_SERVER_ARGS", "--backend torch"),
        help="Flags for the server this starts (default: %(default)s; embedded model).",
    )
    parser.add_argument("--clients", type=int, default=1000, help="Concurrent clients (default: %(default)s).")
    parser.add_argument("--duration", type=float, default=30, help="Seconds of load (default: %(default)s).")
    parser.add_argument("--documents", type=int, default=20, help="Documents per request (default: %(default)s).")
    parser.add_argument(
        "--words", type=int, default=30, help="Words per document, about one token each (default: %(default)s)."
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60,
        help="Client-side timeout of a request, seconds (default: %(default)s; above the server's deadline).",
    )
    parser.add_argument(
        "--give-up-fraction",
        type=float,
        default=0.1,
        help="Fraction of the clients that abandon each request early (default: %(default)s).",
    )
    parser.add_argument(
        "--give-up-after",
        type=float,
        default=1.0,
        help="Seconds after which those clients abandon a request (default: %(default)s).",
    )
    parser.add_argument(
        "--ramp", type=float, default=1.0, help="Seconds over which the clients start (default: %(default)s)."
    )
    parser.add_argument(
        "--ignore-retry-after",
        dest="honor_retry_after",
        action="store_false",
        help="Resend at once after 429/503 instead of waiting Retry-After.",
    )
    parser.add_argument(
        "--sigterm-after",
        type=float,
        metavar="S",
        help="Send SIGTERM to the server S seconds into the run (only a server this starts).",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("RERANKER_API_KEY"),
        help="Bearer key for a server started with one (default: $RERANKER_API_KEY).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}] seconds")
    if not 0 <= args.give_up_fraction <= 1:
        parser.error("--give-up-fraction must be between 0 and 1")
    if args.url and not is_loopback(args.url):
        parser.error("--url must be a loopback address (this opens thousands of connections)")
    if args.sigterm_after is not None and (args.url or not 0 < args.sigterm_after < args.duration):
        parser.error("--sigterm-after needs a server this script starts (no --url) and 0 < S < --duration")
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else None
    args.headers = headers

    raise_open_files_limit()  # before starting the server: it inherits the limit
    server = None
    url = args.url.rstrip("/") if args.url else None
    if url is None:
        server_env = {"RERANKER_API_KEY": args.api_key} if args.api_key else None
        server = Server(["--log_level", "warning", *shlex.split(args.server_args)], env=server_env)
        url = server.url
    try:
        try:
            wait_ready(url, server and server.process, output=server and server.log)
        except RuntimeError as exc:
            sys.exit(f"soak: {exc}")
        warm = httpx.post(url + ROUTE, json=rerank_body(args.documents, args.words, 0), headers=headers, timeout=120)
        if warm.status_code != 200:
            sys.exit(f"soak: warm-up request answered {warm.status_code}: {warm.text[:500]}")
        run = asyncio.run(soak(url, args, server))
        if server is not None and server.process.poll() not in (None, 0):
            print(
                f"soak: the server exited with status {server.process.returncode}:\n{server.log()[-3000:]}",
                file=sys.stderr,
            )
    finally:
        if server is not None:
            server.stop(timeout=120)
    summary = summarize(run, args)
    label = args.url or args.server_args
    if args.json:
        print(json.dumps({"server": label, **summary}, indent=2))
    else:
        print_table(summary, label)


if __name__ == "__main__":
    main()
