"""Prometheus /metrics as numbers: parse the text format, sum a metric's samples, scrape a server."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
