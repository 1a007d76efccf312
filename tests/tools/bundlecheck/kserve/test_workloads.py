"""workloads.py: the pods and containers rendered objects will run, as KServe builds them (the
effective view the policies check), and the containers as written."""

from __future__ import annotations

from typing import Any

from bundlecheck.kserve.workloads import effective_containers, pods, raw_containers

RUNTIME = {
    "kind": "ServingRuntime",
    "metadata": {"name": "r"},
    "spec": {
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "nvidia.com/gpu"}],
        "containers": [
            {"name": "kserve-container", "image": "server:1", "args": ["--port=8080"]},
            {"name": "proxy", "image": "proxy:1"},
        ],
    },
}
ISVC = {
    "kind": "InferenceService",
    "metadata": {"name": "m"},
    "spec": {
        "predictor": {
            "tolerations": [],
            "securityContext": {"runAsUser": 1000},
            "model": {"runtime": "r", "args": ["--dtype=float16"]},
        }
    },
}
STORAGE = {"kind": "ClusterStorageContainer", "metadata": {"name": "s"}, "spec": {"container": {"name": "init"}}}
DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "d"},
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}},
}


def names(containers) -> list[tuple[str, Any]]:
    return [(c.obj["metadata"]["name"], c.spec.get("name")) for c in containers]


def test_a_predictor_should_run_the_merged_container_beside_the_runtimes_sidecars_where_the_runtime_says() -> None:
    (predictor,) = pods([RUNTIME, ISVC])
    assert predictor.obj is ISVC and predictor.path == ["spec", "predictor"]
    # The runtime's placement applies where the predictor sets none; its own (even empty) wins.
    assert predictor.fields == {
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [],
        "securityContext": {"runAsUser": 1000},
    }
    model, sidecar = predictor.containers
    assert model.path == ["spec", "predictor", "model"] and model.spec["args"] == ["--port=8080", "--dtype=float16"]
    assert model.pod_security == {"runAsUser": 1000}
    assert (sidecar.obj, sidecar.spec["name"]) == (RUNTIME, "proxy")


def test_a_runtime_no_inferenceservice_uses_should_be_checked_as_it_stands() -> None:
    (pod,) = pods([RUNTIME])
    assert pod.obj is RUNTIME and [c.path for c in pod.containers] == [
        ["spec", "containers", 0],
        ["spec", "containers", 1],
    ]


def test_a_built_in_workload_should_run_its_pod_template() -> None:
    (pod,) = pods([DEPLOYMENT])
    assert pod.path == ["spec", "template", "spec"]
    assert [c.path for c in pod.containers] == [["spec", "template", "spec", "containers", 0]]


def test_containers_as_written_and_as_run() -> None:
    objects = [RUNTIME, ISVC, STORAGE, DEPLOYMENT]
    assert names(raw_containers(objects)) == [
        ("r", "kserve-container"),
        ("r", "proxy"),
        ("m", None),  # the model spec as written
        ("s", "init"),
        ("d", "app"),
    ]
    assert names(effective_containers(objects)) == [
        ("m", "kserve-container"),  # merged with the runtime's
        ("r", "proxy"),
        ("d", "app"),
        ("s", "init"),  # the storage initializer KServe injects
    ]
