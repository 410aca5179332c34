"""Imported once by the fork server, so every worker starts warm with these already loaded:
the handler and the invoker it makes, and what tasks commonly need."""

import contextlib
import importlib

importlib.import_module("executor_lambda.handler")
importlib.import_module("executor_lambda.platforms.local")
for _module in ("numpy", "pandas", "dask.array", "dask.dataframe"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_module)
