"""The README is a short index that links every topic page, its quick start works as written, and
the generated flag reference matches the server's Settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.app import free_port, wait_http_ok

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 250
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _quickstart() -> str:
    text = README.read_text()
    return text[text.index("<!-- section: quickstart -->") : text.index("<!-- /section: quickstart -->")]


def test_should_keep_the_readme_a_short_index():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_should_link_every_docs_page_from_the_readme():
    linked = {ROOT / target for target in LINK.findall(README.read_text())}
    pages = set(DOCS.glob("*.md"))
    assert pages, "no docs pages"
    assert pages <= linked, f"not linked from README.md: {sorted(p.name for p in pages - linked)}"


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_should_link_only_to_files_that_exist(page):
    broken = [
        target
        for target in LINK.findall(page.read_text())
        if not target.startswith(("http://", "https://")) and not (page.parent / target).exists()
    ]
    assert broken == []


@pytest.mark.parametrize("page", ["configuration.md", "api.md"])
def test_should_keep_what_the_docs_restate_from_code_generated(page):
    # The flag reference (Settings), the route table (the API document), the client versions
    # (tests/clients/requirements.txt).
    from docgen import pages

    assert (DOCS / page).read_text() == pages()[DOCS / page], f"docs/{page} is stale: run `make docs`"


def test_should_list_every_route_of_the_api_document_in_the_route_table():
    from reranker.app import create_app
    from reranker.config import Settings

    table = (DOCS / "api.md").read_text()
    spec = create_app(Settings(backend="torch"), lambda: None).openapi()
    for path, operations in spec["paths"].items():
        for method in operations:
            assert f"`{method.upper()} {path}`" in table


def test_should_show_the_client_versions_the_client_suite_pins():
    from docgen import client_versions

    pins = client_versions()
    table = (DOCS / "api.md").read_text().split("<!-- generated: clients -->", 1)[1].split("<!-- /generated", 1)[0]
    rows = re.findall(r"^\| .*? \| ([^|]+) \| .*<!-- ([a-z0-9.-]+) -->$", table, re.M)
    assert len(rows) >= 10
    assert all(version == pins[package] for version, package in rows)


def test_should_document_every_flag_that_help_prints():
    from reranker.cli import build_parser

    reference = (DOCS / "configuration.md").read_text()
    flags = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and not option.startswith("--no-")
    } - {"--help", "--version"}
    assert flags and all(f"`{flag}`" in reference for flag in flags)


@pytest.mark.slow
def test_should_answer_the_quick_start_as_the_readme_shows(tmp_path):
    # The README's own commands: `make serve` (on a free port instead of 8080), then its curl.
    quickstart = _quickstart()
    assert "make serve " in quickstart
    curl = re.search(r"```bash\n(curl .*?)\n# ", quickstart, re.S).group(1)
    shown = re.search(r'"results":\[(.*?)\]\}', quickstart, re.S).group(1)
    shown_order = [int(i) for i in re.findall(r'"index":(\d+)', shown)]
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/v2/health/ready", server, log.read_text, timeout=300)
        answer = subprocess.run(
            ["bash", "-c", curl.replace("localhost:8080", f"localhost:{port}")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, answer.stderr
        results = json.loads(answer.stdout)["results"]
        assert [r["index"] for r in results] == shown_order
        # The README shows float32's scores; where --dtype auto is bfloat16 they move in the third
        # decimal (bfloat16 keeps 8 bits of mantissa).
        shown_scores = [float(s) for s in re.findall(r'"relevance_score":([0-9.]+)', shown)]
        assert [r["relevance_score"] for r in results] == pytest.approx(shown_scores, abs=0.01)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
