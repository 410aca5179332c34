"""The function's package: Wukong's own packages plus their dependencies, as wheels for the
Lambda runtime's platform, in one folder; zipped when it fits Lambda's 250 MB unzipped limit,
else a container image's build context (a Dockerfile from AWS's Python base image).

Wheels come from pip, asked for the runtime's platform (`pip download --platform ...
--only-binary=:all: --python-version`), so a package for arm64 builds on an x86 machine and
nothing is compiled. They are kept in a cache folder per runtime and architecture, and the
package installs from there alone (`--no-index`), so a rebuild downloads nothing new. The zip
is deterministic: the same files make the same bytes (sorted entries, fixed times and modes,
no bytecode), so an unchanged package has an unchanged hash.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from executor_lambda.platforms.aws.limits import RUNTIMES, ZIP_UNZIPPED_BYTES

logger = logging.getLogger(__name__)

PROJECT_PACKAGES = ("wukong", "static_scheduler", "executor_lambda", "storage_manager",
                    "kv_proxy")
HANDLER = "executor_lambda.handler.handler"
BASE_IMAGE = "public.ecr.aws/lambda/python"
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
DOCKER_PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
LEFT_OUT = ("bin",)
"""Top-level folders not packaged: console scripts, written with this machine's interpreter."""
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    """The package could not be built; the message says which step and why."""


@dataclass(frozen=True)
class PackageSpec:
    """What to build: for which runtime and architecture, with which requirements (pip
    requirement strings; Wukong's own packages are always in)."""

    architecture: str
    runtime: str
    requirements: tuple[str, ...]

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    def platforms(self) -> list[str]:
        """The manylinux tags the runtime loads, newest first (pip's `--platform` takes each
        literally, except that `manylinux2014` also covers the older 2010 and 1)."""
        machine = MACHINES[self.architecture]
        newest = RUNTIMES[self.runtime]
        return [*(f"manylinux_2_{minor}_{machine}" for minor in range(newest, 17, -1)),
                f"manylinux2014_{machine}"]


@dataclass(frozen=True)
class ZipPackage:
    path: Path
    unzipped_bytes: int
    sha256: str

    @property
    def zipped_bytes(self) -> int:
        return self.path.stat().st_size

    def describe(self) -> str:
        return (f"zip {self.path} ({self.zipped_bytes / 1e6:.1f} MB, "
                f"{self.unzipped_bytes / 1e6:.1f} MB unzipped)")


@dataclass(frozen=True)
class ImagePackage:
    """A container image's build context: `Dockerfile` and the `package` folder it copies."""

    context: Path
    unzipped_bytes: int
    digest: str
    """A hash of the package's files, the image's tag."""
    architecture: str

    @property
    def dockerfile(self) -> Path:
        return self.context / "Dockerfile"

    def describe(self) -> str:
        return f"container image from {self.dockerfile} ({self.unzipped_bytes / 1e6:.1f} MB)"


def wukong_requirements() -> tuple[str, ...]:
    """The installed Wukong's own dependencies, without those of its extras."""
    try:
        required = importlib.metadata.requires("wukong") or []
    except importlib.metadata.PackageNotFoundError:
        raise PackageError("Wukong is not installed as a distribution, so its dependencies "
                           "are unknown: pip install wukong (or pip install -e . in a clone)"
                           ) from None
    return tuple(r for r in required if "extra ==" not in r)


def build(spec: PackageSpec, build_dir: Path, cache_dir: Path,
          max_zip_bytes: int = ZIP_UNZIPPED_BYTES) -> ZipPackage | ImagePackage:
    """Build the package in `build_dir` (replacing what an earlier build left there): a zip
    if its files take at most `max_zip_bytes`, else an image's build context."""
    tree = build_dir / "package"
    shutil.rmtree(build_dir, ignore_errors=True)
    tree.mkdir(parents=True)
    if spec.requirements:
        _install(spec, tree, cache_dir / f"{spec.runtime}-{spec.architecture}")
    for name in LEFT_OUT:
        shutil.rmtree(tree / name, ignore_errors=True)
    for name in PROJECT_PACKAGES:
        shutil.copytree(_package_dir(name), tree / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    files = sorted((p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file())
    size = sum(p.stat().st_size for _, p in files)
    if size <= max_zip_bytes:
        path = build_dir / "function.zip"
        _write_zip(files, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        logger.info("built %s: %d files, %d bytes unzipped", path, len(files), size)
        return ZipPackage(path, size, digest)
    package = ImagePackage(build_dir, size, _tree_digest(files), spec.architecture)
    package.dockerfile.write_text(dockerfile(spec))
    logger.info("package is %d bytes, over %d for a zip: wrote %s", size, max_zip_bytes,
                package.dockerfile)
    return package


def dockerfile(spec: PackageSpec) -> str:
    return (f"# Wukong's executor function for AWS Lambda ({spec.architecture}), written by "
            f"`wukong deploy`.\n"
            f"FROM --platform={DOCKER_PLATFORMS[spec.architecture]} "
            f"{BASE_IMAGE}:{spec.python_version}\n"
            "COPY package/ ${LAMBDA_TASK_ROOT}/\n"
            f'CMD ["{HANDLER}"]\n')


def _install(spec: PackageSpec, tree: Path, wheels: Path) -> None:
    """Download the requirements' wheels for the runtime into `wheels` (what is there
    already counts, so with `PIP_NO_INDEX` a cached build needs no network), then install
    them into `tree` from there alone."""
    wheels.mkdir(parents=True, exist_ok=True)
    target = ["--only-binary=:all:", "--implementation", "cp",
              "--python-version", spec.python_version,
              *(arg for platform in spec.platforms() for arg in ("--platform", platform))]
    _pip("download", "--dest", str(wheels), "--find-links", str(wheels), *target,
         *spec.requirements)
    _pip("install", "--target", str(tree), "--no-index", "--find-links", str(wheels),
         "--no-compile", "--no-warn-script-location", *target, *spec.requirements)


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError(f"pip {args[0]} failed (exit {done.returncode}) building the "
                           f"function's package:\n{done.stderr.strip()[-4000:]}")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise PackageError(f"cannot find Wukong's package {name} to put in the function")
    return Path(spec.origin).parent


def _write_zip(files: list[tuple[str, Path]], path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, file in files:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            mode = 0o755 if file.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes(), compresslevel=6)


def _tree_digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for name, file in files:
        digest.update(name.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()
