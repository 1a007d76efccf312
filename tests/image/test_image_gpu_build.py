"""The GPU image's build takes the host's pip sources as the CPU image's does, less the CPU-only
PyTorch wheels a wheel directory may hold for the CPU image: pip would install those in place of
the CUDA torch vLLM pins (their local version, +cpu, sorts above the CUDA build's)."""

from __future__ import annotations

from imagebuild.build import WHEEL_MOUNT, BuildOptions, PipSources, build_command, without_cpu_only_wheels
from imagebuild.container_engine import ContainerEngine

CPU_TORCH = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
OTHER = "tokenizers-0.22.0-cp39-abi3-manylinux_2_17_x86_64.whl"


def wheel_dir(path, *names):
    path.mkdir()
    for name in names:
        (path / name).write_bytes(b"PK")
    return path


def test_should_leave_the_cpu_only_torch_out_of_a_wheel_directory_and_keep_the_rest(tmp_path):
    wheels = wheel_dir(tmp_path / "wheels", CPU_TORCH, OTHER)
    sources = PipSources(
        find_links=[str(wheels), "https://mirror.example/wheels/"], index_url="https://pypi.example/simple"
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    kept = without_cpu_only_wheels(sources, scratch)
    copy = next(link for link in kept.find_links if link.startswith(str(scratch)))
    assert sorted(p.name for p in (scratch / copy).iterdir()) == [OTHER]
    assert kept.find_links == [copy, "https://mirror.example/wheels/"]
    assert sorted(p.name for p in wheels.iterdir()) == sorted([CPU_TORCH, OTHER]), "the host's directory is untouched"
    assert kept.index_url == sources.index_url
    assert len(sources.skipped) == 1 and CPU_TORCH in sources.skipped[0] and str(wheels) in sources.skipped[0]
    argv = build_command(ContainerEngine("podman"), "gpu", "t", BuildOptions(sources=kept))
    assert f"{copy}:{WHEEL_MOUNT}/0:ro" in argv


def test_should_drop_a_wheel_directory_that_holds_only_cpu_only_wheels(tmp_path):
    wheels = wheel_dir(tmp_path / "wheels", CPU_TORCH)
    untouched = wheel_dir(tmp_path / "other", OTHER)
    sources = PipSources(find_links=[str(wheels), str(untouched)])
    kept = without_cpu_only_wheels(sources, tmp_path)
    assert kept.find_links == [str(untouched)]
    assert [note.split(":")[0] for note in sources.skipped] == [f"find-links {wheels}"]
