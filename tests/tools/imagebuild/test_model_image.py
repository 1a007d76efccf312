"""The modelcar image's parts (imagebuild/model_image.py): the build context KServe's commands
need and nothing more, the labels, the static busybox. tests/image/test_model_image.py builds the
image with podman and runs it as KServe would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from imagebuild import model_image
from imagebuild.model_image import (
    CONTAINERFILE,
    USERLAND,
    ModelImageError,
    build_context,
    busybox_from_debian_package,
    file_digests,
    find_busybox,
    is_static_elf,
    model_labels,
)


@pytest.fixture
def model_dir(tmp_path) -> Path:
    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text('{"model_type": "bert"}')
    (model / "1_Pooling" / "config.json").write_text("{}")
    (model / ".cache").mkdir()  # hub download leftovers: not part of the model
    (model / ".cache" / "lock").write_text("")
    os.chmod(model / "config.json", 0o600)  # a private file must still be readable in the image
    return model


def fake_busybox(path: Path) -> Path:
    path.write_bytes(b"\x7fELF" + b"\0" * 60)  # an ELF header with no program headers: static
    return path


def test_should_lay_out_the_model_under_models_and_only_the_applets_kserve_calls(model_dir, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    digests = build_context(model_dir, fake_busybox(tmp_path / "busybox"), context)
    assert (context / "Containerfile").read_text() == CONTAINERFILE
    assert CONTAINERFILE.startswith("FROM scratch\n") and "RUN" not in CONTAINERFILE
    assert "USER 1000:0" in CONTAINERFILE  # the serving image's uid and gid: /proc/PID/root needs both
    names = sorted(p.name for p in (context / "bin").iterdir())
    assert names == sorted(["busybox", *USERLAND])
    assert set(USERLAND) == {"sh", "ln", "sleep", "ls", "mkdir"}
    for applet in USERLAND:
        assert os.readlink(context / "bin" / applet) == "busybox"
    models = context / "models"
    assert sorted(p.relative_to(models).as_posix() for p in models.rglob("*")) == [
        "1_Pooling",
        "1_Pooling/config.json",
        "config.json",
    ]
    assert (models / "config.json").stat().st_mode & 0o777 == 0o644
    assert (models / "1_Pooling").stat().st_mode & 0o777 == 0o755
    assert digests == file_digests(models)


def test_should_refuse_a_directory_without_a_model(tmp_path):
    (tmp_path / "context").mkdir()
    with pytest.raises(ModelImageError, match="no config.json"):
        build_context(tmp_path, fake_busybox(tmp_path / "busybox"), tmp_path / "context")


def test_should_label_the_model_its_revision_and_each_files_digest(model_dir):
    digests = file_digests(model_dir)
    assert digests["config.json"] == hashlib.sha256(b'{"model_type": "bert"}').hexdigest()
    labels = model_labels("BAAI/bge-reranker-base", "2cfc18c9415c912f9d8155881c133215df768a70", digests)
    assert labels["org.opencontainers.image.title"] == "BAAI/bge-reranker-base"
    assert labels["org.opencontainers.image.revision"] == "2cfc18c9415c912f9d8155881c133215df768a70"
    assert json.loads(labels["io.kserve-reranker.model.files"]) == digests


def test_should_tell_a_static_executable_from_a_dynamic_one(tmp_path):
    assert is_static_elf(fake_busybox(tmp_path / "static"))
    assert not is_static_elf(Path(sys.executable).resolve())  # CPython: linked against libc
    (tmp_path / "script").write_text("#!/bin/sh\n")
    assert not is_static_elf(tmp_path / "script")


def test_should_refuse_a_given_busybox_that_is_not_static(tmp_path):
    with pytest.raises(ModelImageError, match="not a statically linked busybox"):
        find_busybox(tmp_path, str(Path(sys.executable).resolve()))


def test_should_take_a_static_busybox_from_busybox_or_the_usual_places(tmp_path, monkeypatch):
    given = fake_busybox(tmp_path / "busybox")
    monkeypatch.setenv("BUSYBOX", str(given))
    assert find_busybox(tmp_path / "work") == given


@pytest.mark.skipif(not (shutil.which("apt-get") and shutil.which("dpkg-deb")), reason="needs apt-get and dpkg-deb")
def test_should_fetch_a_static_busybox_from_the_debian_package_without_installing_it(tmp_path, monkeypatch):
    """Where no static busybox is installed (a host with the dynamic one, which conflicts with
    busybox-static), the package is downloaded and unpacked, not installed."""
    monkeypatch.delenv("BUSYBOX", raising=False)
    monkeypatch.setattr(model_image, "BUSYBOX_PATHS", ())
    which = shutil.which
    monkeypatch.setattr(model_image.shutil, "which", lambda name: which(name) if name != "busybox" else None)
    found = find_busybox(tmp_path)
    assert found.is_relative_to(tmp_path) and is_static_elf(found)
    assert busybox_from_debian_package(tmp_path / "again").name == "busybox"


def test_should_need_a_commit_hash_to_package_a_hub_model(capsys):
    assert model_image.main(["--hub-id", "BAAI/bge-reranker-base", "--revision", "main"]) == 1
    assert "full commit hash" in capsys.readouterr().err
    assert model_image.main(["--hub-id", "BAAI/bge-reranker-base"]) == 1
    assert "needs --revision" in capsys.readouterr().err
