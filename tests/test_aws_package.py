"""The Lambda function's package: the runtime platform's wheels, Wukong's own packages, a
deterministic zip, a wheel cache that serves a rebuild with no index, and a container image's
Dockerfile when the package is over the zip limit. One small dependency (PyYAML, ~1 MB a
platform) keeps the downloads small."""

from __future__ import annotations

import os
import sys
import zipfile

import pytest

from executor_lambda.platforms.aws.package import (
    ImagePackage,
    PackageSpec,
    ZipPackage,
    build,
    dockerfile,
)

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    return tmp_path_factory.mktemp("wheels")


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_lambda_package_holds_the_platforms_wheels_and_wukong(architecture, wheels, tmp_path):
    package = build(PackageSpec(architecture, RUNTIME, ("pyyaml",)), tmp_path, wheels)
    assert isinstance(package, ZipPackage)
    archive = zipfile.ZipFile(package.path)
    names = archive.namelist()
    abi = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    assert f"yaml/_yaml.{abi}-{MACHINE[architecture]}-linux-gnu.so" in names
    (wheel,) = [n for n in names if n.startswith("pyyaml-") and n.endswith(".dist-info/WHEEL")]
    tags = [line for line in archive.read(wheel).decode().splitlines()
            if line.startswith("Tag:")]
    assert tags and all(line.endswith(f"_{MACHINE[architecture]}") and "manylinux" in line
                        for line in tags)
    for module in ("executor_lambda/handler.py", "storage_manager/protocol/lua/step.lua",
                   "wukong/wukong.yaml", "kv_proxy/service.py",
                   "executor_lambda/platforms/aws/invoker.py"):
        assert module in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")
                or n.startswith(("bin/", "benchmarks/"))]
    assert package.unzipped_bytes == sum(info.file_size for info in archive.infolist())


def test_lambda_package_rebuild_is_identical_and_served_by_the_cache(wheels, tmp_path,
                                                                     monkeypatch):
    """A second build, with pip allowed no index and no other wheel source than the cache,
    makes the same bytes."""
    spec = PackageSpec("arm64", RUNTIME, ("pyyaml",))
    first = build(spec, tmp_path / "one", wheels)
    cached = sorted(p.name for p in (wheels / f"{RUNTIME}-arm64").iterdir())
    assert any(name.startswith("pyyaml-") and "aarch64" in name for name in cached)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    second = build(spec, tmp_path / "two", wheels)
    assert second.sha256 == first.sha256
    assert second.path.read_bytes() == first.path.read_bytes()


def test_lambda_package_over_the_zip_limit_is_an_image_context(tmp_path, wheels):
    """Over the limit (here set low), the same files become a container image's context:
    a Dockerfile from AWS's base image for the runtime and architecture."""
    spec = PackageSpec("arm64", RUNTIME, ())
    package = build(spec, tmp_path, wheels, max_zip_bytes=1000)
    assert isinstance(package, ImagePackage)
    assert package.dockerfile.read_text() == dockerfile(spec)
    lines = package.dockerfile.read_text().splitlines()
    version = RUNTIME.removeprefix("python")
    assert f"FROM --platform=linux/arm64 public.ecr.aws/lambda/python:{version}" in lines
    assert 'CMD ["executor_lambda.handler.handler"]' in lines
    assert (package.context / "package" / "executor_lambda" / "handler.py").is_file()
    assert not (tmp_path / "function.zip").exists()
