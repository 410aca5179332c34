"""The KV proxy: parallel invocation of large fan-outs and leaf batches, as a service beside
Redis (`python -m kv_proxy serve`), and its status report."""

from kv_proxy.service import Proxy
from kv_proxy.status import proxy_status

__all__ = ["Proxy", "proxy_status"]
