"""Wukong's settings live in `dask.config` under `wukong.*`, with defaults shipped here, so
`dask.config.set(...)`, YAML files and `DASK_WUKONG__...` environment variables all work."""

from __future__ import annotations

import pathlib
from typing import Any

import dask.config
import yaml

_DEFAULTS = pathlib.Path(__file__).with_name("wukong.yaml")


def register_defaults() -> None:
    with _DEFAULTS.open() as f:
        defaults = yaml.safe_load(f)
    dask.config.update_defaults(defaults)


def setting(name: str, override: Any = None) -> Any:
    """`wukong.<name>`, unless an explicit argument overrides it."""
    if override is not None:
        return override
    return dask.config.get(f"wukong.{name}")
