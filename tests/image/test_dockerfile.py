"""The serving image's contract, checked statically (no Docker engine here).

serving/Dockerfile is parsed with BuildKit's own parser (the ``dockerfile`` package); each build
target's settings are what its chain of stages sets last. They are checked against what the
ServingRuntime in base/ expects of the container (command, port, user, writable paths), what
pyproject.toml installs, and what ``make image`` and the bundle's ``images:`` name.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "serving" / "Dockerfile"
TARGETS = ("gpu", "cpu")


@dataclass
class Stage:
    name: str
    base: str
    commands: list = field(default_factory=list)


def parse_stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current = None
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "FROM":
            base, *rest = command.value
            name = rest[1] if len(rest) == 2 and rest[0].upper() == "AS" else str(len(stages))
            current = stages[name] = Stage(name, base)
        elif current is not None:
            current.commands.append(command)
    return stages


STAGES = parse_stages()


def chain(target: str) -> list[Stage]:
    """The target's stages, from the first base image to the target itself."""
    stages = []
    name = target
    while name in STAGES:
        stages.insert(0, STAGES[name])
        name = STAGES[name].base
    return stages


def instructions(target: str, cmd: str) -> list:
    return [c for stage in chain(target) for c in stage.commands if c.cmd == cmd]


def last_value(target: str, cmd: str):
    found = instructions(target, cmd)
    assert found, f"target {target} sets no {cmd}"
    return found[-1].value


def env(target: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for command in instructions(target, "ENV"):
        pairs = command.value
        values.update(zip(pairs[::2], pairs[1::2]))
    return values


def venv_builder(target: str) -> str:
    """The stage whose virtual environment the target copies in (COPY --from=STAGE /opt/venv)."""
    for stage in chain(target):
        for command in stage.commands:
            from_stage = command.cmd == "COPY" and any(f.startswith("--from=") for f in command.flags)
            if from_stage and command.value[0] == "/opt/venv":
                return next(f for f in command.flags if f.startswith("--from=")).removeprefix("--from=")
    raise AssertionError(f"target {target} copies no /opt/venv from a builder stage")


def serving_runtime() -> dict:
    for manifest in sorted((ROOT / "base").glob("*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in ("ServingRuntime", "ClusterServingRuntime"):
                return doc
    pytest.skip("no ServingRuntime in base/ yet")


def runtime_container() -> dict:
    runtime = serving_runtime()
    return next(c for c in runtime["spec"]["containers"] if c["name"] == "kserve-container")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"Makefile sets no {name}"
    return match.group(1)


def test_should_define_the_targets_that_make_image_builds():
    recipe = (ROOT / "Makefile").read_text().split("\nimage:", 1)[1].split("\n\n", 1)[0]
    for target in TARGETS:
        assert target in STAGES, f"serving/Dockerfile has no stage named {target}"
        assert f"--target {target}" in recipe


@pytest.mark.parametrize(
    "name",
    ["BASE_IMAGE", "TORCH_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST"],
)
def test_should_take_the_offline_build_arguments_in_every_stage_that_installs(name):
    # A build argument exists only in the stage that declares it (or before the first FROM,
    # for FROM lines): each stage whose pip reaches an index declares pip's own.
    global_args = [
        c.value[0].split("=")[0]
        for c in dockerfile.parse_file(str(DOCKERFILE))
        if c.cmd == "ARG" and c.start_line < min(s.commands[0].start_line for s in STAGES.values() if s.commands)
    ]
    for stage in STAGES.values():
        installs = [c for c in stage.commands if c.cmd == "RUN" and "pip-build install" in c.value[0]]
        if not installs:
            continue
        declared = {c.value[0].split("=")[0] for c in stage.commands if c.cmd == "ARG"}
        if name == "BASE_IMAGE":
            assert name in global_args
        elif name != "TORCH_INDEX_URL" or "torch" in installs[0].value[0]:
            assert name in declared, f"stage {stage.name} installs with pip but does not declare {name}"


def test_should_mount_build_secrets_only_for_the_runs_that_need_them():
    for stage in STAGES.values():
        for command in stage.commands:
            if command.cmd == "RUN" and "pip-build install" in command.value[0]:
                assert {"--mount=type=secret,id=pip_ca", "--mount=type=secret,id=pip_conf"} <= set(command.flags)
            if command.cmd in ("COPY", "ADD", "ENV"):
                assert "pip_ca" not in " ".join(command.value) and "/run/secrets" not in " ".join(command.value)


def test_should_be_multi_stage_with_the_package_built_apart_from_the_runtime():
    for target in TARGETS:
        builder = venv_builder(target)
        assert builder not in {s.name for s in chain(target)}, "the runtime must not inherit the build stages"
        runs = [c.value[0] for s in chain(builder) for c in s.commands if c.cmd == "RUN"]
        assert any(re.search(r"pip install (--no-deps )?(--no-build-isolation )?\.$", run) for run in runs), runs


@pytest.mark.parametrize("target", TARGETS)
def test_should_install_dependencies_before_copying_the_code(target):
    commands = [c for s in chain(venv_builder(target)) for c in s.commands]
    code_copies = [i for i, c in enumerate(commands) if c.cmd == "COPY" and c.value[0] == "serving"]
    dependency_installs = [
        i for i, c in enumerate(commands) if c.cmd == "RUN" and re.search(r"pip(-build)? install .*-r ", c.value[0])
    ]
    assert code_copies and dependency_installs
    assert max(dependency_installs) < min(code_copies), "a code change would reinstall every dependency"


def test_should_install_vllm_in_the_gpu_image_and_cpu_torch_in_the_cpu_image():
    gpu_runs = " ".join(c.value[0] for s in chain(venv_builder("gpu")) for c in s.commands if c.cmd == "RUN")
    cpu_runs = " ".join(c.value[0] for s in chain(venv_builder("cpu")) for c in s.commands if c.cmd == "RUN")
    # Each target installs its own lock, hash-checked (locks/<target>-py<Python>.txt: the GPU's
    # holds pyproject.toml's vllm extra, the CPU's torch's CPU build).
    assert 'lock="locks/gpu-py' in gpu_runs and 'lock="locks/cpu-py' in cpu_runs
    for runs in (gpu_runs, cpu_runs):
        assert '--require-hashes --no-deps -r "$lock"' in runs
    assert "vllm" in pyproject()["project"]["optional-dependencies"]
    assert "locks/gpu-py" not in cpu_runs
    torch_index = [
        c.value[0] for c in instructions(venv_builder("cpu"), "ARG") if c.value[0].startswith("TORCH_INDEX_URL=")
    ]
    assert torch_index == ["TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu"]
    assert '--index-url "${TORCH_INDEX_URL}"' in cpu_runs


def test_cpu_image_should_pin_the_torch_that_make_setup_installs():
    # make setup installs locks/dev.txt: torch's CPU build, which TORCH_VERSION names for the image.
    pinned = re.search(r"^torch==(\S+) ", (ROOT / "locks" / "dev.txt").read_text(), re.MULTILINE).group(1)
    args = [c.value[0] for c in instructions(venv_builder("cpu"), "ARG")]
    assert f"TORCH_VERSION={pinned.removesuffix('+cpu')}" in args


@pytest.mark.parametrize("target", TARGETS)
def test_should_start_the_console_script_the_runtime_expects(target):
    entrypoint = instructions(target, "ENTRYPOINT")[-1]
    assert entrypoint.json, "exec form, so the server is PID 1 and receives SIGTERM"
    script = entrypoint.value[0]
    assert script in pyproject()["project"]["scripts"], f"{script} is not a console script of the package"
    command = runtime_container().get("command")
    if command:  # a runtime command replaces the entrypoint: it must name the same server
        assert command[0] == script


@pytest.mark.parametrize("target", TARGETS)
def test_should_expose_the_port_the_runtime_serves_on(target):
    exposed = {p.split("/")[0] for c in instructions(target, "EXPOSE") for p in c.value}
    container = runtime_container()
    ports = {str(p["containerPort"]) for p in container["ports"]}
    assert ports <= exposed
    http_port_args = [a.split("=", 1)[1] for a in container.get("args", []) if a.startswith("--http_port=")]
    assert set(http_port_args) <= exposed


@pytest.mark.parametrize("target", TARGETS)
def test_should_run_as_the_numeric_non_root_user_of_the_runtime(target):
    user = last_value(target, "USER")[0].split(":")[0]
    # runAsNonRoot can only be verified by the kubelet for a numeric user.
    assert user.isdigit() and int(user) != 0, user
    security = runtime_container().get("securityContext", {})
    assert security.get("runAsNonRoot") is True
    assert str(security.get("runAsUser", user)) == user


@pytest.mark.parametrize("target", TARGETS)
def test_should_keep_home_and_caches_on_the_runtime_writable_mount(target):
    container = runtime_container()
    if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
        pytest.skip("the runtime's root file system is writable")
    writable = [m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", [])]
    image_env = env(target)
    paths = {
        k: v
        for k, v in image_env.items()
        if v.startswith("/") and (k == "HOME" or re.search(r"CACHE|_HOME$|_ROOT$", k))
    }
    assert {"HOME", "HF_HOME", "VLLM_CACHE_ROOT"} <= set(paths)
    for name, path in paths.items():
        assert any((path.rstrip("/") + "/").startswith(w) for w in writable), f"{name}={path} is read-only"
    runtime_env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for name in set(runtime_env) & set(paths):
        assert runtime_env[name] == paths[name], f"{name}: runtime and image disagree"


@pytest.mark.parametrize("target", TARGETS)
def test_should_carry_oci_labels(target):
    labels = {}
    for command in instructions(target, "LABEL"):
        pairs = command.value
        labels.update({k: shlex.split(v)[0] for k, v in zip(pairs[::2], pairs[1::2])})
    for key in ("title", "description", "version", "source", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"missing label org.opencontainers.image.{key}"
    assert labels["org.opencontainers.image.licenses"] == pyproject()["project"]["license"]


def test_should_copy_only_files_that_exist_and_the_dockerignore_keeps():
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "the context should start from nothing (no .venv, no .git)"
    for stage in STAGES.values():
        for command in stage.commands:
            if command.cmd == "COPY" and not command.flags:
                for source in command.value[:-1]:
                    assert (ROOT / source).exists(), source
                    assert source in kept, f"{source} is excluded by .dockerignore"


def test_should_deploy_the_images_that_make_image_builds():
    repo, tag = makefile_variable("IMAGE_REPO"), makefile_variable("IMAGE_TAG")
    runtime_image = runtime_container()["image"]
    images = yaml.safe_load((ROOT / "base" / "kustomization.yaml").read_text()).get("images", [])
    entry = next(i for i in images if i["name"] == runtime_image)
    assert (entry["newName"], entry["newTag"]) == (repo, f"{tag}-gpu")
    cpu = yaml.safe_load((ROOT / "overlays" / "cpu" / "kustomization.yaml").read_text())
    assert {"name": repo, "newTag": f"{tag}-cpu"} in cpu.get("images", [])
