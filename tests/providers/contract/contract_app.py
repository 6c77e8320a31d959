"""The small app every contract case deploys, and the real CLI to drive it.

One service, `web` (the lab's busybox httpd image, an http health check on 8080, one
environment variable), written as a manifest a user would write, with target `ct` holding
the provider's settings. Per-run values come from the environment like any manifest's:
CT_GREETING (default `one`) and CT_REPLICAS (default 1). Variants add what a case needs:
a volume, or a field that asks the target for a capability.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from contract_base import TARGET, ContractTarget

IMAGE = "lab/web:1"


WEB = (  # the body of service `web`
    f"    image: {IMAGE}\n"
    "    replicas: ${CT_REPLICAS:-1}\n"
    "    env:\n"
    "      GREETING: ${CT_GREETING:-one}\n"
    "    ports:\n"
    "      - port: 8080\n"
    "    health:\n"
    "      http: {path: /cgi-bin/health, port: 8080}\n"
    "      interval: 1s\n"
)


def manifest_text(name: str, settings: dict[str, Any], *, volume: bool = False, web: str = WEB, service: str = "web") -> str:
    """The app's manifest; `web` replaces the service's body (for capability variants),
    `service` its name."""
    body = web
    if volume:
        body += "    volumes:\n      - data:/data\n"
    target = yaml.safe_dump({TARGET: settings}, sort_keys=False)
    return (
        "apiVersion: portable/v1\nkind: Application\n"
        f"metadata:\n  name: {name}\n"
        f"services:\n  {service}:\n" + body
        + ("volumes:\n  data: {size: 1Gi}\n" if volume else "")
        + "targets:\n" + "".join(f"  {line}\n" for line in target.splitlines())
    )


@dataclass
class App:
    """One app on the contract target: its manifest, its state file, the CLI bound to both."""

    name: str
    manifest: Path
    state: Path
    target: ContractTarget
    env: dict[str, str]
    volume: bool = False
    service: str = "web"

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
        """`portable ARGS -f MANIFEST -t ct --state STATE` as a user runs it."""
        return subprocess.run(
            [sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), "-t", TARGET, "--state", str(self.state)],
            env={**(env if env is not None else self.env), **extra}, capture_output=True, text=True, timeout=timeout,
        )

    def ok(self, *args: str, **extra: str) -> str:
        done = self.cli(*args, **extra)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"portable {' '.join(args)} exited {done.returncode}:\n{out}"
        return out

    def plan_actions(self, **extra: str) -> list[dict[str, Any]]:
        done = self.cli("plan", "-o", "json", **extra)
        assert done.returncode == 0, done.stdout + done.stderr
        return list(json.loads(done.stdout)["actions"])

    def status(self, **extra: str) -> dict[str, dict[str, Any]]:
        done = self.cli("status", "-o", "json", **extra)
        assert done.returncode == 0, done.stdout + done.stderr
        return {s["service"]: s for s in json.loads(done.stdout)["services"]}

    def rewrite(self, text: str) -> None:
        self.manifest.write_text(text)


@dataclass
class Apps:
    """Apps with fresh names (`ct` + 6 hex digits) on one target; destroyed afterwards."""

    target: ContractTarget
    root: Path
    made: list[App] = field(default_factory=list)

    def new(self, name: str | None = None, *, volume: bool = False, web: str = WEB, service: str = "web", settings: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> App:
        name = name or f"ct{uuid.uuid4().hex[:6]}"
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        manifest = folder / "portable.yaml"
        manifest.write_text(manifest_text(name, settings or self.target.settings(name), volume=volume, web=web, service=service))
        app = App(name, manifest, folder / "state.db", self.target, env if env is not None else self.target.env(), volume, service)
        self.made.append(app)
        return app

    def destroy_all(self) -> None:
        for app in self.made:
            if app.manifest.exists():  # the plain manifest: variants may be refused, credentials wrong
                app.manifest.write_text(manifest_text(app.name, self.target.settings(app.name), volume=app.volume, service=app.service))
                app.cli("destroy", "--yes", "--volumes", "--quiet", env=self.target.env())
