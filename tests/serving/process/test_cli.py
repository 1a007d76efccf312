"""The command line run for real (``python -m reranker``): its exit status and one clear line on
bad flags or a model it cannot serve, and the server process it starts."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from tests.support.app import SEED_REQUEST, free_port, wait_http_ok
from tests.support.tiny_models import write_config_only

SERVER = [sys.executable, "-m", "reranker"]


def run_cli(*args, env=None, timeout=60):
    return subprocess.run(
        [*SERVER, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--task=generate"], {}, r"unsupported task 'generate': this server only serves --task=score"),
        (["--backend=tensorrt"], {}, r"invalid choice: 'tensorrt'"),
        (["--no_such_flag"], {}, r"unrecognized arguments: --no_such_flag"),
        ([], {"RERANKER_HTTP_PORT": "eighty"}, r"--http_port \(RERANKER_HTTP_PORT\): Input should be a valid integer"),
        (["--max_documents=0"], {}, r"--max_documents .*greater than or equal to 1"),
    ],
)
def test_should_exit_2_with_one_clear_line_on_bad_flags(args, env, message):
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    import re

    assert re.search(message, result.stderr), result.stderr


def test_should_exit_1_with_one_line_when_there_is_no_model(tmp_path):
    result = run_cli(f"--model_dir={tmp_path / 'missing'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"reranker-server: error: model directory {tmp_path / 'missing'} does not exist"
    ]


def test_should_exit_1_when_the_model_is_not_a_reranker(tmp_path):
    write_config_only(tmp_path, {"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    result = run_cli(f"--model_dir={tmp_path}")
    assert result.returncode == 1
    assert "neither a cross-encoder" in result.stderr.strip().splitlines()[-1]


def test_should_exit_1_when_vllm_is_asked_for_but_missing(tiny_cross_encoder_dir):
    pytest.importorskip("torch")
    if __import__("importlib").util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    result = run_cli(f"--model_id={tiny_cross_encoder_dir}", "--backend=vllm")
    assert result.returncode == 1
    assert "--backend vllm: vLLM is not installed" in result.stderr


@pytest.mark.slow  # starts the server process
def test_should_exit_1_when_the_weights_fail_to_load(tmp_path):
    # A valid cross-encoder config without weights: kind detection passes, loading fails later.
    write_config_only(
        tmp_path,
        {
            "architectures": ["BertForSequenceClassification"],
            "model_type": "bert",
            "max_position_embeddings": 64,
            "id2label": {"0": "LABEL_0"},
        },
    )
    result = run_cli(f"--model_dir={tmp_path}", f"--http_port={free_port()}", "--backend=torch", timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("reranker-server: error: could not load the model:")


@pytest.fixture(scope="module")
def server_process(tiny_cross_encoder_dir):
    port = free_port()
    process = subprocess.Popen(
        [*SERVER, f"--model_id={tiny_cross_encoder_dir}", "--backend=torch"],
        env={**os.environ, "RERANKER_HTTP_PORT": str(port), "RERANKER_HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http_ok(f"{base}/v2/health/ready", process, lambda: process.stdout.read())
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_should_serve_the_seed_request_from_a_real_process(server_process):
    response = httpx.post(f"{server_process}/openai/v1/rerank", json=SEED_REQUEST, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert [set(r) for r in body["results"]] == [{"index", "document", "relevance_score"}] * 2
    assert body["model"] == "reranker" and body["usage"]["total_tokens"] > 0


def test_should_handle_concurrent_clients_in_a_real_process(server_process):
    import concurrent.futures

    def call(word):
        request = {"query": f"capital {word}", "documents": SEED_REQUEST["documents"]}
        return httpx.post(f"{server_process}/openai/v1/rerank", json=request, timeout=60).json()

    words = ["paris", "berlin", "tower", "europe"] * 4
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(call, words))
    for word, body in zip(words, together):
        alone = call(word)
        # The same answer; a score may differ in its last float32 bits, since a pair's batch (its
        # size, the worker's threads) picks the matrix kernels and so the order of the sums.
        scores = [r.pop("relevance_score") for r in body["results"]]
        alone_scores = [r.pop("relevance_score") for r in alone["results"]]
        assert body == {**alone, "id": body["id"]}
        assert scores == pytest.approx(alone_scores, rel=1e-6, abs=1e-7)
