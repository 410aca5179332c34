"""The `wukong` command line (or `python -m wukong`): `up`, `down`, `status` and `report`
run a cluster that outlives a script and tell what it does; `demo` runs a tree reduction
and a GEMM on the local runtime; `deploy` and `undeploy` create, update and delete the
executor function on AWS Lambda (flags override `wukong.aws.*` settings)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis

import wukong

DEPLOY_FLAGS: tuple[tuple[str, str, Any, str], ...] = (
    # flag, metavar, type (list: may repeat), help
    ("--function", "NAME", str, "the function's name (wukong.aws.function)"),
    ("--region", "REGION", str, "AWS region (wukong.aws.region; default: boto3's chain)"),
    ("--architecture", "ARCH", str, "x86_64 or arm64 (wukong.aws.architecture)"),
    ("--runtime", "python3.N", str, "Lambda runtime (default: this Python's version)"),
    ("--memory", "MB", int, "128-10,240 (wukong.aws.memory)"),
    ("--timeout", "SECONDS", int, "1-900 (wukong.aws.timeout)"),
    ("--ephemeral-storage", "MB", int, "size of /tmp, 512-10,240"),
    ("--reserved-concurrency", "N", int, "executors reserved for the function"),
    ("--redis-url", "URL", list, "a Redis shard the function uses, with no password in it "
                                 "(repeat for more; default: wukong.redis.urls, where URLs "
                                 "with a password such as rediss://:TOKEN@HOST:6379 belong)"),
    ("--subnet", "ID", list, "a VPC subnet to run in (repeat for more)"),
    ("--security-group", "ID", list, "a security group, with --subnet (repeat for more)"),
    ("--package", "REQUIREMENT", list, "install this beside Wukong's dependencies (repeat)"),
    ("--image-uri", "URI", str, "deploy this container image instead of building a package"),
    ("--code-bucket", "BUCKET", str, "S3 bucket for zips over 50 MB (undeploy deletes them)"),
    ("--role", "NAME", str, "the function's IAM role (default: FUNCTION-role)"),
    ("--cache-dir", "DIR", str, "wheels and builds (default: ~/.cache/wukong/aws)"),
)
LIST_SETTINGS = {"--redis-url": "redis_urls", "--subnet": "subnets",
                 "--security-group": "security_groups", "--package": "packages"}
UNDEPLOY_FLAGS = ("--function", "--role", "--region", "--code-bucket")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="wukong", description=__doc__)
    parser.add_argument("--log-level", default=None,
                        help="WARNING, INFO, DEBUG (`up`: also wukong.logging.level)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="tree reduction and GEMM on the local runtime, vs Dask")
    _add_cluster_commands(commands)
    _add_deploy_commands(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=(args.log_level or "WARNING").upper())
    options = {k: v for k, v in vars(args).items() if k not in ("command", "log_level")}
    if args.command == "demo":
        from wukong.demo import run_demo

        return 0 if run_demo() else 1
    if args.command in CLUSTER_COMMANDS:
        return _run(lambda: _cluster_command(args, argv), args.command)
    if args.command == "deploy":
        return _report(lambda: wukong.deploy(**_no_password(options)).summary(), "deploy")
    return _report(lambda: _removed(wukong.undeploy(**options)), "undeploy")


CLUSTER_COMMANDS = ("up", "down", "status", "report")


def _add_cluster_commands(commands: Any) -> None:
    where = {"metavar": "DIR", "help": "the cluster's directory (default: wukong.address, "
             "else ~/.wukong/cluster)"}
    up = commands.add_parser("up", help="start a cluster that outlives this command",
                             description="Start Redis shards, the local runtime and the KV "
                             "proxy, print the cluster's address, and keep them until "
                             "`wukong down` or Ctrl-C.")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--shards", type=int, help="redis-server processes (wukong.redis.shards)")
    up.add_argument("--redis-url", action="append", metavar="URL",
                    help="use this Redis, with no password in the URL, as a shard instead "
                         "(repeat; wukong.redis.urls, where URLs with a password belong)")
    up.add_argument("--concurrency", type=int, help="most executors at once")
    up.add_argument("--function", metavar="NAME", help="the executor function's name")
    up.add_argument("--logged", action="store_true", help=argparse.SUPPRESS)
    down = commands.add_parser("down", help="stop the cluster `wukong up` started")
    status = commands.add_parser("status", help="executors, queued invocations, jobs, shards")
    status.add_argument("--json", action="store_true", help="as JSON")
    report = commands.add_parser("report", help="the HTML report of a finished job")
    report.add_argument("job", metavar="JOB", help="the job's id (see `wukong status`)")
    report.add_argument("-o", "--output", metavar="FILE",
                        help="where to write it (default: wukong-report-JOB.html)")
    for command in (up, down, status, report):
        command.add_argument("--directory", **where)


def _cluster_command(args: argparse.Namespace, argv: list[str]) -> str:
    from wukong import cluster_commands, cluster_status
    from wukong.config import setting

    directory = args.directory or setting("address")
    if args.command == "up":
        _no_password({"redis_urls": args.redis_url})
        overrides = {"redis.shards": args.shards, "redis.urls": args.redis_url,
                     "runtime.concurrency": args.concurrency,
                     "runtime.function": args.function, "logging.level": args.log_level}
        cluster_commands.up(directory, overrides, args.detach, argv, args.logged)
        return ""
    if args.command == "down":
        cluster_commands.down(directory)
        return ""
    if args.command == "status":
        status = cluster_status.cluster_status(directory)
        return (cluster_status.status_json if args.json else cluster_status.status_text)(status)
    path = cluster_status.write_report(directory, args.job, args.output)
    return f"wrote the report of job {args.job} to {path}"


def _add_deploy_commands(commands: Any) -> None:
    deploy = commands.add_parser("deploy", help="create or update the function on AWS Lambda",
                                 description="Build the executor function's package and "
                                 "create or update it, with its IAM role, on AWS Lambda.")
    undeploy = commands.add_parser("undeploy", help="delete the function and its role",
                                   description="Delete the executor function, its IAM role and "
                                   "the code `wukong deploy` stored for it.")
    for flag, metavar, kind, text in DEPLOY_FLAGS:
        options: dict[str, Any] = {"metavar": metavar, "help": text}
        if kind is list:
            options.update(action="append", dest=LIST_SETTINGS[flag])
        else:
            options["type"] = kind
        deploy.add_argument(flag, **options)
        if flag in UNDEPLOY_FLAGS:
            undeploy.add_argument(flag, **options)


def _run(action: Callable[[], str], command: str) -> int:
    """Run a cluster command: what it says on stdout; an error one line on stderr."""
    from wukong.cluster_commands import CommandError

    try:
        said = action()
    except (CommandError, FileNotFoundError, LookupError, ValueError, ConnectionError,
            ImportError, redis.RedisError) as exc:
        logging.getLogger("wukong").debug("%s failed", command, exc_info=True)
        sys.stderr.write(f"wukong {command}: {exc}\n")
        return 1
    if said:
        sys.stdout.write(said + "\n")
    return 0


def _no_password(options: dict[str, Any]) -> dict[str, Any]:
    """`options`, unless a `--redis-url` carries a password: every local user can read a
    command line (`/proc/PID/cmdline`)."""
    for url in options.get("redis_urls") or ():
        if urlsplit(url).password:
            raise ValueError("--redis-url carries a password, which every local user can read "
                             "on a command line: set wukong.redis.urls in a Dask config file "
                             "only you can read instead")
    return options


def _removed(removed: list[str]) -> str:
    return "deleted " + ", ".join(removed) if removed else "nothing to delete"


def _report(action: Callable[[], str], command: str) -> int:
    """Run `action` and write what it says; an error is one line on stderr, not a traceback."""
    try:
        sys.stdout.write(action() + "\n")
    except (ValueError, RuntimeError, ImportError, *_aws_errors()) as exc:
        logging.getLogger("wukong").debug("%s failed", command, exc_info=True)
        sys.stderr.write(f"wukong {command}: {exc}\n")
        return 1
    return 0


def _aws_errors() -> tuple[type[Exception], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return ()
    return (BotoCoreError, ClientError)

if __name__ == "__main__":
    sys.exit(main())
