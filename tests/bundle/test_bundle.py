"""The Kustomize bundle: every kustomization renders, deterministically and the same with each
renderer, and each overlay and component keeps its promises (GPU, dtype, images, secrets, probes).

Everything renders from a copy of the bundle in a temporary directory, where the
secretGenerator's git-ignored ``hf-token.env`` is written from its committed ``.example``, and
where one small kustomization per (overlay, component) pair combines the two.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.utils import parse_quantity

from bundlecheck.model_components import read_claim
from bundlecheck.overlays import bundle_overlays, overlay_dirs
from bundlecheck.render import RENDERERS, available_renderers, render
from reranker.config import Settings

# slow: every test renders the bundle with kustomize (a process per render).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUNDLE_DIRS = ("base", "components", "overlays", "gitops")

# What each GPU overlay must select and serve; test_every_gpu_overlay_should_have_its_expectations
# ties the keys to overlays/.
GPU_OVERLAYS = {
    # overlay: (GPU Feature Discovery product label, dtype)
    "a100": ("NVIDIA-A100-SXM4-40GB", "bfloat16"),
    "h100": ("NVIDIA-H100-80GB-HBM3", "bfloat16"),
    "l4": ("NVIDIA-L4", "bfloat16"),
    "t4": ("Tesla-T4", "float16"),
}
OVERLAYS = [path.name for path in overlay_dirs(REPO)]
# nvidia-gpu is the shared part of the GPU overlays, not an opt-in component. Components nest
# (api-key/external-secret). The model components go on the overlays they claim (MODEL_COMBOS).
# A model source's example/ is the ConfigMap that source reads: rendered before it (combo_components).
OPT_IN_COMPONENTS = sorted(
    str(p.parent.relative_to(REPO / "components"))
    for p in (REPO / "components").rglob("kustomization.yaml")
    if p.parent.name not in ("nvidia-gpu", "example") and (REPO / "components/models") not in p.parents
)
MODEL_COMPONENTS = sorted(f"models/{p.parent.name}" for p in (REPO / "components/models").glob("*/kustomization.yaml"))
MODEL_PAIRS = [
    (overlay, component)
    for component in MODEL_COMPONENTS
    for overlay in read_claim(REPO / "components" / component).fits
]
GITOPS = sorted(str(p.parent.relative_to(REPO)) for p in (REPO / "gitops").rglob("kustomization.yaml"))


def test_every_gpu_overlay_should_have_its_expectations():
    """The overlays are read from overlays/; each one whose pods request a GPU is checked against
    the product and dtype it must have, so a new GPU overlay needs its line in GPU_OVERLAYS."""
    assert sorted(GPU_OVERLAYS) == [overlay.name for overlay in bundle_overlays(REPO) if overlay.gpu]
    assert {overlay.gpu_product for overlay in bundle_overlays(REPO) if overlay.gpu} == {
        product for product, _ in GPU_OVERLAYS.values()
    }


def combo(overlay: str, component: str) -> str:
    return f"combos/{overlay}+{component.replace('/', '-')}"


COMBOS = [combo(o, c) for o in OVERLAYS for c in OPT_IN_COMPONENTS]
MODEL_COMBOS = [combo(o, c) for o, c in MODEL_PAIRS]
TARGETS = ["base", *(f"overlays/{o}" for o in OVERLAYS), *COMBOS, *MODEL_COMBOS, *GITOPS]

SERVING_IMAGE = "ghcr.io/example/kserve-reranker"
STORAGE_INITIALIZER = "kserve/storage-initializer:v0.20.0"
TOKEN_SECRET = "hf-secret"
API_KEY_SECRET = "reranker-api-key"
REAL_LOOKING_TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")


# --- the bundle copy and rendering -------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    for name in BUNDLE_DIRS:
        shutil.copytree(REPO / name, root / name)
    env_file = root / "components/hf-token/secret-env-file/hf-token.env"
    shutil.copy(env_file.with_name("hf-token.env.example"), env_file)
    pairs = [*((o, c) for o in OVERLAYS for c in OPT_IN_COMPONENTS), *MODEL_PAIRS]
    for overlay, component in pairs:
        components = ", ".join(f"../../components/{c}" for c in combo_components(component))
        _write_kustomization(
            root / combo(overlay, component),
            f"resources: [../../overlays/{overlay}]\ncomponents: [{components}]\n",
        )
    return root


def combo_components(component: str) -> list[str]:
    """The component, after its example/ where it has one (a model source's URI)."""
    example = f"{component}/example"
    return [example, component] if (REPO / "components" / example / "kustomization.yaml").is_file() else [component]


def _write_kustomization(directory: Path, body: str) -> None:
    directory.mkdir(parents=True)
    (directory / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body
    )


_rendered: dict[tuple[Path, str], list[dict[str, Any]]] = {}


def rendered(bundle: Path, target: str, renderer: str | None = None) -> list[dict[str, Any]]:
    """Objects of ``target`` rendered once per renderer (the first available by default)."""
    renderer = renderer or available_renderers()[0]
    key = (bundle / target, renderer)
    if key not in _rendered:
        _rendered[key] = render(bundle / target, renderer).objects
    return _rendered[key]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [obj for obj in objects if obj["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, got {len(matches)}"
    return matches[0]


def walk(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under ``key`` anywhere in ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                yield value
            yield from walk(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def model(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return the(objects, "InferenceService")["spec"]["predictor"]["model"]


def server_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = the(objects, "ServingRuntime")["spec"]["containers"]
    return container


def flag_values(args: list[str]) -> dict[str, str]:
    """``--name=value`` args as a dict (a repeated flag: the last wins, as in the server)."""
    return dict(arg[2:].split("=", 1) for arg in args)


# --- rendering ---------------------------------------------------------------------------------


def test_at_least_one_renderer_is_available() -> None:
    assert available_renderers(), "install pykustomize (make setup does) or kubectl"


def test_bundle_has_one_overlay_per_gpu_class_and_cpu() -> None:
    assert sorted(p.name for p in (REPO / "overlays").iterdir()) == OVERLAYS


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("target", TARGETS)
def test_should_render_the_same_objects_twice(bundle: Path, target: str, renderer: str) -> None:
    if renderer not in available_renderers():
        pytest.skip(f"{renderer} is not installed on this machine")
    first = render(bundle / target, renderer).objects
    second = render(bundle / target, renderer).objects
    assert first, f"{target} rendered no objects"
    assert first == second


@pytest.mark.parametrize("target", TARGETS)
def test_should_render_identically_with_every_available_renderer(bundle: Path, target: str) -> None:
    renderers = available_renderers()
    if len(renderers) < 2:
        pytest.skip(f"only {renderers} installed: nothing to compare")
    outputs = [rendered(bundle, target, renderer) for renderer in renderers]
    assert all(output == outputs[0] for output in outputs[1:])


# --- what every overlay promises ---------------------------------------------------------------


@pytest.mark.parametrize("overlay", sorted(GPU_OVERLAYS))
def test_gpu_overlay_requests_exactly_one_gpu_with_request_equal_to_limit(bundle: Path, overlay: str) -> None:
    resources = model(rendered(bundle, f"overlays/{overlay}"))["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == "1"
    assert resources["limits"]["nvidia.com/gpu"] == "1"


def test_cpu_overlay_requests_no_gpu_and_selects_no_gpu_node(bundle: Path) -> None:
    objects = rendered(bundle, "overlays/cpu")
    assert "nvidia.com/gpu" not in str(objects)
    assert "tolerations" not in the(objects, "InferenceService")["spec"]["predictor"]


@pytest.mark.parametrize("overlay", sorted(GPU_OVERLAYS))
def test_gpu_overlay_selects_its_gpu_product_and_tolerates_the_gpu_taint(bundle: Path, overlay: str) -> None:
    predictor = the(rendered(bundle, f"overlays/{overlay}"), "InferenceService")["spec"]["predictor"]
    product, _ = GPU_OVERLAYS[overlay]
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": product}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in predictor["tolerations"]


@pytest.mark.parametrize(
    ("overlay", "dtype"),
    # cpu: auto, the server picks bfloat16 where the CPU computes it natively, else float32.
    [*((name, dtype) for name, (_, dtype) in GPU_OVERLAYS.items()), ("cpu", "auto")],
)
def test_overlay_sets_the_dtype_of_its_card(bundle: Path, overlay: str, dtype: str) -> None:
    assert flag_values(model(rendered(bundle, f"overlays/{overlay}"))["args"])["dtype"] == dtype


@pytest.mark.parametrize("overlay", sorted(GPU_OVERLAYS))
def test_gpu_overlay_sizes_vllm_batches_within_the_model_length(bundle: Path, overlay: str) -> None:
    flags = flag_values(model(rendered(bundle, f"overlays/{overlay}"))["args"])
    # vLLM refuses a step budget smaller than one full-length sequence.
    assert int(flags["max_num_batched_tokens"]) >= int(flags["max_model_len"])
    assert int(flags["max_num_seqs"]) >= 1
    assert 0 < float(flags["gpu_memory_utilization"]) <= 1


def test_cpu_overlay_runs_the_torch_engine_from_the_cpu_image(bundle: Path) -> None:
    objects = rendered(bundle, "overlays/cpu")
    flags = flag_values(model(objects)["args"])
    assert (flags["backend"], flags["device"]) == ("torch", "cpu")
    assert server_container(objects)["image"] == f"{SERVING_IMAGE}:0.1.0-cpu"


@pytest.mark.parametrize("overlay", sorted(GPU_OVERLAYS))
def test_gpu_overlay_runs_the_gpu_image(bundle: Path, overlay: str) -> None:
    image = server_container(rendered(bundle, f"overlays/{overlay}"))["image"]
    assert image == f"{SERVING_IMAGE}:0.1.0-gpu"


@pytest.mark.parametrize("target", ["base", *(f"overlays/{o}" for o in OVERLAYS), *COMBOS, *MODEL_COMBOS])
def test_every_image_is_pinned_and_none_is_latest(bundle: Path, target: str) -> None:
    objects = rendered(bundle, target)
    images = list(walk(objects, "image"))
    assert STORAGE_INITIALIZER in images
    for image in images:
        name = image.split("@")[0].rsplit("/", 1)[-1]
        assert "@sha256:" in image or ":" in name, f"{image} has no tag or digest"
        assert not image.endswith(":latest"), image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_server_args_name_the_model_the_task_and_only_flags_the_server_has(bundle: Path, overlay: str) -> None:
    objects = rendered(bundle, f"overlays/{overlay}")
    args = model(objects)["args"]
    assert args[:2] == ["--model_name=reranker", "--task=score"]
    runtime_args = server_container(objects)["args"]
    assert "--model_name={{.Name}}" in runtime_args
    unknown = set(flag_values(runtime_args + args)) - set(Settings.model_fields)
    assert not unknown, f"flags the server does not define: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resource_requests_do_not_exceed_limits(bundle: Path, overlay: str) -> None:
    resources = model(rendered(bundle, f"overlays/{overlay}"))["resources"]
    for name, request in resources["requests"].items():
        assert parse_quantity(request) <= parse_quantity(resources["limits"][name]), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inference_service_pins_runtime_storage_container_revision_and_mode(bundle: Path, overlay: str) -> None:
    objects = rendered(bundle, f"overlays/{overlay}")
    service = the(objects, "InferenceService")
    assert service["metadata"]["name"] == "reranker-model"
    assert service["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert service["spec"]["predictor"]["storageContainerName"] == "hf-hub"
    assert model(objects)["runtime"] == the(objects, "ServingRuntime")["metadata"]["name"]
    assert model(objects)["modelFormat"] == {"name": "huggingface"}
    assert re.fullmatch(r"hf://BAAI/bge-reranker-base:[0-9a-f]{40}", model(objects)["storageUri"])


def test_storage_container_claims_hf_uris_and_reads_an_optional_token(bundle: Path) -> None:
    storage = the(rendered(bundle, "base"), "ClusterStorageContainer")
    assert storage["metadata"]["name"] == "hf-hub"
    assert storage["spec"]["supportedUriFormats"] == [{"prefix": "hf://"}]
    assert storage["spec"]["container"]["name"] == "storage-initializer"
    token = storage["spec"]["container"]["env"][0]
    assert token["name"] == "HF_TOKEN"
    assert token["valueFrom"]["secretKeyRef"] == {
        "name": TOKEN_SECRET,
        "key": "HF_TOKEN",
        "optional": True,
    }


def test_runtime_probes_hit_the_server_health_routes_on_the_serving_port(bundle: Path) -> None:
    objects = rendered(bundle, "base")
    runtime = the(objects, "ServingRuntime")
    container = server_container(objects)
    assert runtime["metadata"]["name"] == "kserve-reranker"
    assert container["name"] == "kserve-container"
    (port,) = container["ports"]
    assert port["containerPort"] == 8080
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes == {
        "startupProbe": ("/v2/health/live", 8080),
        "readinessProbe": ("/v2/health/ready", 8080),
        "livenessProbe": ("/v2/health/live", 8080),
    }
    assert runtime["spec"]["annotations"]["prometheus.io/port"] == "8080"
    assert runtime["spec"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert {"name": "huggingface", "version": "1", "autoSelect": False} in runtime["spec"]["supportedModelFormats"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_server_runs_non_root_on_a_read_only_root_with_writable_tmp_and_shm(bundle: Path, overlay: str) -> None:
    objects = rendered(bundle, f"overlays/{overlay}")
    container = server_container(objects)
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in the(objects, "ServingRuntime")["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HOME"] == "/tmp"
    assert env["HF_HUB_OFFLINE"] == "1"
    # The storage initializer is as locked down as the server.
    storage = the(objects, "ClusterStorageContainer")["spec"]["container"]
    assert storage["securityContext"] == security
    assert security["runAsUser"] == 1000  # the kserve user of KServe's storage-initializer image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_storage_initializer_writes_its_caches_into_the_model_volume(bundle: Path, overlay: str) -> None:
    # A read-only root leaves /mnt/models (KServe's emptyDir) as the only writable directory.
    container = the(rendered(bundle, f"overlays/{overlay}"), "ClusterStorageContainer")["spec"]["container"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HF_HOME"].startswith("/mnt/models/")
    assert env["TMPDIR"] == "/mnt/models"
    assert env["HF_XET_CHUNK_CACHE_SIZE_BYTES"] == "0"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_predictor_mounts_no_token_and_gives_the_server_time_to_drain(bundle: Path, overlay: str) -> None:
    objects = rendered(bundle, f"overlays/{overlay}")
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    assert predictor["automountServiceAccountToken"] is False
    flags = flag_values(server_container(objects)["args"] + model(objects)["args"])
    drain, timeout = float(flags["drain_seconds"]), float(flags["request_timeout"])
    assert predictor["terminationGracePeriodSeconds"] >= drain + timeout + 5
    assert (drain, timeout) == (
        Settings.model_fields["drain_seconds"].default,
        Settings.model_fields["request_timeout"].default,
    )
    assert predictor["minReplicas"] == 1  # one GPU per replica: availability is opt-in


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [t for t in TARGETS if "secret-env-file" not in t])
def test_no_default_render_carries_a_secret_with_data(bundle: Path, target: str) -> None:
    for obj in rendered(bundle, target):
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), obj["metadata"]["name"]


def test_env_file_component_generates_the_token_secret_the_storage_container_reads(
    bundle: Path,
) -> None:
    objects = rendered(bundle, combo("h100", "hf-token/secret-env-file"))
    secret = the(objects, "Secret")
    reference = the(objects, "ClusterStorageContainer")["spec"]["container"]["env"][0]
    assert secret["metadata"]["name"] == reference["valueFrom"]["secretKeyRef"]["name"]
    token = base64.b64decode(secret["data"]["HF_TOKEN"]).decode()
    example = (REPO / "components/hf-token/secret-env-file/hf-token.env.example").read_text()
    assert f"HF_TOKEN={token}" in example.splitlines()


@pytest.mark.parametrize(
    ("component", "kind", "secret_name_path"),
    [
        ("hf-token/external-secret", "ExternalSecret", ("spec", "target", "name")),
        ("hf-token/sealed-secret", "SealedSecret", ("spec", "template", "metadata", "name")),
    ],
)
def test_secret_components_produce_the_secret_the_storage_container_reads(
    bundle: Path, component: str, kind: str, secret_name_path: tuple[str, ...]
) -> None:
    objects = rendered(bundle, combo("cpu", component))
    node: Any = the(objects, kind)
    for key in secret_name_path:
        node = node[key]
    assert node == TOKEN_SECRET


def test_no_committed_bundle_file_or_render_holds_a_real_looking_token(bundle: Path) -> None:
    for name in BUNDLE_DIRS:
        for path in (REPO / name).rglob("*"):
            if path.is_file():
                assert not REAL_LOOKING_TOKEN.search(path.read_text()), path
    for target in TARGETS:
        rendered_text = str(rendered(bundle, target))
        assert not REAL_LOOKING_TOKEN.search(rendered_text), target
        for secret in (o for o in rendered(bundle, target) if o["kind"] == "Secret"):
            for value in secret.get("data", {}).values():
                assert not REAL_LOOKING_TOKEN.search(base64.b64decode(value).decode()), target


def test_name_prefix_follows_into_the_references_inside_kserve_resources(bundle: Path) -> None:
    # Without base/kustomizeconfig.yaml, kustomize renames the objects but not these fields.
    _write_kustomization(
        bundle / "combos/prefixed",
        "namePrefix: team-a-\n"
        "resources: [../../overlays/cpu]\n"
        "components: [../../components/hf-token/secret-env-file]\n",
    )
    objects = rendered(bundle, "combos/prefixed")
    storage = the(objects, "ClusterStorageContainer")
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    assert predictor["model"]["runtime"] == "team-a-kserve-reranker"
    assert predictor["storageContainerName"] == storage["metadata"]["name"] == "team-a-hf-hub"
    reference = storage["spec"]["container"]["env"][0]["valueFrom"]["secretKeyRef"]["name"]
    assert reference == the(objects, "Secret")["metadata"]["name"] == "team-a-hf-secret"


def test_name_prefix_follows_into_the_selectors_of_the_predictor_pods(bundle: Path) -> None:
    # KServe labels the pods with the InferenceService's (prefixed) name: every selector must
    # carry the new name, or the budget, policy and monitor silently select nothing.
    _write_kustomization(
        bundle / "combos/prefixed-selectors",
        "namePrefix: team-a-\n"
        "resources: [../../overlays/h100]\n"
        "components: [../../components/autoscaling, ../../components/network-policy,"
        " ../../components/monitoring]\n",
    )
    objects = rendered(bundle, "combos/prefixed-selectors")
    name = the(objects, "InferenceService")["metadata"]["name"]
    assert name == "team-a-reranker-model"
    selectors = [
        the(objects, "PodDisruptionBudget")["spec"]["selector"],
        the(objects, "NetworkPolicy")["spec"]["podSelector"],
        the(objects, "PodMonitor")["spec"]["selector"],
        the(objects, "InferenceService")["spec"]["predictor"]["topologySpreadConstraints"][0]["labelSelector"],
    ]
    for selector in selectors:
        assert selector["matchLabels"]["serving.kserve.io/inferenceservice"] == name


# --- opt-in components -------------------------------------------------------------------------


PREDICTOR_SELECTOR = {
    "serving.kserve.io/inferenceservice": "reranker-model",
    "component": "predictor",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaling_component_sets_a_valid_replica_range(bundle: Path, overlay: str) -> None:
    predictor = the(rendered(bundle, f"combos/{overlay}+autoscaling"), "InferenceService")["spec"]["predictor"]
    assert 2 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    assert predictor["scaleMetric"] == "cpu"


@pytest.mark.parametrize("component", ["high-availability", "autoscaling", "autoscaling-keda"])
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicated_components_keep_one_pod_up_through_a_drain_without_blocking_it(
    bundle: Path, overlay: str, component: str
) -> None:
    objects = rendered(bundle, combo(overlay, component))
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    budget = the(objects, "PodDisruptionBudget")["spec"]
    assert predictor["minReplicas"] >= 2
    # maxUnavailable 1 always leaves one eviction; minAvailable could hold a drain forever.
    assert budget["maxUnavailable"] == 1 and "minAvailable" not in budget
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert budget["selector"] == {"matchLabels": PREDICTOR_SELECTOR}
    (spread,) = predictor["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"  # never leaves a replica Pending
    assert spread["labelSelector"] == {"matchLabels": PREDICTOR_SELECTOR}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_component_scales_on_the_servers_queue_through_kserves_autoscaling_spec(
    bundle: Path, overlay: str
) -> None:
    service = the(rendered(bundle, combo(overlay, "autoscaling-keda")), "InferenceService")
    assert service["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "keda"
    predictor = service["spec"]["predictor"]
    assert "scaleMetric" not in predictor  # KServe refuses scaleMetric with KEDA
    (metric,) = predictor["autoScaling"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["backend"] == "prometheus"
    query = metric["external"]["metric"]["query"]
    assert "reranker_queue_pairs" in query
    assert 'serving_kserve_io_inferenceservice="reranker-model"' in query
    threshold = int(metric["external"]["target"]["value"])
    assert metric["external"]["target"]["type"] == "Value"
    # Replicas are added before the server starts shedding load.
    assert 0 < threshold < Settings.model_fields["max_queued_pairs"].default
    assert predictor["minReplicas"] < predictor["maxReplicas"]


def test_monitoring_component_carries_the_labels_the_keda_query_selects(bundle: Path) -> None:
    monitor = the(rendered(bundle, "combos/cpu+monitoring"), "PodMonitor")
    assert set(monitor["spec"]["podTargetLabels"]) == set(PREDICTOR_SELECTOR)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_admits_only_the_gateways_and_monitoring_on_the_serving_port(bundle: Path, overlay: str) -> None:
    objects = rendered(bundle, combo(overlay, "network-policy"))
    policy = the(objects, "NetworkPolicy")["spec"]
    assert policy["podSelector"] == {"matchLabels": PREDICTOR_SELECTOR}
    assert policy["policyTypes"] == ["Ingress"]
    (port,) = server_container(objects)["ports"]
    sources = {}
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"port": port["name"], "protocol": "TCP"}]
        for peer in rule["from"]:
            # A namespace, or pods within one: never an ipBlock, never every namespace.
            assert set(peer) <= {"namespaceSelector", "podSelector"} and "namespaceSelector" in peer
            namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            sources[namespace] = peer.get("podSelector", {}).get("matchLabels")
    assert sources == {
        "istio-system": None,  # Istio's ingress gateway (KServe's Ingress)
        "kserve": None,  # KServe's Gateway API gateway, where its proxy runs in the Gateway's namespace
        # Envoy Gateway's proxy for that same Gateway, in Envoy Gateway's namespace: those pods only.
        "envoy-gateway-system": {
            "gateway.envoyproxy.io/owning-gateway-name": "kserve-ingress-gateway",
            "gateway.envoyproxy.io/owning-gateway-namespace": "kserve",
        },
        "monitoring": None,  # Prometheus
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_key_component_reads_the_key_from_a_secret_only(bundle: Path, overlay: str) -> None:
    objects = rendered(bundle, combo(overlay, "api-key"))
    env = {e["name"]: e for e in server_container(objects)["env"]}
    assert env["RERANKER_API_KEY"] == {
        "name": "RERANKER_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": API_KEY_SECRET, "key": "api-key"}},
    }
    assert not any(a.startswith("--api_key") for args in walk(objects, "args") for a in args)
    assert not [o for o in objects if o["kind"] == "Secret"]  # the key is never in the bundle


@pytest.mark.parametrize(
    ("component", "kind", "secret_name_path"),
    [
        ("api-key/external-secret", "ExternalSecret", ("spec", "target", "name")),
        ("api-key/sealed-secret", "SealedSecret", ("spec", "template", "metadata", "name")),
    ],
)
def test_api_key_secret_components_produce_the_secret_the_server_reads(
    bundle: Path, component: str, kind: str, secret_name_path: tuple[str, ...]
) -> None:
    node: Any = the(rendered(bundle, combo("cpu", component)), kind)
    for key in secret_name_path:
        node = node[key]
    assert node == API_KEY_SECRET


def test_monitoring_component_scrapes_the_server_port_of_this_inference_service(
    bundle: Path,
) -> None:
    objects = rendered(bundle, "combos/cpu+monitoring")
    monitor = the(objects, "PodMonitor")
    service_name = the(objects, "InferenceService")["metadata"]["name"]
    assert monitor["spec"]["selector"]["matchLabels"] == {"serving.kserve.io/inferenceservice": service_name}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    port_names = [port["name"] for port in server_container(objects)["ports"]]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"


# --- GitOps entry points -----------------------------------------------------------------------


def test_argocd_application_deploys_an_existing_overlay_after_the_kserve_crds(
    bundle: Path,
) -> None:
    apps = {a["metadata"]["name"]: a for a in rendered(bundle, "gitops/argocd/app")}
    crds, reranker = apps["kserve-crd"], apps["kserve-reranker"]
    wave = "argocd.argoproj.io/sync-wave"
    assert int(crds["metadata"]["annotations"][wave]) < int(reranker["metadata"]["annotations"][wave])
    assert crds["spec"]["source"]["targetRevision"] == STORAGE_INITIALIZER.split(":")[1]
    assert (REPO / reranker["spec"]["source"]["path"] / "kustomization.yaml").is_file()
    assert "ServerSideApply=true" in reranker["spec"]["syncPolicy"]["syncOptions"]


def test_argocd_applicationset_only_offers_overlays_that_exist(bundle: Path) -> None:
    appset = the(rendered(bundle, "gitops/argocd/appset"), "ApplicationSet")
    (generator,) = appset["spec"]["generators"]
    (expression,) = generator["clusters"]["selector"]["matchExpressions"]
    assert sorted(expression["values"]) == OVERLAYS
    assert "ServerSideApply=true" in appset["spec"]["template"]["spec"]["syncPolicy"]["syncOptions"]


def test_flux_reranker_depends_on_the_kserve_crds_and_points_at_an_overlay(
    bundle: Path,
) -> None:
    objects = rendered(bundle, "gitops/flux")
    kustomizations = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Kustomization"}
    reranker = kustomizations["kserve-reranker"]
    assert reranker["spec"]["dependsOn"] == [{"name": "kserve-crds"}]
    assert (REPO / reranker["spec"]["path"] / "kustomization.yaml").is_file()
    crds_path = kustomizations["kserve-crds"]["spec"]["path"]
    assert (REPO / crds_path / "kustomization.yaml").is_file()
    assert kustomizations["kserve-crds"]["spec"]["wait"] is True
    namespace = the(objects, "Namespace")["metadata"]["name"]
    assert reranker["spec"]["targetNamespace"] == namespace
    chart = the(rendered(bundle, crds_path), "OCIRepository")
    assert chart["spec"]["ref"]["tag"] == STORAGE_INITIALIZER.split(":")[1]
