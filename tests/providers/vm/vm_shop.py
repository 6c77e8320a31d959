"""examples/shop bound to a VM target, with the lab's images (shared by the vm/aws/libcloud tests)."""
from __future__ import annotations

import shutil
from pathlib import Path

from portable.manifest import App, load_app

REPO = Path(__file__).resolve().parents[3]
SHOP = REPO / "examples" / "shop" / "portable.yaml"
REGISTRY = "127.0.0.1:5000"


def lab_env(registry: str = REGISTRY, **extra: str) -> dict[str, str]:
    """Variables that point examples/shop at the lab images (all serve http on 8080)."""
    env = {
        "SHOP_WEB_IMAGE": f"{registry}/lab/web:1",
        "SHOP_WEB_PORT": "8080",
        "SHOP_WEB_HEALTH_PATH": "/cgi-bin/health",
        "SHOP_API_IMAGE": f"{registry}/lab/web:1",
        "SHOP_API_HEALTH_PATH": "/cgi-bin/health",
        "SHOP_KV_IMAGE": f"{registry}/lab/kv:1",
        "SHOP_KV_PORT": "8080",
        "SHOP_KV_HEALTH": "wget -q -O- http://127.0.0.1:8080/cgi-bin/health",
        "SHOP_WORKER_IMAGE": f"{registry}/lab/worker:1",
        "SHOP_API_TOKEN": "tok-3f9a-not-for-logs",
        "GREETING": "hello from a vm",
    }
    env.update(extra)
    return env


def shop_with_target(tmp: Path, target_yaml: str) -> Path:
    """A copy of examples/shop with `targets:` appended (the example declares none for clouds)."""
    dst = tmp / "shop"
    dst.mkdir(parents=True, exist_ok=True)
    text = SHOP.read_text()
    assert "\ntargets:" not in text, "examples/shop declares targets now: merge instead of appending"
    (dst / "portable.yaml").write_text(text.rstrip("\n") + "\ntargets:\n" + target_yaml)
    return dst / "portable.yaml"


def load_shop(tmp: Path, env: dict[str, str], target: str = "vm", target_yaml: str = "  vm:\n    provider: aws\n    ami: ami-12345678\n") -> App:
    path = shop_with_target(tmp, target_yaml)
    return load_app(path, target, env=env)


def copy_example(tmp: Path) -> Path:
    dst = tmp / "shop-plain"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(SHOP, dst / "portable.yaml")
    return dst / "portable.yaml"
