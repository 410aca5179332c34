"""The Lua scripts of the protocol, one `.lua` file each beside this module, loaded by name."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def script(name: str) -> str:
    """The source of `lua/<name>.lua`."""
    return resources.files(__package__).joinpath(f"lua/{name}.lua").read_text()
