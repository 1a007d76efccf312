"""Peak memory is bounded for every request shape: the real server (``python -m reranker``), one
process per model family, takes the worst legal requests of its family one at a time, and its
peak RSS (VmHWM, reset between requests) stays under the bound docs/api.md states, computed by
reranker.engine.memory_bound from the model's config and the settings the server logged.

Models in real shapes with random weights (benchmarks/model_shapes.py): a Qwen3-Reranker of
0.6B's width with 4 layers, bge-reranker-base, and the packaged all-MiniLM-L6-v2. Every word of
the texts here is one token for their tokenizers. The bound itself, and the overlays' claims
computed from it, are tested in tests/serving/engine/test_memory_bound.py.

A maximum-size request takes 10 to 30 minutes of model time on 2 cores. The memory it holds is
all there once it is tokenized and queued, and a model batch's is the same in every batch: so the
large requests are abandoned (the connection closed, as a client that goes away) once every model
worker has started a batch of them, and the peak is read after those batches end. (Run to its
end, a request of 780 twelve-word documents behind a 480-word instruction peaked at 2.63 GiB, 7%
above its abandoned peak; its bound is 6.79.)
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.metrics import metric, scrape
from harness.peak_memory import (
    GIB,
    MIB,
    abandon_after_batches,
    can_reset_peaks,
    peak_rss,
    proc_status,
    reset_peak,
    wait_idle,
)
from harness.request_bodies import VOCABULARY
from harness.server_process import Server
from reranker.engine.memory_bound import MemoryBound, ModelShape, ServerLimits, memory_bound
from tests.support import model_shapes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not can_reset_peaks(), reason="reads and resets peak RSS in /proc"),
    # The servers here run float32 whatever the CPU: under make test-fake-amx they would measure
    # again what make test measured.
    pytest.mark.skipif(bool(os.environ.get("FAKE_AMX")), reason="float32 measurements: make test runs them"),
]

LLM_SHAPE = "qwen3-reranker-0.6b-4-layers"
CROSS_ENCODER_SHAPE = "bge-reranker-base"
REQUEST_TIMEOUT_S = 600  # the test server's --request_timeout: 2 busy cores are not what we test
# The engine's startup line: "... (float32, 2 threads...), limit 512 tokens, packed batches of up
# to 8192 tokens (the cpu default), 2 at once".
ENGINE_LINE = re.compile(
    r"torch engine: .*\((?P<dtype>float32|bfloat16|float16), \d+ threads.*\), limit (?P<limit>\d+) tokens, "
    r".*batches of up to (?P<budget>\d+) tokens.*, (?P<workers>\d+) at once"
)
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def words(count: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choices(VOCABULARY, k=count))


def text_of(chars: int, seed: int, prefix: str = "") -> str:
    """About ``chars`` characters of whole words (``prefix`` first)."""
    text = prefix + words(chars // 5, seed)
    return text[: text.rfind(" ", 0, chars)]


@dataclass
class MeasuredServer:
    server: Server
    model_dir: Path
    bound: MemoryBound  # one request at a time
    load_peak: int

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def batches_started(self) -> float:
        return metric(scrape(self.server.url), "reranker_batch_size_count")

    def settle(self) -> None:
        """Idle, its freed memory handed back (a small request, then the idle trim), the peak reset."""
        wait_idle(self.pid, timeout=REQUEST_TIMEOUT_S)
        self.post("/v1/rerank", {"query": "capital", "documents": ["city"]}).raise_for_status()
        wait_idle(self.pid, timeout=60, quiet=1.5)  # the trim runs 1 s after the last request
        reset_peak(self.pid)

    def post(self, path: str, body: dict) -> httpx.Response:
        return httpx.post(self.server.url + path, json=body, timeout=REQUEST_TIMEOUT_S + 60)

    def abandon(self, path: str, body: dict) -> None:
        """Send ``body``, close the connection once each model worker has started a batch of it,
        and wait for those batches to end."""
        status = abandon_after_batches(
            self.server.url, path, body, self.batches_started, self.bound.workers, REQUEST_TIMEOUT_S
        )
        assert status is None, f"answered {status} before {self.bound.workers} batches started"
        wait_idle(self.pid, timeout=REQUEST_TIMEOUT_S)

    def check(self, shape: str, peak: int | None = None) -> int:
        """The peak since ``settle`` (or ``peak``), checked against the bound and reported."""
        peak = peak_rss(self.pid) if peak is None else peak
        print(f"\n{shape}: peak {peak / GIB:.2f} GiB, bound {self.bound.describe()}")
        assert peak <= self.bound.total, f"{shape}: peak {peak / MIB:.0f} MiB over {self.bound.describe()}"
        return peak


def start_measured(model_dir: Path, *args: str) -> Server:
    server = Server(
        [
            "--model_id",
            str(model_dir),
            "--backend",
            "torch",
            "--log_level",
            "info",
            "--no-access_log",
            "--drain_seconds",
            "0",
            # float32 (the largest weights and activations) on every CPU: auto would pick bfloat16
            # where the CPU has AMX, and an emulated, far slower one under make test-fake-amx.
            "--dtype",
            "float32",
            *args,
        ],
        env={"RERANKER_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT_S)},
    )
    server.wait_ready(timeout=600)
    return server


def measured(model_dir: Path, *args: str, tokenizer_bytes: int = 0):
    server = start_measured(model_dir, *args)
    try:
        load_peak = proc_status(server.process.pid)["VmHWM"]
        found = ENGINE_LINE.search(server.log())
        assert found, f"no engine line in the log:\n{server.log()[-2000:]}"
        config = json.loads((model_dir / "config.json").read_text())
        shape = ModelShape.from_config(
            config,
            model_shapes.parameters(model_dir),
            int(found["limit"]),
            DTYPE_BYTES[found["dtype"]],
            tokenizer_bytes,
        )
        limits = ServerLimits(int(found["budget"]), int(found["workers"]), chunking="chunk" in args)
        yield MeasuredServer(server, model_dir, memory_bound(shape, limits), load_peak)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def llm_server():
    yield from measured(
        model_shapes.llm_reranker(LLM_SHAPE), "--model_family", "qwen3-reranker", "--truncation", "chunk"
    )


@pytest.fixture(scope="module")
def cross_encoder_server():
    yield from measured(model_shapes.cross_encoder(CROSS_ENCODER_SHAPE), "--truncation", "chunk")


@pytest.fixture(scope="module")
def embedding_server(minilm_dir):
    yield from measured(minilm_dir)


# --- LLM reranker: Qwen3-Reranker-0.6B's width, 4 layers, 4096 tokens a pair -----------------------


@pytest.mark.timeout(900)
def test_llm_reranker_load_should_stay_under_the_bound(llm_server):
    # The load's peak: the weights, and the prepacked weights' check at the batch budget.
    llm_server.check("llm: load", llm_server.load_peak)


@pytest.mark.timeout(300)
def test_llm_reranker_tiny_documents_behind_the_longest_instruction(llm_server):
    """1000 one-word documents behind a 4000-token instruction: every prompt is read (4 million
    tokens) before the request is refused for its size."""
    llm_server.settle()
    body = {"query": "capital city", "instruction": words(4000, 1), "documents": words(1000, 2).split()}
    response = llm_server.post("/v1/rerank", body)
    assert response.status_code == 413, response.text[:300]
    assert "--max_request_tokens" in response.text
    llm_server.check("llm: 1000 tiny documents behind a 4000-token instruction (413)")


@pytest.mark.timeout(600)
def test_llm_reranker_the_issues_request(llm_server):
    """Issue 30's request: a 480-word instruction and 780 twelve-word documents (7.7 GiB once)."""
    llm_server.settle()
    body = {"query": "capital city", "instruction": words(480, 3), "documents": [words(12, s) for s in range(780)]}
    llm_server.abandon("/v1/rerank", body)
    llm_server.check("llm: 480-token instruction, 780 documents of 12 tokens")


@pytest.mark.timeout(600)
def test_llm_reranker_long_instruction_and_long_documents(llm_server):
    """A 3000-token instruction before 128 documents of 1000 tokens (520k tokens, legal): each
    pair is charged a 128th of the prefix, each batch lays all of it out, so a batch computes
    about 11,000 tokens for a budget of 8192."""
    llm_server.settle()
    body = {"query": "capital city", "instruction": words(3000, 4), "documents": [words(1000, s) for s in range(128)]}
    llm_server.abandon("/v1/rerank", body)
    llm_server.check("llm: 3000-token instruction, 128 documents of 1000 tokens")


@pytest.mark.timeout(600)
def test_llm_reranker_one_document_at_the_models_length(llm_server):
    llm_server.settle()
    response = llm_server.post("/rerank", {"query": "capital city", "texts": [words(6000, 5)], "truncate": True})
    assert response.status_code == 200, response.text[:300]
    llm_server.check("llm: one document at the model's full length (4096)")


@pytest.mark.timeout(300)
def test_llm_reranker_max_documents_of_16_kb(llm_server):
    """1000 documents of 16 KB (a 16 MB body): each cut to the model's length, then refused."""
    llm_server.settle()
    response = llm_server.post(
        "/rerank", {"query": "capital city", "texts": [text_of(16_000, s) for s in range(1000)], "truncate": True}
    )
    assert response.status_code == 413, response.text[:300]
    llm_server.check("llm: 1000 documents of 16 KB (413)")


@pytest.mark.timeout(600)
def test_llm_reranker_chunked_long_document(llm_server):
    """One document of 480,000 tokens, scored in about 120 windows of the model's length."""
    llm_server.settle()
    llm_server.abandon("/v1/rerank", {"query": "capital city", "documents": [words(480_000, 6)]})
    llm_server.check("llm: one 480k-token document in windows")


# --- cross-encoder: bge-reranker-base, 512 tokens a pair ---------------------------------------------


@pytest.mark.timeout(900)
def test_cross_encoder_load_should_stay_under_the_bound(cross_encoder_server):
    cross_encoder_server.check("cross-encoder: load", cross_encoder_server.load_peak)


@pytest.mark.timeout(300)
def test_cross_encoder_one_document_at_the_models_length(cross_encoder_server):
    cross_encoder_server.settle()
    response = cross_encoder_server.post(
        "/rerank", {"query": "capital city", "texts": [words(2000, 7)], "truncate": True}
    )
    assert response.status_code == 200, response.text[:300]
    cross_encoder_server.check("cross-encoder: one document at the model's full length (512)")


@pytest.mark.timeout(600)
def test_cross_encoder_max_documents_of_16_kb(cross_encoder_server):
    """1000 documents of 16 KB (a 16 MB body), each cut to 512 tokens: 512,000 tokens, legal."""
    cross_encoder_server.settle()
    body = {"query": "capital city", "texts": [text_of(16_000, s) for s in range(1000)], "truncate": True}
    cross_encoder_server.abandon("/rerank", body)
    cross_encoder_server.check("cross-encoder: 1000 documents of 16 KB")


@pytest.mark.timeout(600)
def test_cross_encoder_chunked_long_document(cross_encoder_server):
    """One document of 480,000 tokens, scored in about 950 windows of 512."""
    cross_encoder_server.settle()
    cross_encoder_server.abandon("/v1/rerank", {"query": "capital city", "documents": [words(480_000, 8)]})
    cross_encoder_server.check("cross-encoder: one 480k-token document in windows")


# --- embedding model: the packaged all-MiniLM-L6-v2, 256 tokens a text -------------------------------


@pytest.mark.timeout(300)
def test_embedding_model_load_should_stay_under_the_bound(embedding_server):
    embedding_server.check("embedding: load", embedding_server.load_peak)


@pytest.mark.timeout(300)
def test_embedding_model_tiny_documents_behind_the_longest_query(embedding_server):
    embedding_server.settle()
    response = embedding_server.post("/v1/rerank", {"query": words(250, 9), "documents": words(1000, 10).split()})
    assert response.status_code == 200, response.text[:300]
    embedding_server.check("embedding: 1000 tiny documents behind a 250-token query")


@pytest.mark.timeout(300)
def test_embedding_model_one_16_mb_document(embedding_server):
    embedding_server.settle()
    response = embedding_server.post("/v1/rerank", {"query": "capital city", "documents": [text_of(16_000_000, 11)]})
    assert response.status_code == 200, response.text[:300]
    assert response.json()["usage"]["total_tokens"] == 4 + 256  # [CLS] capital city [SEP], the document cut
    embedding_server.check("embedding: one document of 16 MB (cut to 256 tokens)")


@pytest.mark.timeout(600)
def test_embedding_model_max_documents_of_16_kb_outside_latin_1(embedding_server):
    """1000 documents of 16 KB, each with a character outside Latin-1 (Python then holds 4 bytes
    a character): the largest parse of a body."""
    embedding_server.settle()
    documents = [text_of(16_000, s, prefix="\N{GRINNING FACE} ") for s in range(1000)]
    body = {"query": "capital city", "documents": documents}
    embedding_server.abandon("/v1/rerank", body)
    embedding_server.check("embedding: 1000 documents of 16 KB outside Latin-1")


@pytest.mark.timeout(600)
def test_embedding_model_concurrent_bodies_of_15_mb_outside_latin_1(embedding_server):
    """Six clients at once, each with one 15 MB document holding a character outside Latin-1:
    the server holds no more than --max_concurrent_body_bytes of bodies (three of them), refusing
    the others before reading them, and stays under the bound."""
    embedding_server.settle()
    documents = [text_of(15_000_000, 20 + s, prefix="\N{GRINNING FACE} ") for s in range(6)]
    with concurrent.futures.ThreadPoolExecutor(len(documents)) as pool:
        responses = list(
            pool.map(
                lambda d: embedding_server.post("/v1/rerank", {"query": "capital city", "documents": [d]}), documents
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 429}, statuses
    for response in responses:
        if response.status_code == 429:
            assert "--max_concurrent_body_bytes" in response.text
    embedding_server.check(f"embedding: six 15 MB bodies outside Latin-1 at once (answered {statuses})")
