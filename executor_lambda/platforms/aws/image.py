"""The function's container image, for a package over Lambda's zip limit: built from its
`Dockerfile` and pushed to an ECR repository, where a docker engine answers."""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
from typing import Any

from executor_lambda.platforms.aws.package import DOCKER_PLATFORMS, ImagePackage

logger = logging.getLogger(__name__)


class ImageError(RuntimeError):
    """The image could not be built or pushed; the message says which step and why."""


def docker_engine_problem() -> str | None:
    """None when a docker engine answers here, else why not."""
    docker = shutil.which("docker")
    if docker is None:
        return "there is no docker command on PATH"
    try:
        done = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "the docker engine did not answer within 30 s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"the docker engine does not answer ({lines[-1] if lines else 'no reason'})"
    return None


def push_image(package: ImagePackage, ecr: Any, repository: str) -> str:
    """Build the image, push it to the ECR repository (created if missing), and return its
    URI, tagged with the package's digest. The registry password goes to docker on stdin."""
    try:
        uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        found = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
        uri = found[0]["repositoryUri"]
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    _docker("login", "--username", user, "--password-stdin", auth["proxyEndpoint"],
            stdin=password)
    image = f"{uri}:{package.digest[:32]}"
    _docker("build", "--platform", DOCKER_PLATFORMS[package.architecture],
            "--provenance=false", "--tag", image, str(package.context))
    _docker("push", image)
    logger.info("pushed %s", image)
    return image


def _docker(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise ImageError(f"docker {args[0]} failed (exit {done.returncode}):\n"
                         f"{done.stderr.strip()[-4000:]}")
