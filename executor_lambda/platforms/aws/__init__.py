"""AWS Lambda: starting executors (`invoker`), packaging (`package`), and creating or updating
the function and its role (`deploy`, `iam`), within Lambda's quotas (`limits`).

Everything here but `limits` needs boto3 (`pip install "wukong[aws]"`); import the modules
themselves, so that importing this package costs nothing.
"""
