"""The `libcloud` target: any Apache Libcloud compute driver running the shared VM runtime."""
