"""Migration checks made while planning or judging the destination (issue 14's defects).

- DNS pointed at the first endpoint of any service in alphabetical order: for examples/shop
  it became `CNAME api`, an internal app-network name. The record must follow the service
  the manifest exposes publicly (http first), or --dns-service.
- The health step passed services that were running but not ready.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from portable.errors import InputError
from portable.manifest import load_app
from portable.migrate.orchestrator import not_ready, public_service
from portable.plan.resources import ServiceStatus

REPO = Path(__file__).resolve().parents[2]


def test_the_shop_example_points_dns_at_its_public_web_service() -> None:
    app = load_app(REPO / "examples" / "shop" / "portable.yaml", "local", {})
    assert public_service(app) == "web"


def _app(tmp_path: Path, services: str):
    path = tmp_path / "portable.yaml"
    path.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: m}\nservices:\n" + services)
    return load_app(path, "local", {})


def test_several_public_services_need_dns_service(tmp_path: Path) -> None:
    app = _app(tmp_path, "  a: {image: x, ports: [{port: 80, expose: public, published: 8001}]}\n"
                         "  b: {image: x, ports: [{port: 80, expose: public, published: 8002}]}\n")
    with pytest.raises(InputError, match=r"several services are public \(a, b\): choose the one DNS points at with --dns-service"):
        public_service(app)
    assert public_service(app, "b") == "b"
    with pytest.raises(InputError, match="--dns-service c: not a service with a public port; public services: a, b"):
        public_service(app, "c")


def test_http_wins_over_tcp_and_internal_services_never_count(tmp_path: Path) -> None:
    app = _app(tmp_path, "  db: {image: x, ports: [{port: 5432, protocol: tcp, expose: public, published: 5432}]}\n"
                         "  api: {image: x, ports: [{port: 80, expose: internal}]}\n"
                         "  web: {image: x, ports: [{port: 80, expose: public, published: 8080}]}\n")
    assert public_service(app) == "web"


def test_running_is_not_ready() -> None:
    running_not_ready = ServiceStatus("web", desired=2, running=2, healthy=1)
    assert not_ready([running_not_ready]) == ["web has 1/2 ready"]
    assert not_ready([ServiceStatus("web", 2, 2, 2), ServiceStatus("job", 0, 0, 0)]) == []
