"""Build once, push, deploy by digest: the image supply chain every target shares.

A target that names a registry (`targets.<t>.registry` with a `prefix`) gets every `build:`
service built once per content hash on the local Docker engine, pushed there, and every
image deployed by digest (`host/prefix/name@sha256:...`), tags included, resolved while
planning. The local Docker engine is a build tool here, not a target: the builder imports
the docker SDK lazily, inside its functions, so the core stays free of SDK imports at module
level and a user without the docker extra only meets it when a build is needed. Registry
reads and copies speak the registry HTTP API v2 with the standard library.
"""
