"""Where executors run: each platform knows how to start an executor (an `Invoker`)."""
