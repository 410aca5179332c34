"""AWS Lambda's quotas, checked before AWS sees a setting, so a bad one fails early and the
error names the setting."""

from __future__ import annotations

import re
from typing import Any

MEMORY_MB = (128, 10_240)
TIMEOUT_SECONDS = (1, 900)
EPHEMERAL_STORAGE_MB = (512, 10_240)
ASYNC_PAYLOAD_BYTES = 1_048_576
"""An asynchronous (`Event`) invocation's payload; 256 KB until October 2025."""
SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
"""A synchronous (`RequestResponse`) invocation's request and response."""
ZIP_UNZIPPED_BYTES = 262_144_000
"""A zip package's unzipped contents (250 MB); larger ones must be container images."""
ZIP_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024
"""A zip package sent in the API call itself; larger ones go through S3."""
ENVIRONMENT_BYTES = 4096
"""The function's environment variables, names and values together."""
RUNTIMES = {"python3.10": 26, "python3.11": 26, "python3.12": 34, "python3.13": 34,
            "python3.14": 34}
"""Lambda's Python runtimes that Wukong runs on (it needs Python 3.10 or later), each with
the glibc 2.x of its OS (Amazon Linux 2: 2.26; 2023: 2.34), the newest manylinux it loads."""
ARCHITECTURES = ("x86_64", "arm64")
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")


class SettingError(ValueError):
    """A setting AWS Lambda would refuse; the message names the setting."""


def within(setting: str, value: Any, bounds: tuple[int, int], unit: str) -> int:
    """`value` as a whole number within `bounds` (inclusive), else a `SettingError`."""
    low, high = bounds
    number = _whole(value)
    if number is None or not low <= number <= high:
        raise SettingError(f"{setting} must be a whole number of {unit} from {low:,} to "
                           f"{high:,} (AWS Lambda's limits), got {value!r}")
    return number


def _whole(value: Any) -> int | None:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def one_of(setting: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SettingError(f"{setting} must be one of {', '.join(choices)}, got {value!r}")
    return value


def named(setting: str, value: Any, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SettingError(f"{setting} must be {what}, got {value!r}")
    return value
