"""container_merge.py: KServe's MergeRuntimeContainers, the runtime's kserve-container with the
model spec laid over it."""

from __future__ import annotations

from bundlecheck.kserve.container_merge import merge_containers, runtime_container, runtimes_by_name

RUNTIME_CONTAINER = {
    "name": "kserve-container",
    "image": "server:1",
    "args": ["--port=8080"],
    "env": [{"name": "LEVEL", "value": "info"}, {"name": "TEAM", "value": "a"}],
    "ports": [{"name": "http1", "containerPort": 8080}],
    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    "command": ["serve"],
    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
}


def test_should_append_the_models_args_to_the_runtimes() -> None:
    merged = merge_containers(RUNTIME_CONTAINER, {"args": ["--dtype=float16"]})
    assert merged["args"] == ["--port=8080", "--dtype=float16"]
    assert "args" not in merge_containers({"name": "c"}, {})


def test_should_merge_lists_with_a_merge_key_item_by_item_and_replace_the_others() -> None:
    merged = merge_containers(
        RUNTIME_CONTAINER,
        {
            "env": [{"name": "LEVEL", "value": "debug"}, {"name": "EXTRA", "value": "1"}],
            "volumeMounts": [{"name": "cache", "mountPath": "/tmp"}],
            "command": ["other"],
        },
    )
    assert merged["env"] == [
        {"name": "LEVEL", "value": "debug"},
        {"name": "TEAM", "value": "a"},
        {"name": "EXTRA", "value": "1"},
    ]
    assert merged["volumeMounts"] == [{"name": "cache", "mountPath": "/tmp"}]
    assert merged["command"] == ["other"]  # no merge key: replaced


def test_should_merge_maps_key_by_key_and_delete_a_field_set_to_null() -> None:
    merged = merge_containers(RUNTIME_CONTAINER, {"resources": {"requests": {"cpu": "4", "memory": None}}})
    assert merged["resources"] == {"requests": {"cpu": "4"}}
    assert merged["name"] == "kserve-container"
    assert RUNTIME_CONTAINER["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}}  # not changed in place


def test_should_find_runtimes_by_name_and_their_kserve_container() -> None:
    runtime = {
        "kind": "ClusterServingRuntime",
        "metadata": {"name": "r"},
        "spec": {"containers": [{"name": "sidecar"}, RUNTIME_CONTAINER]},
    }
    objects = [runtime, {"kind": "ServingRuntime", "metadata": {}}, {"kind": "ConfigMap", "metadata": {"name": "r"}}]
    assert runtimes_by_name(objects) == {"r": runtime}
    assert runtime_container(runtime) is RUNTIME_CONTAINER
    assert runtime_container(None) == {}
