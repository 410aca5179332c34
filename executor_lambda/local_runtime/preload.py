"""Imported once by the fork server, so every worker starts warm with these already loaded."""

import contextlib

import executor_lambda.handler  # noqa: F401

for _module in ("numpy", "pandas", "dask.array", "dask.dataframe"):
    with contextlib.suppress(ImportError):
        __import__(_module)
