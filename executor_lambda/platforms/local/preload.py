"""Imported once by the fork server, so every worker starts warm with these already loaded:
the handler and the invoker it makes (boto3's, where executors invoke through Lambda's API),
and what tasks commonly need, Wukong's own client package included (a user's module that
imports `wukong` would otherwise cost every new worker its import, networkx's among them)."""

import contextlib
import importlib
import os

from executor_lambda.settings import ENV_PLATFORM

importlib.import_module("executor_lambda.handler")
importlib.import_module("executor_lambda.platforms.local")
if os.environ.get(ENV_PLATFORM) == "aws":
    importlib.import_module("executor_lambda.platforms.aws.invoker")
for _module in ("numpy", "pandas", "dask.array", "dask.dataframe", "wukong"):
    with contextlib.suppress(ImportError):
        importlib.import_module(_module)
