"""Creating, updating and deleting the executor function on AWS Lambda, idempotently.

`deploy` builds the package (or takes the image `wukong.aws.image-uri` names), brings the IAM
role and the function to the settings (the first deploy creates them; a later one updates
the code and the configuration in place) and sets the reserved concurrency. `undeploy`
deletes the function, its role, and what deploy stored for it (its ECR repository, its code
in S3); CloudWatch keeps the function's logs. Credentials and the region come from boto3's
usual chain, unless `wukong.aws.region` names the region.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from executor_lambda.platforms.aws.iam import delete_role, ensure_role
from executor_lambda.platforms.aws.image import docker_engine_problem, push_image
from executor_lambda.platforms.aws.limits import ZIP_DIRECT_UPLOAD_BYTES
from executor_lambda.platforms.aws.package import (
    DOCKER_PLATFORMS,
    HANDLER,
    ImagePackage,
    PackageSpec,
    ZipPackage,
    build,
    wukong_requirements,
)
from executor_lambda.platforms.aws.settings import DeploySettings, default_role_name

logger = logging.getLogger(__name__)

CODE_PREFIX = "wukong"
"""Where deploy stores a function's code: S3 keys under `wukong/<function>/`, the ECR
repository `wukong/<function>`."""
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "wukong" / "aws"
ROLE_PROPAGATION_TRIES = 12
ROLE_PROPAGATION_PAUSE_SECONDS = 5.0
"""A new IAM role takes seconds to reach Lambda; until then creating the function fails."""


class DeployError(RuntimeError):
    """The function cannot be deployed as set; the message says why and what to do."""


@dataclass(frozen=True)
class Code:
    package_type: str
    """Lambda's `PackageType`: `Zip` or `Image`."""
    location: dict[str, Any]
    """Lambda's `Code` (`ZipFile`, `S3Bucket` and `S3Key`, or `ImageUri`)."""
    description: str


@dataclass(frozen=True)
class Deployment:
    function_arn: str
    role_arn: str
    code: str
    created: bool

    def summary(self) -> str:
        verb = "created" if self.created else "updated"
        return f"{verb} {self.function_arn}\n  code: {self.code}\n  role: {self.role_arn}"


def deploy(settings: DeploySettings, package: ZipPackage | ImagePackage | None = None,
           session: Any = None) -> Deployment:
    """Create or update the function as `settings` say, with `package` (None: build it)."""
    session = session or _session(settings.region)
    region = session.region_name
    account = session.client("sts").get_caller_identity()["Account"]
    partition = session.get_partition_for_region(region)
    function_arn = f"arn:{partition}:lambda:{region}:{account}:function:{settings.function}"
    code = _code(settings, package, session)
    role_arn, new_role = ensure_role(session.client("iam"), settings.role_name, function_arn,
                                     vpc=bool(settings.subnets))
    lam = session.client("lambda")
    created = _put_function(lam, settings, role_arn, code, new_role)
    if settings.reserved_concurrency is not None:
        lam.put_function_concurrency(FunctionName=settings.function,
                                     ReservedConcurrentExecutions=settings.reserved_concurrency)
    else:
        lam.delete_function_concurrency(FunctionName=settings.function)
    return Deployment(function_arn, role_arn, code.description, created)


def undeploy(function: str, role: str | None = None, region: str | None = None,
             code_bucket: str | None = None, session: Any = None) -> list[str]:
    """Delete the function, its role and its stored code; what was deleted (nothing if
    nothing was there)."""
    session = session or _session(region)
    lam = session.client("lambda")
    removed = []
    try:
        package_type = lam.get_function_configuration(FunctionName=function)["PackageType"]
        lam.delete_function(FunctionName=function)
        removed.append(f"function {function}")
    except lam.exceptions.ResourceNotFoundException:
        package_type = None
    role = role or default_role_name(function)
    if delete_role(session.client("iam"), role):
        removed.append(f"role {role}")
    if package_type == "Image":
        ecr = session.client("ecr")
        try:
            ecr.delete_repository(repositoryName=repository_name(function), force=True)
            removed.append(f"ECR repository {repository_name(function)}")
        except ecr.exceptions.RepositoryNotFoundException:
            pass
    if code_bucket:
        removed += _delete_code(session.client("s3"), code_bucket, function)
    return removed


def repository_name(function: str) -> str:
    return f"{CODE_PREFIX}/{function.lower()}"


def _session(region: str | None) -> Any:
    session = boto3.session.Session(region_name=region)
    if session.region_name is None:
        raise DeployError("no AWS region is set: set AWS_REGION (or a region in your AWS "
                          "profile), or wukong.aws.region")
    return session


def _code(settings: DeploySettings, package: ZipPackage | ImagePackage | None,
          session: Any) -> Code:
    if settings.image_uri:
        return Code("Image", {"ImageUri": settings.image_uri}, f"image {settings.image_uri}")
    if package is None:
        cache = Path(settings.cache_dir) if settings.cache_dir else DEFAULT_CACHE_DIR
        spec = PackageSpec(settings.architecture, settings.runtime,
                           wukong_requirements() + settings.packages)
        package = build(spec, cache / "build" / f"{settings.function}-{settings.architecture}",
                        cache / "wheels")
    if isinstance(package, ZipPackage):
        return _zip_code(settings, package, session)
    problem = docker_engine_problem()
    if problem is not None:
        raise DeployError(
            f"the function's package takes {package.unzipped_bytes / 1e6:.0f} MB unzipped, over "
            f"Lambda's 250 MB for a zip, so it must be a container image; its Dockerfile is "
            f"{package.dockerfile}, but {problem}. Build and push it where docker runs "
            f"(docker build --platform {DOCKER_PLATFORMS[package.architecture]} "
            f"--provenance=false -t URI {package.context} && docker push URI), "
            f"then deploy it with wukong.aws.image-uri (`wukong deploy --image-uri URI`)")
    uri = push_image(package, session.client("ecr"), repository_name(settings.function))
    return Code("Image", {"ImageUri": uri}, f"image {uri} ({package.describe()})")


def _zip_code(settings: DeploySettings, package: ZipPackage, session: Any) -> Code:
    if package.zipped_bytes <= ZIP_DIRECT_UPLOAD_BYTES:
        return Code("Zip", {"ZipFile": package.path.read_bytes()}, package.describe())
    if not settings.code_bucket:
        raise DeployError(f"the function's zip takes {package.zipped_bytes / 1e6:.0f} MB, over "
                          f"the 50 MB Lambda takes in a call: set wukong.aws.code-bucket to an "
                          f"S3 bucket in the function's region to upload it through")
    key = f"{CODE_PREFIX}/{settings.function}/{package.sha256}.zip"
    session.client("s3").upload_file(str(package.path), settings.code_bucket, key)
    return Code("Zip", {"S3Bucket": settings.code_bucket, "S3Key": key},
                f"{package.describe()} via s3://{settings.code_bucket}/{key}")


def _put_function(lam: Any, settings: DeploySettings, role_arn: str, code: Code,
                  new_role: bool) -> bool:
    """Create the function, or update its code and configuration; True if created."""
    config = _configuration(settings, role_arn, code.package_type)
    name = settings.function
    try:
        current = lam.get_function_configuration(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        _create_function(lam, config, code, settings.architecture, new_role)
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        logger.info("created function %s", name)
        return True
    if current.get("PackageType", "Zip") != code.package_type:
        raise DeployError(f"function {name} has a {current['PackageType']} package and the new "
                          f"code is a {code.package_type}; Lambda cannot change a function's "
                          "package type: run `wukong undeploy` first")
    lam.update_function_code(FunctionName=name, Architectures=[settings.architecture],
                             **code.location)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.update_function_configuration(**config)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    logger.info("updated function %s", name)
    return False


def _configuration(settings: DeploySettings, role_arn: str, package_type: str
                   ) -> dict[str, Any]:
    config: dict[str, Any] = {
        "FunctionName": settings.function, "Role": role_arn,
        "Description": "Wukong executor (wukong deploy)",
        "MemorySize": settings.memory, "Timeout": settings.timeout,
        "EphemeralStorage": {"Size": settings.ephemeral_storage},
        "Environment": {"Variables": settings.environment()},
        "VpcConfig": {"SubnetIds": list(settings.subnets),
                      "SecurityGroupIds": list(settings.security_groups)},
    }
    if package_type == "Zip":
        config.update(Runtime=settings.runtime, Handler=HANDLER)
    else:
        config["ImageConfig"] = {"Command": [HANDLER]}
    return config


def _create_function(lam: Any, config: dict[str, Any], code: Code, architecture: str,
                     new_role: bool) -> None:
    for attempt in range(ROLE_PROPAGATION_TRIES):
        try:
            lam.create_function(**config, Code=code.location, PackageType=code.package_type,
                                Architectures=[architecture])
            return
        except lam.exceptions.InvalidParameterValueException as exc:
            waiting = new_role and "cannot be assumed" in str(exc)
            if not waiting or attempt == ROLE_PROPAGATION_TRIES - 1:
                raise
            logger.info("waiting for the new role to reach Lambda (%s)", exc)
            time.sleep(ROLE_PROPAGATION_PAUSE_SECONDS)


def _delete_code(s3: Any, bucket: str, function: str) -> list[str]:
    prefix = f"{CODE_PREFIX}/{function}/"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    if not listed:
        return []
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
    return [f"{len(listed)} code objects under s3://{bucket}/{prefix}"]
