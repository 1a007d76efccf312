"""A server process's memory, read from /proc: its resident set now and at its peak (VmHWM), the
peak reset between measurements, when it is idle; the memory limit an overlay gives the pod and
the model components that claim to fit it; and a request abandoned once the server has started
enough model batches for it. Standard library only at import time (the benchmarks use it too)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
GIB = 1 << 30
FITS_OVERLAYS = "kserve-reranker.example.com/fits-overlays"


def proc_status(pid: int) -> dict[str, int]:
    """The process's resident set now (VmRSS) and at its peak (VmHWM), in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) * 1024
    return values


def peak_rss(pid: int) -> int:
    return proc_status(pid)["VmHWM"]


def reset_peak(pid: int) -> None:
    """Set the process's VmHWM to its VmRSS now (Linux: ``5`` written to its clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def can_reset_peaks() -> bool:
    """Whether this machine has /proc's peak RSS and lets a process reset it."""
    try:
        reset_peak(os.getpid())
        return "VmHWM" in proc_status(os.getpid())
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, timeout: float, quiet: float = 1.0, busy_share: float = 0.05) -> None:
    """Until the process uses under ``busy_share`` of a core for ``quiet`` seconds (model batches
    an abandoned request had started run to their end); TimeoutError past ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(quiet)
        if cpu_seconds(pid) - before < busy_share * quiet:
            return
    raise TimeoutError(f"process {pid} still busy after {timeout:.0f} s")


def quantity_bytes(text: str) -> int:
    """A Kubernetes memory quantity (``4Gi``, ``512Mi``, ``2G``) in bytes."""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def _memory_limit(path: Path) -> int | None:
    import yaml

    for document in yaml.safe_load_all(path.read_text()):
        try:
            return quantity_bytes(str(document["spec"]["predictor"]["model"]["resources"]["limits"]["memory"]))
        except (KeyError, TypeError):
            continue
    return None


def overlay_memory_limit(overlay: str = "cpu") -> int:
    """The predictor's memory limit under ``overlay``, in bytes: an overlay patch's where one sets
    it, else the base's (base/inferenceservice.yaml)."""
    for path in sorted((REPO_ROOT / "overlays" / overlay).glob("*.yaml")):
        if (limit := _memory_limit(path)) is not None:
            return limit
    limit = _memory_limit(REPO_ROOT / "base" / "inferenceservice.yaml")
    if limit is None:
        raise AssertionError("no memory limit in base/inferenceservice.yaml")
    return limit


def components_claiming(overlay: str) -> dict[str, dict[str, str]]:
    """The model components whose fits-overlays annotation names ``overlay``: each folder's name
    and its model patch's annotations."""
    import yaml

    found = {}
    for patch in sorted((REPO_ROOT / "components" / "models").glob("*/model_patch.yaml")):
        annotations = yaml.safe_load(patch.read_text())["metadata"].get("annotations", {})
        if overlay in [name.strip() for name in annotations.get(FITS_OVERLAYS, "").split(",")]:
            found[patch.parent.name] = annotations
    return found


def abandon_after_batches(
    url: str, path: str, body: dict, batches_started: Callable[[], float], batches: int, timeout: float
) -> int | None:
    """POST ``body`` on a connection of its own and close it (a client that goes away: the server
    cancels what it has not started) once ``batches_started()`` has grown by ``batches``. None when
    abandoned; the answer's status if it came first. TimeoutError past ``timeout``."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    parts = urlsplit(url)
    start = batches_started()
    deadline = time.monotonic() + timeout
    with socket.create_connection((parts.hostname, parts.port)) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        connection.settimeout(0.5)
        while time.monotonic() < deadline:
            if batches_started() - start >= batches:
                return None
            try:
                head = connection.recv(64)
            except TimeoutError:
                continue
            if not head:
                raise ConnectionError("the server closed the connection without an answer")
            return int(head[9:12])
    raise TimeoutError(f"fewer than {batches} model batches started in {timeout:.0f} s")
