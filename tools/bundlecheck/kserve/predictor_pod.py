"""The Pod that KServe (v0.20, Standard mode) creates for an InferenceService predictor.

``predictor_container.predictor_container`` gives the merged ``kserve-container``; this module adds
what the pod around it gets (kserve/kserve, pkg/webhook/admission/pod
``storage_initializer_injector.go`` and the predictor's ``buildPodSpec``):

- the ServingRuntime's ``volumes`` and the predictor's own;
- for a ``storageUri``, the ``storage-initializer`` init container of the matching
  ClusterStorageContainer (by ``storageContainerName``, else by URI prefix), called with
  ``[storageUri, /mnt/models]``, writing into the emptyDir ``kserve-provision-location``
  that ``kserve-container`` mounts read-only at ``/mnt/models``;
- for an OCI storageUri (``pkg/utils/storage.go``, with the cluster's OCI model support on):
  ``oci://`` (or ``oci+modelcar://``) adds the modelcar: the model image as a sidecar that links
  its ``/models`` to ``/mnt/models`` through ``/proc/$$/root`` (hence a shared process
  namespace), the same image as an init container that checks the model is there, the emptyDir
  at ``/mnt`` both mount, and ``MODEL_INIT_MODE=async`` for the server, which the link reaches
  only after it starts; ``oci+native://`` mounts the image's ``models`` folder as an image
  volume instead (``OCI_MODE`` says how a bare ``oci://`` is taken);
- for ``pvc://CLAIM/PATH``, the claim mounted at ``/mnt/models`` (``PATH`` as its subPath);
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
# OCI model images (kserve v0.20 pkg/utils/storage.go and pkg/constants).
MODELCAR = "modelcar"
MODELCAR_INIT = "modelcar-init"
# inferenceservice-config's ociModelMode: how a bare oci:// is taken (KServe's default).
OCI_MODE = "modelcar"
MODELCAR_RESOURCES = {"cpu": "10m", "memory": "15Mi"}  # cpuModelcar, memoryModelcar defaults
# "$$$$": Kubernetes turns "$$" into "$" in args, so the shell gets $$, its own PID.
MODELCAR_COMMAND = f"ln -sf /proc/$$$$/root/models {MODEL_MOUNT} && sleep infinity"
MODELCAR_CHECK = (
    "echo 'Pre-fetching modelcar {image}: ' && [ -d /models ] && [ \"$$(ls -A /models)\" ] && "
    "echo 'OK ... Prefetched and valid (/models exists)' || (echo 'NOK ... Prefetched but modelcar is "
    "invalid (/models does not exist or is empty)' && exit 1)"
)
MODEL_INIT_MODE = "MODEL_INIT_MODE"
# inferenceservice-config's uidModelcar as KServe ships it: the modelcar and the server both run as
# this uid (reaching the model through /proc takes the same one).
UID_MODELCAR = 1010
PVC_VOLUME = "kserve-pvc-source"
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
    init_containers: list[dict[str, Any]] = []
    sidecars: list[dict[str, Any]] = []
    shared_processes = False
    storage_uri = predictor["model"].get("storageUri")
    mode, image = oci_source(storage_uri) if storage_uri else (None, None)
    if image is not None and mode == "native":
        name = MODEL_MOUNT.strip("/").replace("/", "-")
        _add_mount(main, {"name": name, "mountPath": MODEL_MOUNT, "subPath": "models", "readOnly": True})
        _add_volume(volumes, {"name": name, "image": {"reference": image, "pullPolicy": "IfNotPresent"}})
    elif image is not None:
        main["env"] = [e for e in main.get("env") or [] if e.get("name") != MODEL_INIT_MODE]
        main["env"].append({"name": MODEL_INIT_MODE, "value": "async"})
        main["securityContext"] = {**(main.get("securityContext") or {}), "runAsUser": UID_MODELCAR}
        parent = {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT.rsplit("/", 1)[0] or "/"}
        _add_mount(main, {**parent, "readOnly": False})
        _add_volume(volumes, {"name": PROVISION_VOLUME, "emptyDir": {}})
        sidecars.append(_modelcar(MODELCAR, image, ["sh", "-c", MODELCAR_COMMAND], [parent]))
        sidecars[-1]["securityContext"] = {"runAsUser": UID_MODELCAR}
        init_containers.append(_modelcar(MODELCAR_INIT, image, ["sh", "-c", MODELCAR_CHECK.format(image=image)]))
        shared_processes = True
    elif storage_uri and storage_uri.startswith("pvc://"):
        claim, _, sub_path = storage_uri[len("pvc://") :].partition("/")
        _add_mount(main, {"name": PVC_VOLUME, "mountPath": MODEL_MOUNT, "subPath": sub_path, "readOnly": True})
        _add_volume(volumes, {"name": PVC_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    elif storage_uri:
        init_containers.append(_storage_initializer(objects, predictor, storage_uri, container))
        _add_mount(main, {"name": PROVISION_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True})
        _add_volume(volumes, {"name": PROVISION_VOLUME, "emptyDir": {}})

    spec: dict[str, Any] = {k: copy.deepcopy(predictor[k]) for k in POD_FIELDS if k in predictor}
    if shared_processes:
        spec["shareProcessNamespace"] = True
    for key in ("nodeSelector", "tolerations", "affinity"):  # the runtime's apply when unset
        if key not in spec and (runtime.get("spec") or {}).get(key):
            spec[key] = copy.deepcopy(runtime["spec"][key])
    if init_containers:
        spec["initContainers"] = init_containers
    spec["containers"] = [main, *sidecars]
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


def oci_source(storage_uri: str) -> tuple[str | None, str | None]:
    """An OCI storageUri's mode (``modelcar`` or ``native``) and image reference, as KServe's
    ParseOciScheme reads it; (None, None) for any other URI."""
    match = re.match(r"^oci(?:\+([a-z]+))?://(.+)$", storage_uri)
    if match is None:
        return None, None
    return match[1] or OCI_MODE, match[2]


def _add_mount(container: dict[str, Any], mount: dict[str, Any]) -> None:
    mounts = container.setdefault("volumeMounts", [])
    if not any(m.get("name") == mount["name"] for m in mounts):
        mounts.append(mount)


def _add_volume(volumes: list[dict[str, Any]], volume: dict[str, Any]) -> None:
    if not any(v.get("name") == volume["name"] for v in volumes):  # a user's volume wins
        volumes.append(volume)


def _modelcar(name: str, image: str, args: list[str], mounts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "args": args}
    if mounts:
        container["volumeMounts"] = copy.deepcopy(mounts)
    container["resources"] = {"limits": dict(MODELCAR_RESOURCES), "requests": dict(MODELCAR_RESOURCES)}
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    return container


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
