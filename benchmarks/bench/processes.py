"""A server's process tree, read from /proc: what it used (CPU seconds) and signals sent to all of
it (vLLM runs its engine in a child process, which must be counted and frozen too)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def process_tree(pid: int) -> dict[int, float]:
    """``pid`` and its descendants (vLLM runs its engine in a child), each with its CPU seconds
    (user + system), read from /proc."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    tree = {pid}
    changed = True
    while changed:
        changed = False
        for child, (parent, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    return {member: stats[member][1] for member in tree if member in stats}


def process_tree_cpu_seconds(pid: int) -> float:
    return sum(process_tree(pid).values())


def signal_process_tree(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid`` and its descendants (those that are gone are skipped)."""
    for member in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signum)
