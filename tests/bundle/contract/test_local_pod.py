"""local_pod: the image's defaults from the Dockerfile, and the local stand-ins for a pod."""

from __future__ import annotations

import pytest

from bundlecheck.kserve.predictor_container import PredictorContainer
from tests.support.local_pod import LocalPod, image_defaults, localize

DOCKERFILE = """\
FROM python:3.12-slim AS base
ENV RERANKER_LOG_LEVEL=info OTHER=x
CMD ["--from-base"]

FROM base AS runtime
ENTRYPOINT ["server"]

FROM runtime AS cpu
ENV RERANKER_BACKEND=torch

FROM runtime AS shell
ENTRYPOINT server --flag
CMD ["--kept"]
"""


@pytest.fixture
def dockerfile(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(DOCKERFILE)
    return path


def test_should_read_the_targets_entrypoint_and_server_env_through_its_stages(dockerfile):
    defaults = image_defaults("registry/app:1.0-cpu", dockerfile)
    assert defaults.entrypoint == ["server"]
    assert defaults.cmd is None  # a later ENTRYPOINT drops the inherited CMD, as Docker does
    assert defaults.server_env == {"RERANKER_LOG_LEVEL": "info", "RERANKER_BACKEND": "torch"}


def test_should_run_a_shell_form_entrypoint_under_sh(dockerfile):
    defaults = image_defaults("app:2-shell", dockerfile)
    assert defaults.entrypoint == ["/bin/sh", "-c", "server --flag"] and defaults.cmd == ["--kept"]


def test_should_name_a_tag_without_a_matching_target(dockerfile):
    with pytest.raises(ValueError, match=r"has no target 'gpu'"):
        image_defaults("app:1.0-gpu", dockerfile)


def test_should_swap_mounts_port_and_host_for_local_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("RERANKER_MODEL_ID", "would-override-the-manifest")
    container = PredictorContainer(
        "isvc",
        "runtime",
        {
            "ports": [{"containerPort": 8080}],
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "dshm", "mountPath": "/dev/shm"}],
        },
    )
    argv = ["reranker-server", "--model_dir=/mnt/models", "--http_port", "8080", "--cache=/tmp/c", "--x=/tmpfoo"]
    pod = LocalPod(container, argv, {"HOME": "/tmp"})
    model_dir = tmp_path / "model"  # itself under /tmp: mapped once, not twice
    localize(pod, model_dir, tmp_path / "volumes", 4321)

    assert pod.local_argv[1:] == [
        f"--model_dir={model_dir}",
        "--http_port",
        "4321",
        f"--cache={tmp_path / 'volumes' / 'tmp'}/c",
        "--x=/tmpfoo",
        "--host=127.0.0.1",
    ]
    assert pod.local_env["HOME"] == str(tmp_path / "volumes" / "tmp")
    assert "RERANKER_MODEL_ID" not in pod.local_env
    assert pod.ports == {8080: 4321}
    assert pod.argv[1] == "--model_dir=/mnt/models"  # what the pod runs stays as it was
