"""Every `wukong.*` setting is checked against one table (`wukong.settings_table`), at
cluster start and at first use, with an error naming the full setting and what it takes."""

from __future__ import annotations

import logging
import pathlib

import dask
import pytest
import yaml
from dask.utils_test import inc

import wukong
from wukong.config import setting
from wukong.setting_kinds import SettingError
from wukong.settings_table import SETTINGS, check, check_all

YAML = pathlib.Path(wukong.__file__).with_name("wukong.yaml")


def yaml_leaves(section: dict, prefix: str = "") -> dict:
    leaves = {}
    for key, value in section.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in SETTINGS:
            leaves.update(yaml_leaves(value, f"{name}."))
        else:
            leaves[name] = value
    return leaves


def test_every_key_of_wukong_yaml_has_an_entry_with_its_default():
    shipped = yaml_leaves(yaml.safe_load(YAML.read_text())["wukong"])
    assert sorted(shipped) == sorted(SETTINGS)
    for name, value in shipped.items():
        assert SETTINGS[name].default == value, name
        assert check(name, value) == value, name
        assert SETTINGS[name].doc


def test_every_setting_is_documented():
    """Each setting has a row in docs/configuration.md (the function's on AWS Lambda, in
    docs/aws.md), and no row names a setting that does not exist."""
    docs = YAML.parents[1] / "docs"
    rows = {"configuration.md": set(), "aws.md": set()}
    for page, found in rows.items():
        for line in (docs / page).read_text().splitlines():
            if line.startswith("| `wukong."):
                found.add(line.split("`")[1].removeprefix("wukong."))
    for name in SETTINGS:
        assert name in rows["aws.md" if name.startswith("aws.") else "configuration.md"], name
    assert rows["configuration.md"] | rows["aws.md"] <= set(SETTINGS)


@pytest.mark.parametrize(("name", "value", "accepts"), [
    ("locality.clustering", "nope", "true or false"),            # not a flag
    ("runtime.concurrency", 0, "at least 1"),                    # out of range
    ("runtime.invocation-timeout", 0, "above 0 and up to 900"),  # out of range
    ("runtime.invocation-timeout", 901, "above 0 and up to 900"),
    ("redis.ttl", 0, "seconds"),
    ("storage.chunk-bytes", 1.5, "whole number of bytes"),       # not whole
    ("runtime.idle-timeout", "soon", "number of seconds"),       # not a number
    ("runtime.concurrency", True, "whole number"),               # a flag is no number
    ("platform", "gcp", "one of local, aws"),                    # not a choice
    ("redis.urls", ["http://x:1"], "redis://"),                  # a list item refused
    ("runtime.preload", 3, "list of module names"),              # not a list
    ("aws.prices", {"x86_64": {"gb-second": -1, "request": 0}}, "at least 0"),
    ("client.job-timeout", "never", "or null"),
])
def test_a_bad_value_is_refused_naming_the_setting(name, value, accepts):
    with pytest.raises(SettingError, match=rf"wukong\.{name}") as raised:
        check(name, value)
    assert accepts in str(raised.value)
    with dask.config.set({f"wukong.{name}": value}), pytest.raises(SettingError):
        check_all()


def test_values_from_environment_variables_are_read_as_yaml_would():
    """Dask leaves `DASK_WUKONG__...=false` a string when it is no Python literal."""
    assert check("locality.clustering", "false") is False
    assert check("output.keep", "True") is True
    assert check("redis.shards", "3") == 3
    assert check("redis.shards", "auto") == "auto"
    assert check("logging.level", "debug") == "DEBUG"
    with dask.config.set({"wukong.runtime.latency.invoke-seconds": "0.25"}):
        assert setting("runtime.latency.invoke-seconds") == 0.25


def test_an_environment_variables_underscores_read_as_hyphens(caplog):
    """`DASK_WUKONG__SCHEDULING__WORK_QUEUE` arrives as `work_queue`: it is that setting,
    checked as it (dask.config reads it so), not an unknown key."""
    with caplog.at_level(logging.WARNING, "wukong.settings_table"):
        check_all({"scheduling": {"work_queue": "true"}})
    assert "not a Wukong setting" not in caplog.text
    with pytest.raises(SettingError, match=r"wukong\.runtime\.invocation-timeout"):
        check_all({"runtime": {"invocation_timeout": 0}})


def test_an_explicit_argument_is_checked_as_the_setting():
    with pytest.raises(SettingError, match=r"wukong\.runtime\.concurrency .* got 0"):
        setting("runtime.concurrency", 0)


def test_an_unknown_key_is_logged_with_the_closest_name(caplog):
    with caplog.at_level(logging.WARNING, "wukong.settings_table"):
        check_all({"runtime": {"concurency": 4}})
    assert "wukong.runtime.concurency is not a Wukong setting" in caplog.text
    assert "wukong.runtime.concurrency" in caplog.text


@pytest.mark.parametrize(("name", "value"), [("runtime.concurrency", 0),
                                             ("runtime.invocation-timeout", 0)])
def test_a_cluster_with_a_bad_setting_does_not_start(name, value):
    with dask.config.set({f"wukong.{name}": value}), \
            pytest.raises(SettingError, match=rf"wukong\.{name}"):
        wukong.LocalCluster(shards=1)


@pytest.mark.parametrize(("name", "value"), [("redis.ttl", 0),
                                             ("locality.clustering", "nope"),
                                             ("client.job-timeout", -1)])
def test_a_job_with_a_bad_setting_fails_before_it_starts(cluster, name, value):
    with dask.config.set({f"wukong.{name}": value}), \
            pytest.raises(SettingError, match=rf"wukong\.{name}"):
        wukong.get({"x": 1, "y": (inc, "x")}, "y", cluster=cluster)
    assert wukong.get({"x": 1, "y": (inc, "x")}, "y", cluster=cluster) == 2
