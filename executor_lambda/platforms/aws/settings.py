"""What a deployment of the executor function is made of, checked against Lambda's quotas.

`DeploySettings.of` takes the settings by their names under `wukong.aws.*` (plus
`redis-urls`, `payload-limit` and `signing-key`, which are `wukong.redis.urls`,
`wukong.runtime.payload-limit` and the key in `wukong.security.key-file`), so every error
names the setting a user would change.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement

from executor_lambda.platforms.aws.limits import (
    ARCHITECTURES,
    ASYNC_PAYLOAD_BYTES,
    ENVIRONMENT_BYTES,
    EPHEMERAL_STORAGE_MB,
    FUNCTION_NAME,
    MEMORY_MB,
    ROLE_NAME,
    RUNTIMES,
    TIMEOUT_SECONDS,
    SettingError,
    named,
    one_of,
    within,
)
from executor_lambda.settings import (
    ENV_FUNCTION,
    ENV_PAYLOAD_LIMIT,
    ENV_PLATFORM,
    ENV_PROXY_THRESHOLD,
    ENV_REDIS_URLS,
    ENV_SIGNING_KEY,
)
from storage_manager.protocol import DEFAULT_PAYLOAD_LIMIT
from storage_manager.signing import Signer

logger = logging.getLogger(__name__)

OTHER_SECTIONS = {"redis-urls": "wukong.redis.urls",
                  "payload-limit": "wukong.runtime.payload-limit",
                  "signing-key": "wukong.security.key-file",
                  "proxy-threshold": "wukong.proxy.fanout-threshold"}


def default_role_name(function: str) -> str:
    """The function's role, unless `wukong.aws.role` names another."""
    return f"{function}-role"


def setting_name(name: str) -> str:
    """The full name of a deployment setting, e.g. `memory` -> `wukong.aws.memory`."""
    return OTHER_SECTIONS.get(name, f"wukong.aws.{name}")


@dataclass(frozen=True)
class DeploySettings:
    function: str
    redis_urls: tuple[str, ...] = field(repr=False)
    """With their passwords: kept out of the settings' repr."""
    runtime: str
    signing_key: str = field(repr=False)
    """The deployment's signing key as hex, or `off` (see `storage_manager.signing`)."""
    region: str | None = None
    architecture: str = "x86_64"
    memory: int = 2048
    timeout: int = 900
    ephemeral_storage: int = 512
    reserved_concurrency: int | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    image_uri: str | None = None
    code_bucket: str | None = None
    role: str | None = None
    payload_limit: int = DEFAULT_PAYLOAD_LIMIT
    cache_dir: str | None = None
    proxy_threshold: int = 0
    """The smallest fan-out executors hand to a KV proxy serving the function (0: none)."""

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> DeploySettings:
        """Checked settings from `raw`, keyed by setting names (`ephemeral-storage`); a
        missing one takes its default, an unknown one is an error."""
        known = {f.name.replace("_", "-") for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingError(f"unknown deployment setting {setting_name(unknown[0])}; "
                               f"known: {', '.join(sorted(known))}")
        given = {k.replace("-", "_"): v for k, v in raw.items() if v is not None}
        checked = {
            "function": named(setting_name("function"), given.get("function"), FUNCTION_NAME,
                              "1-64 letters, digits, hyphens or underscores"),
            "redis_urls": _redis_urls(given.get("redis_urls", ())),
            "runtime": _runtime(given.get("runtime")),
            "signing_key": _signing_key(given.get("signing_key")),
            "architecture": one_of(setting_name("architecture"),
                                   given.get("architecture", "x86_64"), ARCHITECTURES),
            "subnets": _strings("subnets", given.get("subnets", ())),
            "security_groups": _strings("security-groups", given.get("security_groups", ())),
            "packages": _requirements(given.get("packages", ())),
        }
        for name, bounds, unit in (("memory", MEMORY_MB, "MB"),
                                   ("timeout", TIMEOUT_SECONDS, "seconds"),
                                   ("ephemeral-storage", EPHEMERAL_STORAGE_MB, "MB"),
                                   ("payload-limit", (1, ASYNC_PAYLOAD_BYTES), "bytes")):
            key = name.replace("-", "_")
            if key in given:
                checked[key] = within(setting_name(name), given[key], bounds, unit)
        if "proxy_threshold" in given:
            checked["proxy_threshold"] = within(setting_name("proxy-threshold"),
                                                given["proxy_threshold"], (0, 1_000_000),
                                                "invocations")
        if "reserved_concurrency" in given:
            checked["reserved_concurrency"] = within(
                setting_name("reserved-concurrency"), given["reserved_concurrency"],
                (1, 1_000_000), "executors")
        if "role" in given:
            checked["role"] = named(setting_name("role"), given["role"], ROLE_NAME,
                                    "an IAM role name (1-64 characters)")
        settings = cls(**{**given, **checked})
        settings._check_together()
        return settings

    @property
    def role_name(self) -> str:
        return self.role or default_role_name(self.function)

    def environment(self) -> dict[str, str]:
        """What the executor reads from its environment (see `ExecutorEnvironment`)."""
        environ = {ENV_REDIS_URLS: ",".join(self.redis_urls), ENV_FUNCTION: self.function,
                   ENV_PAYLOAD_LIMIT: str(self.payload_limit), ENV_PLATFORM: "aws",
                   ENV_SIGNING_KEY: self.signing_key}
        if self.proxy_threshold:
            environ[ENV_PROXY_THRESHOLD] = str(self.proxy_threshold)
        return environ

    def _check_together(self) -> None:
        if bool(self.subnets) != bool(self.security_groups):
            raise SettingError("wukong.aws.subnets and wukong.aws.security-groups go together: "
                               "a function in a VPC needs both")
        if not ROLE_NAME.fullmatch(self.role_name):
            raise SettingError(f"the role name {self.role_name!r} made from the function's is "
                               "over 64 characters: set wukong.aws.role")
        size = sum(len(k) + len(v) for k, v in self.environment().items())
        if size > ENVIRONMENT_BYTES:
            raise SettingError(f"the function's environment would take {size} bytes, over "
                               f"Lambda's {ENVIRONMENT_BYTES}: wukong.redis.urls is too long")


def _runtime(value: Any) -> str:
    here = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if value is None:
        if here not in RUNTIMES:
            raise SettingError(f"this Python ({here}) has no AWS Lambda runtime Wukong runs on; "
                               f"set wukong.aws.runtime to one of {', '.join(RUNTIMES)}")
        return here
    runtime = one_of(setting_name("runtime"), value, tuple(RUNTIMES))
    if runtime != here:
        logger.warning("wukong.aws.runtime is %s but this client runs %s: functions pickled "
                       "by value here may not load there", runtime, here)
    return runtime


def _redis_urls(value: Any) -> tuple[str, ...]:
    urls = _strings("redis-urls", value)
    if not urls:
        raise SettingError("wukong.redis.urls is empty: the function needs the Redis servers it "
                           "reaches, e.g. rediss://:TOKEN@master.NAME.cache.amazonaws.com:6379 "
                           "for ElastiCache with in-transit encryption and AUTH")
    for url in urls:
        scheme = urlsplit(url).scheme
        if scheme not in ("redis", "rediss"):
            raise SettingError(f"wukong.redis.urls: {url!r} is not a redis:// or rediss:// URL "
                               "that a Lambda function can reach")
        if scheme == "redis":
            logger.warning("wukong.redis.urls: %s is not encrypted in transit (rediss://)",
                           urlsplit(url).hostname)
    return urls


def _signing_key(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SettingError("the deployment has no signing key: `wukong deploy` reads it from "
                           "wukong.security.key-file (and creates that file if it is missing)")
    try:
        signer = Signer.from_text(value, "the key in wukong.security.key-file")
    except ValueError as exc:
        raise SettingError(str(exc)) from None
    if not signer.enabled:
        logger.warning("wukong.security.sign-payloads is false: the function will unpickle "
                       "whatever reaches it through Redis or an invocation (INSECURE)")
    return signer.to_text()


def _strings(name: str, value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise SettingError(f"{setting_name(name)} must be a list of names, got {value!r}")
    return items


def _requirements(value: Any) -> tuple[str, ...]:
    requirements = _strings("packages", value)
    for requirement in requirements:
        try:
            Requirement(requirement)
        except InvalidRequirement as exc:
            raise SettingError(f"wukong.aws.packages: {requirement!r} is not a pip "
                               f"requirement: {exc}") from None
    return requirements
