"""Names and labels of everything the docker provider creates, in one place.

`observe`, `destroy` and `status` find an app's objects by these labels only, so the label
keys and the name patterns must never drift between the modules that write and read them.
"""
from __future__ import annotations

LABEL_APP = "io.portable.app"
LABEL_SERVICE = "io.portable.service"
LABEL_REVISION = "io.portable.revision"  # the spec digest of the resource the object realises
LABEL_KIND = "io.portable.kind"  # resource kind: container, proxy, network, volume, image
LABEL_RESOURCE = "io.portable.resource"  # resource name within its kind
LABEL_REPLICA = "io.portable.replica"
LABEL_TARGET = "io.portable.target"
LABEL_HEALTH_PATH = "io.portable.proxy-health-path"  # on a replica: the path its proxy checks
LABEL_UPSTREAM = "io.portable.upstream"  # on a replica: its DNS alias, the proxy's target host
LABEL_PUBLISHED = "io.portable.published"  # on a proxy: the host port it owns
LABEL_PROXY_PORTS = "io.portable.proxy-ports"  # on a replica: "published:container,..." behind proxies

KIND_NETWORK = "network"
KIND_VOLUME = "volume"
KIND_IMAGE = "image"
KIND_PROXY = "proxy"
KIND_CONTAINER = "container"

NEXT_SUFFIX = "-next"  # a replacement container, renamed once its predecessor is gone


def network_name(app: str, override: str | None) -> str:
    return override or app


def volume_name(app: str, volume: str) -> str:
    """Compose-style `<app>_<volume>`, so data moved from compose keeps its familiar name."""
    return f"{app}_{volume}"


def replica_resource(service: str, replica: int) -> str:
    return f"{service}-{replica}"


def container_name(app: str, resource: str) -> str:
    """`<app>-<service>-<n>` for a replica, `<app>-proxy-<port>` for a front proxy."""
    return f"{app}-{resource}"


def upstream_alias(app: str, resource: str, digest: str) -> str:
    """A replica's own DNS alias: stable across engine restarts and renames, unique per revision."""
    return f"{app}-{resource}-{digest[:10]}"


def proxy_resource(published: int) -> str:
    return f"proxy-{published}"


def proxy_service(app: str, service: str) -> str:
    """The name of the app's service inside kamal-proxy."""
    return f"{app}-{service}"


def build_tag(app: str, service: str, content_hash: str) -> str:
    return f"{app}/{service}:{content_hash}"


def app_filter(app: str) -> dict[str, list[str]]:
    """The engine-side filter selecting every object of `app`."""
    return {"label": [f"{LABEL_APP}={app}"]}
