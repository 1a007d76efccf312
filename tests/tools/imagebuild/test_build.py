"""The image build's command line: this machine's pip sources handed to the build, the CPU
torch source, the secrets."""

from __future__ import annotations

import pytest
from imagebuild.build import (
    TORCH_CPU_INDEX,
    WHEEL_MOUNT,
    BuildOptions,
    PipSources,
    build_command,
    dockerfile_arg,
    parse_pip_config,
    torch_index_for,
)
from imagebuild.container_engine import ContainerEngine


def build_args(command: list[str]) -> dict[str, str]:
    values = [command[i + 1] for i, arg in enumerate(command) if arg == "--build-arg"]
    return dict(value.split("=", 1) for value in values)


def flag_values(command: list[str], flag: str) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == flag]


@pytest.fixture
def wheels(tmp_path):
    directory = tmp_path / "wheels"
    directory.mkdir()
    return directory


def test_should_read_pips_sources_with_its_environment_winning(wheels, tmp_path):
    listed = (
        "global.cert='/etc/ssl/certs/ca-certificates.crt'\n"
        "global.index-url='https://pypi.internal/simple'\n"
        f"global.find-links='{tmp_path / 'gone'}'\n"
        "global.extra-index-url='file:///opt/pypi/simple https://mirror.internal/simple'\n"
        "global.trusted-host='mirror.internal'\n"
        f":env:.find-links='{wheels}'\n"
    )
    sources = parse_pip_config(listed)
    assert sources.cert == "/etc/ssl/certs/ca-certificates.crt"
    assert sources.index_url == "https://pypi.internal/simple"
    assert sources.extra_index_urls == ["https://mirror.internal/simple"]
    assert sources.find_links == [str(wheels)]  # the env's value replaces the file's
    assert sources.trusted_hosts == ["mirror.internal"]
    assert sources.skipped == ["index file:///opt/pypi/simple: a local directory index (serve it over HTTP to use it)"]


def test_should_note_a_wheel_directory_that_is_not_there(tmp_path):
    sources = parse_pip_config(f"global.find-links='{tmp_path / 'gone'}'\n")
    assert sources.find_links == []
    assert sources.skipped == [f"find-links {tmp_path / 'gone'}: not a directory here"]


def test_should_read_nothing_from_a_pip_without_configuration():
    assert parse_pip_config("") == PipSources()


def test_should_mount_wheel_directories_read_only_for_podman(wheels):
    options = BuildOptions(sources=PipSources(find_links=[str(wheels), "https://wheels.internal/"]))
    command = build_command(ContainerEngine("podman"), "cpu", "reranker:cpu", options)
    assert flag_values(command, "-v") == [f"{wheels}:{WHEEL_MOUNT}/0:ro"]
    assert build_args(command)["PIP_FIND_LINKS"] == f"{WHEEL_MOUNT}/0 https://wheels.internal/"


def test_should_say_docker_cannot_mount_a_wheel_directory(wheels):
    sources = PipSources(find_links=[str(wheels)])
    command = build_command(ContainerEngine("docker"), "cpu", "reranker:cpu", BuildOptions(sources=sources))
    assert "-v" not in command and "PIP_FIND_LINKS" not in build_args(command)
    assert sources.skipped == [f"find-links {wheels}: docker cannot mount it at build time"]


def test_should_hand_the_ca_bundle_and_pip_conf_as_secrets_not_build_args(tmp_path):
    options = BuildOptions(sources=PipSources(cert="/etc/ssl/ca.pem"), pip_conf=str(tmp_path / "pip.conf"))
    command = build_command(ContainerEngine("podman"), "gpu", "reranker:gpu", options)
    assert flag_values(command, "--secret") == [
        "id=pip_ca,src=/etc/ssl/ca.pem",
        f"id=pip_conf,src={tmp_path / 'pip.conf'}",
    ]
    assert not any("ca.pem" in value or "pip.conf" in value for value in build_args(command).values())


def test_should_build_the_target_from_the_repository_root_with_the_base_and_torch_source():
    options = BuildOptions(base_image="localhost/base:1", torch_index_url="", version="1.2.3")
    command = build_command(ContainerEngine("podman"), "cpu", "reranker:1.2.3-cpu", options)
    assert command[:7] == ["build", "-f", "serving/Dockerfile", "--target", "cpu", "-t", "reranker:1.2.3-cpu"]
    assert command[-1] == "."
    assert build_args(command) == {"BASE_IMAGE": "localhost/base:1", "TORCH_INDEX_URL": "", "VERSION": "1.2.3"}


def test_should_take_torch_from_a_wheel_directory_that_holds_the_cpu_wheel(wheels):
    version = dockerfile_arg("TORCH_VERSION")
    sources = PipSources(find_links=[str(wheels)])
    assert torch_index_for(sources, version) == TORCH_CPU_INDEX
    (wheels / f"torch-{version}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert torch_index_for(sources, version) == ""
    assert torch_index_for(sources, "0.0.1") == TORCH_CPU_INDEX


def test_should_refuse_an_argument_the_dockerfile_does_not_declare():
    with pytest.raises(ValueError, match="declares no ARG NO_SUCH_ARG"):
        dockerfile_arg("NO_SUCH_ARG")
