"""`wukong.deploy()` and `wukong.undeploy()`: the executor function on AWS Lambda, set by
`wukong.aws.*` (and `wukong.redis.urls`, `wukong.runtime.payload-limit`, the signing key of
`wukong.security.key-file`), which keyword arguments override (`ephemeral_storage=1024` for
`wukong.aws.ephemeral-storage`).

boto3 is imported only when one is called (`pip install "wukong[aws]"`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dask.config

from executor_lambda.platforms.aws.settings import DeploySettings
from wukong.key_files import deployment_key
from wukong.settings_table import check_all

if TYPE_CHECKING:
    from executor_lambda.platforms.aws.deploy import Deployment
    from executor_lambda.platforms.aws.package import ImagePackage, ZipPackage

UNDEPLOY_SETTINGS = ("function", "role", "region", "code-bucket")


def deploy(package: ZipPackage | ImagePackage | None = None, **overrides: Any) -> Deployment:
    """Create or update the function (its package built unless `package` is given, or the
    image `wukong.aws.image-uri` names is used), its IAM role and its concurrency."""
    settings = deploy_settings(**overrides)
    return _aws().deploy(settings, package)


def undeploy(**overrides: Any) -> list[str]:
    """Delete the function, its role and the code deploy stored for it; what was deleted.
    Takes `function`, `role`, `region` and `code_bucket`."""
    raw = {name: dask.config.get(f"wukong.aws.{name}") for name in UNDEPLOY_SETTINGS}
    raw.update(_names(overrides, UNDEPLOY_SETTINGS))
    return _aws().undeploy(raw["function"], raw["role"], raw["region"], raw["code-bucket"])


def deploy_settings(**overrides: Any) -> DeploySettings:
    """The checked settings of a deployment: `wukong.aws.*` with `overrides` on top."""
    check_all()
    raw = dict(dask.config.get("wukong.aws"))
    raw.pop("prices")  # what a job costs (see `wukong.measurement.cost`), not part of the function
    raw.pop("endpoint-url")  # where clients invoke it, not part of the function
    raw["redis-urls"] = dask.config.get("wukong.redis.urls")
    raw["payload-limit"] = dask.config.get("wukong.runtime.payload-limit")
    if dask.config.get("wukong.proxy.enabled"):  # executors hand large fan-outs to a KV proxy
        raw["proxy-threshold"] = dask.config.get("wukong.proxy.fanout-threshold")
    raw.update(_names(overrides, None))
    if isinstance(raw.get("function"), str) and raw["function"]:
        raw["signing-key"] = deployment_key(raw["function"])
    return DeploySettings.of(raw)


def _names(overrides: dict[str, Any], allowed: tuple[str, ...] | None) -> dict[str, Any]:
    named = {key.replace("_", "-"): value for key, value in overrides.items()
             if value is not None}
    unknown = sorted(set(named) - set(allowed)) if allowed is not None else []
    if unknown:
        takes = ", ".join(name.replace("-", "_") for name in allowed)
        raise TypeError(f"undeploy() takes {takes}, not {unknown[0].replace('-', '_')}")
    return named


def _aws() -> Any:
    try:
        from executor_lambda.platforms.aws import deploy as aws_deploy
    except ImportError as exc:
        raise ImportError(f"deploying to AWS Lambda needs boto3 ({exc}): "
                          'pip install "wukong[aws]"') from exc
    return aws_deploy
