"""The `kubernetes` target: server-side apply of plain Kubernetes objects, one per Resource."""
