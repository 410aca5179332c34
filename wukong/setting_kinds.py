"""The kinds of value a `wukong.*` setting takes, each a check that returns the value in
its plain Python form or raises `SettingError` naming the setting and what it accepts.

Values reach `dask.config` from YAML, from `dask.config.set` and from `DASK_WUKONG__...`
environment variables, which Dask parses with `ast.literal_eval` and leaves as strings when
that fails: so a flag also accepts `"true"`/`"false"` (any case), and a number a string
that reads as one. Nothing else is converted: `"nope"` is not a flag, `True` not a number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class SettingError(ValueError):
    """A `wukong.*` setting holds a value it does not accept; the message names both."""


def refuse(name: str, accepts: str, value: Any) -> SettingError:
    return SettingError(f"wukong.{name} must be {accepts}, got {value!r}")


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Flag:
    """true or false."""

    @property
    def accepts(self) -> str:
        return "true or false"

    def __call__(self, name: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise refuse(name, self.accepts, value)


@dataclass(frozen=True)
class Number:
    """A number from `low` to `high` (`low` excluded with `above`), whole with `whole`;
    `None` too with `nullable`, and the words in `words` as they are."""
    unit: str
    low: float = 0
    high: float = math.inf
    whole: bool = False
    above: bool = False
    nullable: bool = False
    words: tuple[str, ...] = ()

    @property
    def accepts(self) -> str:
        what = f"a {'whole ' if self.whole else ''}number of {self.unit}"
        low = f"{self.low:,g}" if not self.whole else f"{int(self.low):,}"
        if self.high == math.inf:
            what += f" {'above' if self.above else 'at least'} {low}"
        else:
            high = f"{self.high:,g}" if not self.whole else f"{int(self.high):,}"
            what += f" {'above ' + low + ' and up to' if self.above else 'from ' + low + ' to'}"
            what += f" {high}"
        extra = [f'"{word}"' for word in self.words] + (["null"] if self.nullable else [])
        return what + (f", or {' or '.join(extra)}" if extra else "")

    def __call__(self, name: str, value: Any) -> Any:
        if (value is None and self.nullable) or value in self.words:
            return value
        number = _number(value)
        if number is None or (self.whole and not float(number).is_integer()):
            raise refuse(name, self.accepts, value)
        too_low = number <= self.low if self.above else number < self.low
        if too_low or number > self.high:
            raise refuse(name, self.accepts, value)
        return int(number) if self.whole else number


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() and "." not in value else number
    return None


@dataclass(frozen=True)
class Choice:
    """One of `options` (compared without case with `any_case`, returned as listed)."""
    options: tuple[Any, ...]
    any_case: bool = False

    @property
    def accepts(self) -> str:
        return "one of " + ", ".join("null" if o is None else str(o) for o in self.options)

    def __call__(self, name: str, value: Any) -> Any:
        for option in self.options:
            if value == option and isinstance(value, bool) == isinstance(option, bool):
                return option
            if self.any_case and isinstance(value, str) and isinstance(option, str) and (
                    value.upper() == option.upper()):
                return option
        raise refuse(name, self.accepts, value)


@dataclass(frozen=True)
class Text:
    """A non-empty string (`None` too with `nullable`), starting with one of `prefixes`."""
    what: str
    nullable: bool = False
    prefixes: tuple[str, ...] = ()

    @property
    def accepts(self) -> str:
        return self.what + (", or null" if self.nullable else "")

    def __call__(self, name: str, value: Any) -> str | None:
        if value is None and self.nullable:
            return None
        if not isinstance(value, str) or not value or (
                self.prefixes and not value.startswith(self.prefixes)):
            raise refuse(name, self.accepts, value)
        return value


@dataclass(frozen=True)
class Texts:
    """A list of items each `item` accepts (a single one is a list of one)."""
    item: Text

    @property
    def accepts(self) -> str:
        return f"a list of {self.item.what}s"

    def __call__(self, name: str, value: Any) -> list[str]:
        items = [value] if isinstance(value, str) else value
        if items is None:
            items = []
        if not isinstance(items, (list, tuple)):
            raise refuse(name, self.accepts, value)
        try:
            return [self.item(name, item) for item in items]
        except SettingError:
            raise refuse(name, self.accepts, value) from None


@dataclass(frozen=True)
class Prices:
    """Per architecture, USD per `gb-second` and per `request`, each at least 0."""

    @property
    def accepts(self) -> str:
        return ("a mapping of architectures (x86_64, arm64) to {gb-second: USD, request: "
                "USD}, each at least 0")

    def __call__(self, name: str, value: Any) -> dict[str, dict[str, float]]:
        if not isinstance(value, Mapping) or set(value) - {"x86_64", "arm64"}:
            raise refuse(name, self.accepts, value)
        prices = {}
        for architecture, entry in value.items():
            if not isinstance(entry, Mapping) or set(entry) != {"gb-second", "request"}:
                raise refuse(name, self.accepts, value)
            numbers = {k: _number(v) for k, v in entry.items()}
            for unit, number in numbers.items():
                if number is None or number < 0:
                    raise refuse(f"{name}.{architecture}.{unit}", "a number of USD at least 0",
                                 entry[unit])
            prices[architecture] = numbers
        return prices


Kind = Flag | Number | Choice | Text | Texts | Prices
