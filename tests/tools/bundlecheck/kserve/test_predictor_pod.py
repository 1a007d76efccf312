"""The predictor Pod KServe builds around the kserve-container: storage initializer, model
volume, runtime volumes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bundlecheck.kserve.predictor_container import KServeCommandError
from bundlecheck.kserve.predictor_pod import MODEL_MOUNT, PROVISION_VOLUME, STORAGE_INITIALIZER, predictor_pod
from bundlecheck.render import render

ROOT = Path(__file__).resolve().parents[4]

OVERLAYS = sorted(p.parent.name for p in (ROOT / "overlays").glob("*/kustomization.yaml"))


@pytest.fixture(scope="module")
def cpu_objects():
    return render(ROOT / "overlays" / "cpu").objects


def isvc(objects):
    return next(o for o in objects if o["kind"] == "InferenceService")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_should_download_the_model_with_the_named_storage_container_into_the_shared_volume(overlay):
    objects = render(ROOT / "overlays" / overlay).objects
    pod = predictor_pod(objects)
    (init,) = pod["spec"]["initContainers"]
    storage = next(o for o in objects if o["kind"] == "ClusterStorageContainer")
    assert init["name"] == STORAGE_INITIALIZER
    assert init["image"] == storage["spec"]["container"]["image"]
    assert init["args"] == [isvc(objects)["spec"]["predictor"]["model"]["storageUri"], MODEL_MOUNT]
    assert {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT} in init["volumeMounts"]
    (main,) = pod["spec"]["containers"]
    assert {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True} in main["volumeMounts"]
    assert {"name": PROVISION_VOLUME, "emptyDir": {}} in pod["spec"]["volumes"]


def test_should_carry_the_runtimes_volumes_and_the_merged_container(cpu_objects):
    pod = predictor_pod(cpu_objects)
    runtime = next(o for o in cpu_objects if o["kind"] == "ServingRuntime")
    for volume in runtime["spec"]["volumes"]:
        assert volume in pod["spec"]["volumes"]
    (main,) = pod["spec"]["containers"]
    # The runtime's args with {{.Name}} filled in, then the InferenceService's.
    assert main["args"][:3] == ["--model_name=reranker-model", "--model_dir=/mnt/models", "--http_port=8080"]
    assert "--model_name=reranker" in main["args"]  # the InferenceService's args come after
    assert pod["metadata"]["name"] == "reranker-model-predictor"


def test_should_let_a_users_provision_volume_replace_the_emptydir(cpu_objects):
    objects = copy.deepcopy(cpu_objects)
    pvc = {"name": PROVISION_VOLUME, "persistentVolumeClaim": {"claimName": "models"}}
    isvc(objects)["spec"]["predictor"]["volumes"] = [pvc]
    volumes = predictor_pod(objects)["spec"]["volumes"]
    assert [v for v in volumes if v["name"] == PROVISION_VOLUME] == [pvc]


def test_should_pick_the_storage_container_by_uri_prefix_when_none_is_named(cpu_objects):
    objects = copy.deepcopy(cpu_objects)
    del isvc(objects)["spec"]["predictor"]["storageContainerName"]
    assert predictor_pod(objects)["spec"]["initContainers"][0]["name"] == STORAGE_INITIALIZER
    isvc(objects)["spec"]["predictor"]["model"]["storageUri"] = "s3://bucket/model"
    with pytest.raises(KServeCommandError, match=r"no rendered ClusterStorageContainer supports 's3://bucket/model'"):
        predictor_pod(objects)


def test_should_refuse_a_storage_container_name_that_is_not_rendered(cpu_objects):
    objects = copy.deepcopy(cpu_objects)
    isvc(objects)["spec"]["predictor"]["storageContainerName"] = "s3-store"
    with pytest.raises(KServeCommandError, match=r"storageContainerName 's3-store' is not among the rendered objects"):
        predictor_pod(objects)


def test_should_refuse_a_storage_container_kserve_would_not_recognise(cpu_objects):
    objects = copy.deepcopy(cpu_objects)
    storage = next(o for o in objects if o["kind"] == "ClusterStorageContainer")
    storage["spec"]["container"]["name"] = "downloader"
    with pytest.raises(KServeCommandError, match=r"container name 'downloader', KServe needs 'storage-initializer'"):
        predictor_pod(objects)


def test_should_run_no_init_container_without_a_storage_uri(cpu_objects):
    objects = copy.deepcopy(cpu_objects)
    del isvc(objects)["spec"]["predictor"]["model"]["storageUri"]
    pod = predictor_pod(objects)
    assert "initContainers" not in pod["spec"]
    assert not any(v["name"] == PROVISION_VOLUME for v in pod["spec"]["volumes"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_should_carry_the_pod_level_lock_down_and_kserves_labels(overlay):
    pod = predictor_pod(render(ROOT / "overlays" / overlay).objects)
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["terminationGracePeriodSeconds"] == 30
    assert pod["metadata"]["labels"] == {
        "serving.kserve.io/inferenceservice": "reranker-model",
        "component": "predictor",
        "app": "isvc.reranker-model-predictor",
    }


def test_should_run_the_storage_initializer_as_locked_down_as_the_server(cpu_objects):
    pod = predictor_pod(cpu_objects)
    (init,) = pod["spec"]["initContainers"]
    (main,) = pod["spec"]["containers"]
    assert init["securityContext"] == main["securityContext"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    # Its only writable directory is the model volume: every cache points into it.
    writable = {m["mountPath"] for m in init["volumeMounts"] if not m.get("readOnly")}
    assert writable == {MODEL_MOUNT}
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["HF_HOME"].startswith(MODEL_MOUNT + "/") and env["TMPDIR"] == MODEL_MOUNT


# --- where the model comes from: OCI model images and claims (kserve v0.20 pkg/utils/storage.go) ---

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example.com/models/bge-reranker-base@{DIGEST}"


def _with_storage_uri(objects, uri: str):
    objects = copy.deepcopy(objects)
    isvc(objects)["spec"]["predictor"]["model"]["storageUri"] = uri
    return predictor_pod(objects)


@pytest.mark.parametrize("scheme", ["oci", "oci+modelcar"])
def test_should_run_an_oci_model_image_as_kserves_modelcar(cpu_objects, scheme):
    """The model image as a sidecar linking its /models to /mnt/models through /proc/$$/root (so
    the pod shares one process namespace), the same image first as an init container that checks
    the model is there, the emptyDir at /mnt they share, and the server told to wait for the link."""
    pod = _with_storage_uri(cpu_objects, f"{scheme}://{IMAGE}")
    spec = pod["spec"]
    assert spec["shareProcessNamespace"] is True
    main, modelcar = spec["containers"]
    assert (modelcar["name"], modelcar["image"]) == ("modelcar", IMAGE)
    assert modelcar["args"] == ["sh", "-c", "ln -sf /proc/$$$$/root/models /mnt/models && sleep infinity"]
    assert modelcar["volumeMounts"] == [{"name": PROVISION_VOLUME, "mountPath": "/mnt"}]
    assert modelcar["resources"]["limits"] == {"cpu": "10m", "memory": "15Mi"}
    (init,) = spec["initContainers"]  # no storage initializer: nothing is downloaded
    assert (init["name"], init["image"]) == ("modelcar-init", IMAGE)
    assert "[ -d /models ]" in init["args"][2] and "ls -A /models" in init["args"][2]
    assert {"name": PROVISION_VOLUME, "mountPath": "/mnt", "readOnly": False} in main["volumeMounts"]
    assert not any(m["mountPath"] == MODEL_MOUNT for m in main["volumeMounts"])
    assert {"name": "MODEL_INIT_MODE", "value": "async"} in main["env"]
    # KServe's shipped uidModelcar for both: /proc/PID/root takes the same uid
    assert modelcar["securityContext"] == {"runAsUser": 1010}
    assert main["securityContext"]["runAsUser"] == 1010
    assert main["securityContext"]["readOnlyRootFilesystem"] is True  # the rest of the lock-down stays
    assert {"name": PROVISION_VOLUME, "emptyDir": {}} in spec["volumes"]


def test_should_mount_an_oci_native_model_image_as_an_image_volume(cpu_objects):
    pod = _with_storage_uri(cpu_objects, f"oci+native://{IMAGE}")
    spec = pod["spec"]
    (main,) = spec["containers"]
    assert "initContainers" not in spec and "shareProcessNamespace" not in spec
    assert {"name": "mnt-models", "mountPath": MODEL_MOUNT, "subPath": "models", "readOnly": True} in main[
        "volumeMounts"
    ]
    assert {"name": "mnt-models", "image": {"reference": IMAGE, "pullPolicy": "IfNotPresent"}} in spec["volumes"]
    assert not any(e.get("name") == "MODEL_INIT_MODE" for e in main.get("env") or [])


def test_should_mount_a_claim_at_the_model_path_with_its_path_as_subpath(cpu_objects):
    pod = _with_storage_uri(cpu_objects, "pvc://reranker-models/bge-reranker-base/main")
    spec = pod["spec"]
    (main,) = spec["containers"]
    assert "initContainers" not in spec
    mount = {"name": "kserve-pvc-source", "mountPath": MODEL_MOUNT, "subPath": "bge-reranker-base/main"}
    assert {**mount, "readOnly": True} in main["volumeMounts"]
    assert {"name": "kserve-pvc-source", "persistentVolumeClaim": {"claimName": "reranker-models"}} in spec["volumes"]
