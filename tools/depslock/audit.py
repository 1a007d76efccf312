"""pip-audit over each lock: a known vulnerability fails the run unless locks/audit-ignore.toml
accepts it with a date and a reason.

pip-audit reads the lock itself (``-r``, ``--require-hashes``, ``--disable-pip``: no pip, no
resolution, no environment), and asks a vulnerability service about each pinned version: PyPI's
JSON API (``pypi``, the default) or OSV (``osv``). Where the service cannot answer from here, the
audit says so in one line and does not pass for an audit: exit status 77, which ``make audit``
turns into a pass only outside CI (under CI=true it fails).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import tomllib

from .locks import LOCK_DIR, Lock, normalize, pins

IGNORE_FILE = LOCK_DIR / "audit-ignore.toml"
# What each service's answer for one known release looks like: reachable or not, in seconds.
PROBES = {
    "pypi": ("https://pypi.org/pypi/pip/24.0/json", None),
    "osv": ("https://api.osv.dev/v1/query", b'{"package": {"name": "pip", "ecosystem": "PyPI"}, "version": "24.0"}'),
}
CANNOT_RUN = 77


@dataclass(frozen=True)
class Accepted:
    id: str
    package: str
    date: dt.date
    reason: str


@dataclass
class Finding:
    lock: str
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    def line(self) -> str:
        fixed = f"; fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "; no fix released"
        aka = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.lock}: {self.package}=={self.version}: {self.id}{aka}{fixed}"


class AuditError(RuntimeError):
    pass


def load_accepted(path: Path = IGNORE_FILE) -> list[Accepted]:
    """The accepted vulnerabilities; each entry must name its id, package, date and reason."""
    if not path.is_file():
        return []
    entries = tomllib.loads(path.read_text()).get("ignore", [])
    accepted = []
    for number, entry in enumerate(entries, 1):
        missing = [key for key in ("id", "package", "date", "reason") if not entry.get(key)]
        if missing:
            raise AuditError(f"{path.name}: entry {number} lacks {', '.join(missing)}")
        if not isinstance(entry["date"], dt.date):
            raise AuditError(f"{path.name}: entry {number}: date must be a TOML date (2026-12-03)")
        accepted.append(Accepted(entry["id"], normalize(entry["package"]), entry["date"], entry["reason"].strip()))
    return accepted


def service_problem(service: str, timeout: float = 15) -> str:
    """Why ``service`` cannot answer from here, or "" when it can."""
    url, body = PROBES[service]
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read(1)
        return ""
    except urllib.error.HTTPError as error:
        return f"{url} answers HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"{url} is unreachable ({getattr(error, 'reason', error)})"


def pip_audit_command(lock_file: Path, service: str) -> list[str]:
    found = shutil.which("pip-audit", path=str(Path(sys.executable).parent)) or shutil.which("pip-audit")
    if found is None:
        raise AuditError("pip-audit is not installed (make setup installs it)")
    return [
        found,
        "--requirement",
        str(lock_file),
        "--require-hashes",
        "--disable-pip",
        "--no-deps",
        "--vulnerability-service",
        service,
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]


def audit_lock(lock: Lock, service: str) -> tuple[list[Finding], list[str]]:
    """(the vulnerabilities found, the packages the service could not audit)."""
    done = subprocess.run(pip_audit_command(lock.path, service), capture_output=True, text=True, timeout=900)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AuditError(f"{lock.name}: pip-audit exited {done.returncode}: {done.stderr.strip()[-1000:]}") from None
    return parse_report(lock.name, report)


def parse_report(lock: str, report: dict) -> tuple[list[Finding], list[str]]:
    findings, skipped = [], []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(f"{dep['name']} ({dep['skip_reason']})")
        for vuln in dep.get("vulns", []):
            findings.append(
                Finding(
                    lock,
                    normalize(dep["name"]),
                    dep.get("version", "?"),
                    vuln["id"],
                    tuple(vuln.get("aliases", [])),
                    tuple(vuln.get("fix_versions", [])),
                )
            )
    return findings, skipped


def unaccepted(findings: list[Finding], accepted: list[Accepted]) -> list[Finding]:
    def is_accepted(finding: Finding) -> bool:
        ids = {finding.id, *finding.aliases}
        return any(a.package == finding.package and a.id in ids for a in accepted)

    return [f for f in findings if not is_accepted(f)]


def run(locks: list[Lock], service: str, out=sys.stdout) -> int:
    """Audit ``locks``: 0 clean (or every finding accepted), 1 a finding not accepted, 77 the
    service cannot answer from here (one line says why)."""
    accepted = load_accepted()
    problem = service_problem(service)
    if problem:
        print(f"audit: cannot run here: pip-audit's {service} service: {problem}", file=out)
        return CANNOT_RUN
    failed = 0
    for lock in locks:
        findings, skipped = audit_lock(lock, service)
        if skipped and len(skipped) >= len(pins(lock.path)):
            print(
                f"audit: cannot run here: the {service} service audited none of {lock.name}'s packages "
                f"(first: {skipped[0]})",
                file=out,
            )
            return CANNOT_RUN
        new = unaccepted(findings, accepted)
        kept = len(findings) - len(new)
        print(
            f"audit: {lock.name}: {len(findings)} known vulnerabilit{'y' if len(findings) == 1 else 'ies'}"
            f"{f', {kept} accepted in {IGNORE_FILE.name}' if kept else ''}"
            f"{f'; not audited: {len(skipped)} ({skipped[0]}...)' if skipped else ''}",
            file=out,
        )
        for finding in new:
            print(f"  {finding.line()}", file=out)
        failed |= bool(new)
    return 1 if failed else 0
