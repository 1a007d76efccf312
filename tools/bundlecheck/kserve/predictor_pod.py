"""The Pod that KServe (v0.20, Standard mode) creates for an InferenceService predictor.

``predictor_container.predictor_container`` gives the merged ``kserve-container``; this module adds
what the pod around it gets (kserve/kserve, pkg/webhook/admission/pod
``storage_initializer_injector.go`` and the predictor's ``buildPodSpec``):

- the ServingRuntime's ``volumes`` and the predictor's own;
- for a ``storageUri``, the ``storage-initializer`` init container of the matching
  ClusterStorageContainer (by ``storageContainerName``, else by URI prefix), called with
  ``[storageUri, /mnt/models]``, writing into the emptyDir ``kserve-provision-location``
  that ``kserve-container`` mounts read-only at ``/mnt/models``;
- the predictor's pod-level fields (securityContext, serviceAccountName,
  automountServiceAccountToken, terminationGracePeriodSeconds, nodeSelector, ...);
- the labels KServe gives predictor pods (predictor_labels.py).

The result is a plain ``v1`` Pod: what a kubelet would be handed, and what ``podman kube play``
can run.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .container_merge import RUNTIME_KINDS
from .predictor_container import KServeCommandError, PredictorContainer, predictor_container
from .predictor_labels import predictor_labels

MODEL_MOUNT = "/mnt/models"
PROVISION_VOLUME = "kserve-provision-location"
STORAGE_INITIALIZER = "storage-initializer"
# PodSpec fields an InferenceService component may set next to its containers.
POD_FIELDS = (
    "serviceAccountName",
    "automountServiceAccountToken",
    "securityContext",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
    "terminationGracePeriodSeconds",
    "topologySpreadConstraints",
    "imagePullSecrets",
    "hostIPC",
    "dnsPolicy",
)


def predictor_pod(objects: list[dict[str, Any]], isvc_name: str | None = None) -> dict[str, Any]:
    """The predictor Pod of the InferenceService ``isvc_name`` (or the only one in ``objects``)."""
    container = predictor_container(objects, isvc_name)
    isvc = next(
        o for o in objects if o.get("kind") == "InferenceService" and o["metadata"]["name"] == container.isvc_name
    )
    predictor = isvc["spec"]["predictor"]
    runtime = next(
        o for o in objects if o.get("kind") in RUNTIME_KINDS and o["metadata"]["name"] == container.runtime_name
    )

    main = copy.deepcopy(container.spec)
    volumes = copy.deepcopy((runtime.get("spec") or {}).get("volumes") or [])
    volumes += copy.deepcopy(predictor.get("volumes") or [])
    init_containers = []
    storage_uri = predictor["model"].get("storageUri")
    if storage_uri:
        init_containers.append(_storage_initializer(objects, predictor, storage_uri, container))
        main["volumeMounts"] = [
            *(main.get("volumeMounts") or []),
            {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True},
        ]
        if not any(v.get("name") == PROVISION_VOLUME for v in volumes):  # a user's volume wins
            volumes.append({"name": PROVISION_VOLUME, "emptyDir": {}})

    spec: dict[str, Any] = {k: copy.deepcopy(predictor[k]) for k in POD_FIELDS if k in predictor}
    for key in ("nodeSelector", "tolerations", "affinity"):  # the runtime's apply when unset
        if key not in spec and (runtime.get("spec") or {}).get(key):
            spec[key] = copy.deepcopy(runtime["spec"][key])
    if init_containers:
        spec["initContainers"] = init_containers
    spec["containers"] = [main]
    spec["volumes"] = volumes
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{container.isvc_name}-predictor",
            "labels": predictor_labels(isvc, runtime),
        },
        "spec": spec,
    }


def _storage_initializer(
    objects: list[dict[str, Any]], predictor: dict[str, Any], storage_uri: str, container: PredictorContainer
) -> dict[str, Any]:
    storage = _storage_container(objects, predictor.get("storageContainerName"), storage_uri, container)
    init = copy.deepcopy(storage["spec"]["container"])
    if init.get("name") != STORAGE_INITIALIZER:
        # KServe finds its init container by this name; another one is injected twice.
        raise KServeCommandError(
            f"ClusterStorageContainer {storage['metadata']['name']}: container name "
            f"{init.get('name')!r}, KServe needs {STORAGE_INITIALIZER!r}"
        )
    init["args"] = [storage_uri, MODEL_MOUNT]
    init["volumeMounts"] = [
        *(init.get("volumeMounts") or []),
        {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT},
    ]
    init.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
    return init


def _storage_container(
    objects: list[dict[str, Any]], wanted: str | None, storage_uri: str, container: PredictorContainer
) -> dict[str, Any]:
    candidates = [o for o in objects if o.get("kind") == "ClusterStorageContainer"]
    if wanted:
        found = [o for o in candidates if o["metadata"]["name"] == wanted]
        if not found:
            raise KServeCommandError(
                f"{container.isvc_name}: storageContainerName {wanted!r} is not among the rendered objects"
            )
        return found[0]
    for candidate in candidates:
        if any(_supports(fmt, storage_uri) for fmt in candidate["spec"].get("supportedUriFormats") or []):
            return candidate
    raise KServeCommandError(
        f"{container.isvc_name}: no rendered ClusterStorageContainer supports {storage_uri!r} "
        "(KServe's built-in default would be used; render it to run the pod here)"
    )


def _supports(uri_format: dict[str, str], uri: str) -> bool:
    if "prefix" in uri_format:
        return uri.startswith(uri_format["prefix"])
    return bool(uri_format.get("regex")) and re.match(uri_format["regex"], uri) is not None
