"""The kind suite's work on its cluster, as data: what it installs before the bundle (cert-manager,
the third-party CRDs the components use, KServe v0.20.0 as KServe installs itself) and how it then
deploys the bundle, one step at a time.

``KServeCluster.run`` (kind_cluster.py) performs each step with kubectl, in this order;
test_kind_install_plan.py checks the order (a namespace before what goes in it, CRDs Established
before their custom resources, webhook-validated applies retried) and that the worst case fits the
CI job. Release files are downloaded only where the suite runs, so what each one holds is declared
below, from the file at its tag.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

E2E_NAMESPACE = "reranker-e2e"  # recreated on every run, so a kept cluster starts clean
ISVC_NAME = "reranker-model"  # the InferenceService of base/
KIND_OVERLAY = Path(__file__).parent / "kind-overlay"
KSERVE_NAMESPACE = "kserve"
KSERVE_VERSION = "v0.20.0"  # the release the whole project pins (storage initializer, CRDs)
# kubectl reports its own timeout before the suite kills it: every call gets this much longer.
KUBECTL_GRACE_S = 15
# The restricted Pod Security Standard, enforced (and warned and audited) in the bundle's namespace.
RESTRICTED = (
    ("pod-security.kubernetes.io/enforce", "restricted"),
    ("pod-security.kubernetes.io/warn", "restricted"),
    ("pod-security.kubernetes.io/audit", "restricted"),
)


@dataclass(frozen=True)
class Webhook:
    """An admission webhook a manifest registers: the Deployment that serves it and the CRDs
    (``plural.group``) whose objects it admits. Until it serves, with its CA injected, those
    objects are refused."""

    namespace: str
    server: str
    admits: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A release file applied whole from its pinned URL, and what it holds (declared)."""

    url: str
    defines: tuple[str, ...] = ()  # CRDs
    creates: tuple[str, ...] = ()  # custom resources, by their CRD's name
    namespaces: tuple[str, ...] = ()  # where its namespaced objects go
    carries_namespaces: tuple[str, ...] = ()  # Namespace objects it holds, ahead of their content
    registers: tuple[Webhook, ...] = ()


@dataclass(frozen=True)
class Retry:
    """Call again every ``delay_s`` while the call fails, until ``within_s`` have passed."""

    within_s: int
    delay_s: int = 10


class Step:
    """One kubectl call: its arguments and standard input, its timeout, and a retry where the
    call may be refused at first."""

    timeout_s: int
    retry: Retry | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    def stdin(self) -> str | None:
        return None

    def worst_case_s(self) -> int:
        """The longest this step can take: its last try may start just before the retry window
        closes, and kubectl is given KUBECTL_GRACE_S to report its own timeout."""
        window = self.retry.within_s if self.retry else 0
        return window + self.timeout_s + KUBECTL_GRACE_S


@dataclass(frozen=True)
class WaitNodesReady(Step):
    timeout_s: int = 180  # pytest-kind creates the cluster without kind's --wait

    def args(self) -> list[str]:
        return ["wait", "--for=condition=Ready", "node", "--all", f"--timeout={self.timeout_s}s"]


@dataclass(frozen=True)
class CreateNamespace(Step):
    """Applied, not created: a kept cluster already has it."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    timeout_s: int = 30

    def args(self) -> list[str]:
        return ["apply", "-f", "-"]

    def stdin(self) -> str:
        metadata = {"name": self.name, "labels": dict(self.labels)}
        return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})


@dataclass(frozen=True)
class DeleteNamespace(Step):
    name: str
    timeout_s: int = 180  # a kept cluster's predictor: KServe's finalizer, then the pod's 30 s grace

    def args(self) -> list[str]:
        return ["delete", "namespace", self.name, "--ignore-not-found", "--wait=true", f"--timeout={self.timeout_s}s"]


@dataclass(frozen=True)
class ApplyManifests(Step):
    manifests: tuple[Manifest, ...]
    # Server-side: KServe's and some third-party CRDs are too large for client-side apply's
    # last-applied annotation.
    server_side: bool = True
    force_conflicts: bool = False
    retry: Retry | None = None
    timeout_s: int = 90

    def args(self) -> list[str]:
        argv = ["apply"]
        for manifest in self.manifests:
            argv += ["-f", manifest.url]
        if self.server_side:
            argv.append("--server-side")
        if self.force_conflicts:
            argv.append("--force-conflicts")
        return argv


@dataclass(frozen=True)
class ApplyKustomization(Step):
    """A kustomization of this repository, applied as users do (``kubectl apply -k``); what it
    holds is rendered where it is checked."""

    path: Path
    namespace: str
    retry: Retry | None = None
    timeout_s: int = 60

    def args(self) -> list[str]:
        return ["apply", "-k", str(self.path), "-n", self.namespace]


@dataclass(frozen=True)
class WaitEstablished(Step):
    crds: tuple[str, ...]
    timeout_s: int = 60

    def args(self) -> list[str]:
        return [
            "wait",
            "--for=condition=Established",
            *(f"crd/{crd}" for crd in self.crds),
            f"--timeout={self.timeout_s}s",
        ]


@dataclass(frozen=True)
class WaitAvailable(Step):
    namespace: str
    deployments: tuple[str, ...]
    timeout_s: int = 300

    def args(self) -> list[str]:
        return [
            "wait",
            "--for=condition=Available",
            "-n",
            self.namespace,
            *(f"deployment/{name}" for name in self.deployments),
            f"--timeout={self.timeout_s}s",
        ]


@dataclass(frozen=True)
class WaitReady(Step):
    namespace: str
    resource: str  # kind/name
    timeout_s: int

    def args(self) -> list[str]:
        return ["wait", "--for=condition=Ready", self.resource, "-n", self.namespace, f"--timeout={self.timeout_s}s"]


@dataclass(frozen=True)
class PatchConfigMap(Step):
    namespace: str
    name: str
    key: str
    value: str
    timeout_s: int = 30

    def args(self) -> list[str]:
        patch = json.dumps({"data": {self.key: self.value}})
        return ["patch", "configmap", self.name, "-n", self.namespace, "--type", "merge", "-p", patch]


# ---- cert-manager -------------------------------------------------------------------------------
# KServe asks for cert-manager >= 1.15 and pins v1.17.0 at its tag (kserve-deps.env); v1.17.2 is
# that minor's patch release. cert-manager.yaml is the chart rendered with its CRDs and namespace.
CERT_MANAGER_CRDS = (
    "certificaterequests.cert-manager.io",
    "certificates.cert-manager.io",
    "challenges.acme.cert-manager.io",
    "clusterissuers.cert-manager.io",
    "issuers.cert-manager.io",
    "orders.acme.cert-manager.io",
)
CERT_MANAGER_WEBHOOK = Webhook("cert-manager", "cert-manager-webhook", CERT_MANAGER_CRDS)
CERT_MANAGER = Manifest(
    url="https://github.com/cert-manager/cert-manager/releases/download/v1.17.2/cert-manager.yaml",
    defines=CERT_MANAGER_CRDS,
    # make/manifests.mk at v1.17.2: deploy/manifests/namespace.yaml first; leader election in kube-system.
    namespaces=("cert-manager", "kube-system"),
    carries_namespaces=("cert-manager",),
    registers=(CERT_MANAGER_WEBHOOK,),
)

# ---- the third-party kinds the components create (CRDs only, no operators) -----------------------
# Each at the release whose schema matches the catalog the validator checks against
# (../shared/crd-schemas: datreeio/CRDs-catalog 7b1e26ef).
EXTERNAL_SECRET_CRD = "externalsecrets.external-secrets.io"  # components/*/external-secret, v1
SEALED_SECRET_CRD = "sealedsecrets.bitnami.com"  # components/*/sealed-secret, v1alpha1
POD_MONITOR_CRD = "podmonitors.monitoring.coreos.com"  # components/monitoring, v1
PROMETHEUS_RULE_CRD = "prometheusrules.monitoring.coreos.com"  # components/monitoring, v1
# components/autoscaling-keda: KServe's controller creates the ScaledObject, and watches
# ScaledObjects only where their CRD exists when it starts, so it comes before KServe.
SCALED_OBJECT_CRD = "scaledobjects.keda.sh"
_RAW = "https://raw.githubusercontent.com"
THIRD_PARTY_CRDS = (
    Manifest(
        f"{_RAW}/external-secrets/external-secrets/v2.6.0/config/crds/bases/external-secrets.io_externalsecrets.yaml",
        defines=(EXTERNAL_SECRET_CRD,),
    ),
    Manifest(
        f"{_RAW}/bitnami-labs/sealed-secrets/v0.36.6/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml",
        defines=(SEALED_SECRET_CRD,),
    ),
    Manifest(
        f"{_RAW}/prometheus-operator/prometheus-operator/v0.91.0/example/prometheus-operator-crd/"
        "monitoring.coreos.com_podmonitors.yaml",
        defines=(POD_MONITOR_CRD,),
    ),
    Manifest(
        f"{_RAW}/prometheus-operator/prometheus-operator/v0.91.0/example/prometheus-operator-crd/"
        "monitoring.coreos.com_prometheusrules.yaml",
        defines=(PROMETHEUS_RULE_CRD,),
    ),
    Manifest(f"{_RAW}/kedacore/keda/v2.17.3/config/crd/bases/keda.sh_scaledobjects.yaml", defines=(SCALED_OBJECT_CRD,)),
)

# ---- KServe, from the release files hack/release/generate-install.sh writes at the tag -----------
_KSERVE_RELEASE = f"https://github.com/kserve/kserve/releases/download/{KSERVE_VERSION}"
KSERVE_CRDS = (  # kserve-crds.yaml: config/crd/full
    "clusterservingruntimes.serving.kserve.io",
    "clusterstoragecontainers.serving.kserve.io",
    "inferencegraphs.serving.kserve.io",
    "inferenceservices.serving.kserve.io",
    "servingruntimes.serving.kserve.io",
    "trainedmodels.serving.kserve.io",
)
# kserve.yaml is config/overlays/all: KServe's controller plus the LLMInferenceService and
# LocalModel controllers, with their CRDs.
KSERVE_ALL_CRDS = (
    *KSERVE_CRDS,
    "inferencemodelrewrites.llm-d.ai",
    "inferenceobjectives.llm-d.ai",
    "inferencepools.inference.networking.k8s.io",
    "inferencepools.inference.networking.x-k8s.io",
    "llminferenceserviceconfigs.serving.kserve.io",
    "llminferenceservices.serving.kserve.io",
    "localmodelcaches.serving.kserve.io",
    "localmodelnamespacecaches.serving.kserve.io",
    "localmodelnodegroups.serving.kserve.io",
    "localmodelnodes.serving.kserve.io",
)
KSERVE_WEBHOOK = Webhook(
    KSERVE_NAMESPACE,
    "kserve-controller-manager",
    (
        "inferenceservices.serving.kserve.io",
        "servingruntimes.serving.kserve.io",
        "clusterservingruntimes.serving.kserve.io",
        "inferencegraphs.serving.kserve.io",
        "trainedmodels.serving.kserve.io",
    ),
)
LLMISVC_WEBHOOK = Webhook(
    KSERVE_NAMESPACE,
    "llmisvc-controller-manager",
    (
        "llminferenceservices.serving.kserve.io",
        "llminferenceserviceconfigs.serving.kserve.io",
    ),
)
LOCALMODEL_WEBHOOK = Webhook(
    KSERVE_NAMESPACE, "kserve-localmodel-controller-manager", ("localmodelcaches.serving.kserve.io",)
)
KSERVE_CRDS_FILE = Manifest(f"{_KSERVE_RELEASE}/kserve-crds.yaml", defines=KSERVE_CRDS)
KSERVE_FILE = Manifest(
    f"{_KSERVE_RELEASE}/kserve.yaml",
    defines=KSERVE_ALL_CRDS,
    # The `default` ClusterStorageContainer (config/storagecontainers), and cert-manager's
    # self-signed Issuer with the webhooks' Certificates.
    creates=("clusterstoragecontainers.serving.kserve.io", "issuers.cert-manager.io", "certificates.cert-manager.io"),
    # Its Namespace is filtered out: yq 'select(.kind != "Namespace")' in generate-install.sh.
    namespaces=(KSERVE_NAMESPACE,),
    registers=(KSERVE_WEBHOOK, LLMISVC_WEBHOOK, LOCALMODEL_WEBHOOK),
)
KSERVE_CLUSTER_RESOURCES = Manifest(
    f"{_KSERVE_RELEASE}/kserve-cluster-resources.yaml",  # config/clusterresources
    creates=("clusterservingruntimes.serving.kserve.io", "llminferenceserviceconfigs.serving.kserve.io"),
    namespaces=(KSERVE_NAMESPACE,),  # the LLMInferenceServiceConfigs
)
KSERVE_CONTROLLERS = (KSERVE_WEBHOOK.server, LLMISVC_WEBHOOK.server, LOCALMODEL_WEBHOOK.server)
# The Deployment's default mode; base/ also names it on the InferenceService itself.
STANDARD_MODE = json.dumps({"defaultDeploymentMode": "Standard"})

INSTALL_PLAN: tuple[Step, ...] = (
    WaitNodesReady(),
    # KServe's script installs cert-manager's Helm chart; cert-manager.yaml is that chart rendered,
    # applied as cert-manager's docs do, with no helm to download.
    ApplyManifests((CERT_MANAGER,), server_side=False),
    WaitEstablished(CERT_MANAGER_CRDS),
    # cert-manager's docs: its webhook takes longest; its API is ready once the webhook serves.
    # 180 s, as KServe's script waits for cert-manager's pods (wait_for_pods).
    WaitAvailable("cert-manager", ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook"), timeout_s=180),
    ApplyManifests(THIRD_PARTY_CRDS),
    WaitEstablished(tuple(crd for manifest in THIRD_PARTY_CRDS for crd in manifest.defines)),
    # kserve.yaml leaves its Namespace out; KServe's scripts apply config/overlays/standalone/kserve,
    # which carries it, where the suite applies the release files users download.
    CreateNamespace(KSERVE_NAMESPACE),
    # hack/setup/infra/manage.kserve-kustomize.sh: the CRDs first (server-side, --force-conflicts),
    # each waited for until Established (wait_for_crds, 60s).
    ApplyManifests((KSERVE_CRDS_FILE,), force_conflicts=True),
    WaitEstablished(KSERVE_CRDS),
    # Then the controllers (server-side). Retried, unlike the tag's script: cert-manager's webhook
    # refuses the Issuer and Certificates until cainjector has injected its CA. --force-conflicts,
    # unlike the tag's: on a kept cluster the patch below owns inferenceservice-config's `deploy`.
    ApplyManifests((KSERVE_FILE,), force_conflicts=True, retry=Retry(within_s=180)),
    # The LLMInferenceService CRDs come with kserve.yaml, and the cluster resources create some.
    WaitEstablished(KSERVE_ALL_CRDS),
    # wait_for_deployment 300s on each controller-manager, as the tag's script does.
    WaitAvailable(KSERVE_NAMESPACE, KSERVE_CONTROLLERS),
    # update_isvc_config deploy.defaultDeploymentMode=Standard. No restart: the controller
    # (Reconcile) and the webhook (Default) read inferenceservice-config on every call.
    PatchConfigMap(KSERVE_NAMESPACE, "inferenceservice-config", "deploy", STANDARD_MODE),
    # The tag's Standard mode applies config/runtimes, retried 3 x 5 s; the release file also holds
    # LLMInferenceServiceConfigs, and a cold kind node gets longer while cainjector injects the CA
    # into the webhooks (KServe's for the runtimes, LLMInferenceService's for its configs).
    ApplyManifests((KSERVE_CLUSTER_RESOURCES,), retry=Retry(within_s=120)),
)

# ---- the bundle --------------------------------------------------------------------------------
# Worst case for the first rollout: the storage initializer's image pull and model download
# (hf://BAAI/bge-reranker-base), then the server's image (loaded) and model load.
ROLLOUT_TIMEOUT_S = 900
DEPLOY_PLAN: tuple[Step, ...] = (
    DeleteNamespace(E2E_NAMESPACE),
    CreateNamespace(E2E_NAMESPACE, labels=RESTRICTED),
    # KServe's webhook admits the ServingRuntime and the InferenceService: it served the cluster
    # resources already, so a short retry covers a restarted controller.
    ApplyKustomization(KIND_OVERLAY, E2E_NAMESPACE, retry=Retry(within_s=60)),
    WaitReady(E2E_NAMESPACE, f"inferenceservice/{ISVC_NAME}", timeout_s=ROLLOUT_TIMEOUT_S),
)

SUITE_PLAN = INSTALL_PLAN + DEPLOY_PLAN  # in the order the suite runs them


def worst_case_s(plan: tuple[Step, ...]) -> int:
    return sum(step.worst_case_s() for step in plan)
