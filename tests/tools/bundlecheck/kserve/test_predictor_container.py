"""bundlecheck.kserve.predictor_container: the kserve-container KServe builds from a runtime and a model."""

from __future__ import annotations

import copy

import pytest

from bundlecheck.kserve.predictor_container import (
    KServeCommandError,
    PredictorContainer,
    container_argv,
    predictor_container,
)

RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1",
    "kind": "ServingRuntime",
    "metadata": {"name": "my-runtime"},
    "spec": {
        "containers": [
            {"name": "sidecar", "image": "proxy", "args": ["--sidecar"]},
            {
                "name": "kserve-container",
                "image": "server:1",
                "args": ["--model_name={{.Name}}", "--port=8080", "--ns={{ .Namespace }}"],
                "env": [
                    {"name": "LEVEL", "value": "info"},
                    {"name": "TEAM", "value": '{{index .Labels "team"}}'},
                ],
                "ports": [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "1"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http1"}, "periodSeconds": 5},
            },
        ]
    },
}
ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "ranker", "labels": {"team": "search"}},
    "spec": {
        "predictor": {
            "model": {
                "modelFormat": {"name": "huggingface"},
                "runtime": "my-runtime",
                "storageUri": "hf://org/model",
                "args": ["--model_name=reranker", "--dtype=float16"],
                "env": [{"name": "LEVEL", "value": "debug"}, {"name": "EXTRA", "value": "1"}],
                "resources": {"limits": {"cpu": "2"}},
                "readinessProbe": {"periodSeconds": 10},
            }
        }
    },
}


def build(isvc=ISVC, runtime=RUNTIME, **kwargs) -> PredictorContainer:
    return predictor_container([copy.deepcopy(runtime), copy.deepcopy(isvc)], **kwargs)


def test_should_append_the_models_args_after_the_runtimes():
    assert build().args == [
        "--model_name=ranker",
        "--port=8080",
        "--ns=default",
        "--model_name=reranker",
        "--dtype=float16",
    ]


def test_should_fill_placeholders_from_the_inferenceservice_metadata():
    container = build(namespace="prod")
    assert "--ns=prod" in container.args
    assert container.plain_env()["TEAM"] == "search"


def test_should_let_the_models_env_win_by_name_and_add_the_inferenceservice_name():
    env = build().plain_env()
    assert env == {"LEVEL": "debug", "TEAM": "search", "EXTRA": "1", "INFERENCE_SERVICE_NAME": "ranker"}


def test_should_merge_maps_field_by_field_like_a_strategic_merge_patch():
    spec = build().spec
    assert spec["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}
    assert spec["readinessProbe"] == {"httpGet": {"path": "/ready", "port": "http1"}, "periodSeconds": 10}
    assert "storageUri" not in spec and "modelFormat" not in spec and spec["name"] == "kserve-container"


def test_should_resolve_a_named_probe_port():
    assert build().http_probe("readinessProbe") == ("/ready", 8080)
    assert build().http_probe("livenessProbe") is None


def test_should_refuse_a_placeholder_it_cannot_evaluate():
    runtime = copy.deepcopy(RUNTIME)
    runtime["spec"]["containers"][1]["args"].append("--x={{.Spec.Predictor}}")
    with pytest.raises(KServeCommandError, match=r"unsupported placeholder \{\{\.Spec\.Predictor\}\}"):
        build(runtime=runtime)


def test_should_name_a_runtime_that_is_not_rendered():
    isvc = copy.deepcopy(ISVC)
    isvc["spec"]["predictor"]["model"]["runtime"] = "missing"
    with pytest.raises(KServeCommandError, match=r"runtime 'missing' is not among the rendered objects"):
        build(isvc=isvc)


def test_should_start_the_image_entrypoint_with_the_args_when_there_is_no_command():
    assert container_argv(build(), ["server"], cmd=["--ignored"])[:2] == ["server", "--model_name=ranker"]


def test_should_let_a_model_command_replace_the_entrypoint_and_expand_env_references():
    isvc = copy.deepcopy(ISVC)
    isvc["spec"]["predictor"]["model"]["command"] = ["python", "-m", "srv"]
    isvc["spec"]["predictor"]["model"]["args"] = ["--level=$(LEVEL)", "--raw=$$(LEVEL)", "--unset=$(NOPE)"]
    argv = container_argv(build(isvc=isvc), ["ignored-entrypoint"])
    assert argv[:3] == ["python", "-m", "srv"]
    assert argv[-3:] == ["--level=debug", "--raw=$(LEVEL)", "--unset=$(NOPE)"]


def test_should_fall_back_to_the_image_cmd_when_nobody_sets_args():
    runtime = copy.deepcopy(RUNTIME)
    del runtime["spec"]["containers"][1]["args"]
    isvc = copy.deepcopy(ISVC)
    del isvc["spec"]["predictor"]["model"]["args"]
    assert container_argv(build(isvc=isvc, runtime=runtime), ["server"], cmd=["--default"]) == ["server", "--default"]
