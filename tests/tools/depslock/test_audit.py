"""audit.py (make audit): known vulnerabilities in each lock fail the audit unless accepted, with a
date and a reason; an audit that cannot run says why in one line."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
from types import SimpleNamespace

import pytest
from depslock import audit
from depslock.locks import IMAGE_LOCKS, _uv

from tests.support.app import cannot_reach


def test_every_accepted_vulnerability_should_have_a_date_and_a_reason():
    for entry in audit.load_accepted():
        assert entry.reason and entry.date <= dt.date.today()


@pytest.mark.parametrize("missing", ["date", "reason"])
def test_an_acceptance_without_a_date_or_a_reason_should_be_refused(tmp_path, missing):
    entry = {"id": "GHSA-9wx4-h78v-vm56", "package": "requests", "date": "2026-12-01", "reason": "why"}
    del entry[missing]
    lines = "\n".join(f"{k} = {v}" if k == "date" else f'{k} = "{v}"' for k, v in entry.items())
    (tmp_path / "audit-ignore.toml").write_text(f"[[ignore]]\n{lines}\n")
    with pytest.raises(audit.AuditError, match=f"lacks {missing}"):
        audit.load_accepted(tmp_path / "audit-ignore.toml")


REPORT = {
    "dependencies": [
        {
            "name": "requests",
            "version": "2.31.0",
            "vulns": [{"id": "GHSA-9wx4-h78v-vm56", "aliases": ["CVE-2024-35195"], "fix_versions": ["2.32.0"]}],
        },
        {"name": "idna", "version": "3.20", "vulns": []},
        {"name": "private-thing", "skip_reason": "Dependency not found on PyPI and could not be audited"},
    ]
}


def test_a_known_vulnerability_should_fail_unless_accepted_by_id_or_alias():
    findings, skipped = audit.parse_report("cpu-py3.12", REPORT)
    assert [f.line() for f in findings] == [
        "cpu-py3.12: requests==2.31.0: GHSA-9wx4-h78v-vm56 (CVE-2024-35195); fixed in 2.32.0"
    ]
    assert skipped == ["private-thing (Dependency not found on PyPI and could not be audited)"]
    assert audit.unaccepted(findings, []) == findings
    by_alias = audit.Accepted("CVE-2024-35195", "requests", dt.date(2026, 12, 1), "not reachable from the server")
    assert audit.unaccepted(findings, [by_alias]) == []
    other_package = audit.Accepted("CVE-2024-35195", "urllib3", dt.date(2026, 12, 1), "another package")
    assert audit.unaccepted(findings, [other_package]) == findings


def test_the_audit_should_say_in_one_line_why_it_cannot_run(monkeypatch):
    problem = "https://pypi.org/pypi/pip/24.0/json answers HTTP 404"
    monkeypatch.setattr(audit, "service_problem", lambda service: problem)
    out = io.StringIO()
    assert audit.run(list(IMAGE_LOCKS.values()), "pypi", out=out) == audit.CANNOT_RUN
    assert out.getvalue() == f"audit: cannot run here: pip-audit's pypi service: {problem}\n"


@pytest.mark.slow
def test_the_audit_should_fail_on_a_lock_with_a_known_vulnerability(tmp_path, monkeypatch):
    """requests 2.31.0 (GHSA-9wx4-h78v-vm56), through pip-audit and the service for real."""
    problem = audit.service_problem("pypi")
    if problem and os.environ.get("AUDIT_ALLOW_SKIP"):  # as make audit: the service is out of reach here
        pytest.skip(f"audit: cannot run here: pip-audit's pypi service: {problem}")
    if problem:
        cannot_reach(f"audit: cannot run here: pip-audit's pypi service: {problem}")
    lock = SimpleNamespace(name="vulnerable", path=tmp_path / "vulnerable.txt")
    (tmp_path / "vulnerable.in").write_text("requests==2.31.0\n")
    subprocess.run(
        [
            _uv(),
            "pip",
            "compile",
            "--quiet",
            "--generate-hashes",
            "--no-deps",
            "--python-version",
            "3.11",
            str(tmp_path / "vulnerable.in"),
            "-o",
            str(lock.path),
        ],
        check=True,
        timeout=300,
    )
    out = io.StringIO()
    assert audit.run([lock], "pypi", out=out) == 1, out.getvalue()
    assert "GHSA-9wx4-h78v-vm56" in out.getvalue() or "CVE-2024-35195" in out.getvalue()
    monkeypatch.setattr(audit, "IGNORE_FILE", tmp_path / "audit-ignore.toml")
    (tmp_path / "audit-ignore.toml").write_text(
        '[[ignore]]\nid = "CVE-2024-35195"\npackage = "requests"\ndate = 2026-12-01\nreason = "a test"\n'
    )
    assert audit.run([lock], "pypi", out=io.StringIO()) == 0
