"""What an image suite checks of a built image's Python packages: inside the image, every installed
distribution against the lock the image was built from (locks/<target>-py<major.minor>.txt, which
the image carries at /opt/venv/lock.txt), name for name and version for version; and that
serving/Dockerfile refuses a lock whose hash does not match the file pip downloads."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from depslock.locks import IMAGE_LOCKS, LOCK_DIR, pins
from depslock.sbom import lock_apart
from depslock.verify import LIST_DISTRIBUTIONS, differences, parse_distributions
from imagebuild.build import DOCKERFILE, BuildOptions, build_command, host_pip_sources
from imagebuild.container_engine import ContainerEngine

from tests.support.local_pod import REPO

IMAGE_LOCK_PATH = "/opt/venv/lock.txt"
SERVER = "kserve-reranker"


def python_in(engine: ContainerEngine, tag: str, code: str) -> str:
    return engine.command("run", "--rm", "--entrypoint", "python", tag, "-c", code, timeout=300).stdout


def image_lock_name(engine: ContainerEngine, tag: str, target: str) -> str:
    version = python_in(engine, tag, "import sys; print('%d.%d' % sys.version_info[:2])").strip()
    return f"{target}-py{version}"


def lock_differences(engine: ContainerEngine, tag: str, target: str) -> tuple[str, list[str]]:
    """(the lock's name, what the image's distributions differ from it in: empty when exactly)."""
    name = image_lock_name(engine, tag, target)
    lock = IMAGE_LOCKS[name]
    carried = engine.command("run", "--rm", "--entrypoint", "cat", tag, IMAGE_LOCK_PATH, timeout=120).stdout
    problems = [] if carried == lock.path.read_text() else [f"{IMAGE_LOCK_PATH} is not locks/{lock.path.name}"]
    installed = parse_distributions(python_in(engine, tag, LIST_DISTRIBUTIONS))
    if SERVER not in installed:
        problems.append(f"{SERVER} (the server itself) is not installed")
    wanted = {**pins(lock.path), **lock_apart(lock)}
    return name, problems + differences(installed, wanted, own=(SERVER,))


def tampered_context(target_lock: str, scratch: Path) -> tuple[Path, str]:
    """A build context of serving/Dockerfile whose lock ``target_lock`` holds one package (the
    real lock's first) with its hashes replaced by one that no file has; (context, that package)."""
    context = scratch / "context"
    (context / "serving").mkdir(parents=True)
    shutil.copy(REPO / DOCKERFILE, context / DOCKERFILE)
    shutil.copytree(LOCK_DIR, context / "locks")
    text = (LOCK_DIR / f"{target_lock}.txt").read_text()
    first = re.search(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", text, re.MULTILINE)
    assert first, f"no pinned package in locks/{target_lock}.txt"
    package = f"{first.group(1)}=={first.group(2)}"
    (context / "locks" / f"{target_lock}.txt").write_text(f"{package} \\\n    --hash=sha256:{'0' * 64}\n")
    return context, package


def tampered_build_command(built, context: Path, target: str) -> list[str]:
    """The suite's own build command (this machine's pip sources and CA bundle, the suite's base
    image), for ``target`` of the Dockerfile in ``context``."""
    options = BuildOptions(base_image=built.base_image, torch_index_url="", sources=host_pip_sources())
    argv = build_command(built.engine, target, "localhost/kserve-reranker:test-wrong-hash", options)
    argv[argv.index("-f") + 1] = str(context / DOCKERFILE)
    return [*argv[:-1], str(context)]
