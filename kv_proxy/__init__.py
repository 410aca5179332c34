"""The KV proxy (parallel invocation and notifications at scale): not built yet, see its issue."""
