"""The Redis users of a deployment, one per role, each allowed only the commands its party
sends, on Wukong's keys only.

- `client`: the user's process, which uploads graphs, invokes leaves, cancels jobs (an
  RPUSH of a cancel record onto the queue, a PUBLISH to executors), follows logs (and the
  job shard's clock, for executors' deadlines on Lambda), reads results, cleans up and
  learns estimates; on a cluster of `wukong up` it also indexes its jobs and keeps their
  reports, and `wukong status` reads the queue and the servers' memory;
- `executor`: each executor (a local worker, a Lambda invocation), which reads inputs and
  graphs, runs the step script, invokes executors and listens for cancelled jobs;
- `runtime`: the local runtime's dispatcher, which takes invocations off the queue, reports
  executors that died, and claims its function and reports its stats;
- `proxy`: the KV proxy, which serves its request stream, pushes invocations and reports its
  stats.

`LocalCluster`'s servers define these users with random passwords (`wukong.redis_servers`);
for a Redis of your own, `acl_rules` gives each user's rules. Redis checks every command a
Lua script calls against the user that called the script, so a role that runs a script is
also allowed what the script calls. Anything else (`KEYS`, `FLUSHALL`, `CONFIG`, `MODULE`,
`DEBUG`, keys outside `wk:`) is refused with NOPERM: the roles bound what a bug or a task's
code can do through a connection; processes of one user can read each other's environment,
so they are no wall between them.
"""

from __future__ import annotations

ROLES = ("client", "executor", "runtime", "proxy")

_SCRIPTS = ("evalsha", "script|load", "ping")
"""Every role that opens a `Shard`: the handshake's PING, loading and calling scripts."""
_SCRIPTS_CALL = ("exists", "get", "pexpire", "sadd", "scard", "set", "sismember", "smembers",
                 "strlen", "xadd", "llen", "lpop", "rpop", "lpush", "hset", "hgetall", "hdel",
                 "incrby")
"""What `lua/step.lua`, `lua/pull.lua` and `lua/hand_off.lua` call."""
_INVOKE = ("lpush",)
"""Invoking on the local platform (an LPUSH onto the function's queue)."""

COMMANDS: dict[str, tuple[str, ...]] = {
    "client": (*_SCRIPTS, *_SCRIPTS_CALL, *_INVOKE, "rpush", "publish", "mget", "unlink", "xread",
               "hgetall", "hset", "incrby", "xinfo|groups", "zadd", "zremrangebyscore",
               "zrange", "llen", "info", "time"),
    "executor": (*_SCRIPTS, *_SCRIPTS_CALL, *_INVOKE, "mget", "unlink", "incrby", "subscribe"),
    "runtime": (*_SCRIPTS, *_SCRIPTS_CALL, "blmpop", "hset", "del"),
    "proxy": ("ping", "xgroup|create", "xautoclaim", "xreadgroup", "xack", "xdel", "set",
              "del", "hset", "hincrby", *_INVOKE),
}
"""The commands each role may run (and its scripts may call)."""

KEY_PATTERNS = {"client": "wk:*", "executor": "wk:*", "runtime": "wk:*", "proxy": "wk:fn:*"}
"""The keys each role may touch: a job's (`wk:{job}:`) and a function's (`wk:fn:`)."""

CHANNEL_PATTERNS = {"client": "wk:fn:*", "executor": "wk:fn:*"}
"""The pub/sub channels a role may use: a client publishes cancelled jobs on the function's
cancel channel, and executors listen to it."""


def acl_rules(role: str) -> str:
    """The ACL rules of `role`'s user, as Redis's `ACL SETUSER` and `user` lines take them
    (without the password)."""
    if role not in COMMANDS:
        raise ValueError(f"unknown Redis role {role!r}; the roles are {', '.join(ROLES)}")
    allowed = " ".join(f"+{command}" for command in sorted(set(COMMANDS[role])))
    channels = f" &{CHANNEL_PATTERNS[role]}" if role in CHANNEL_PATTERNS else ""
    return f"on resetkeys ~{KEY_PATTERNS[role]} resetchannels{channels} -@all {allowed}"
