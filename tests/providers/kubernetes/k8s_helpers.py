"""Helpers for the kubernetes provider tests: example apps bound to a kubernetes target.

The examples belong to another engineer, so tests copy them into a temporary folder and
add a `targets:` entry there; the files under examples/ are never edited.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
GOLDEN = REPO / "tests" / "golden"
LAB_ENV = Path(os.environ.get("LAB_RUN", "/tmp/portable-lab")) / "env.json"


def add_target(manifest: Path, name: str, settings: dict[str, Any]) -> None:
    """Adds target `name` (provider kubernetes) to the manifest text, keeping everything else verbatim."""
    text = manifest.read_text()
    entry = yaml.safe_dump({name: {"provider": "kubernetes", **settings}}, sort_keys=False)
    block = "".join("  " + line + "\n" for line in entry.splitlines())
    if re.search(r"^targets:\s*$", text, re.M):
        text = re.sub(r"^targets:\s*\n", lambda m: m.group(0) + block, text, count=1, flags=re.M)
    else:
        text = text.rstrip("\n") + "\ntargets:\n" + block
    manifest.write_text(text)


def example_with_target(example: str, dest: Path, name: str, settings: dict[str, Any]) -> Path:
    """A copy of examples/<example> in `dest` with a kubernetes target; returns the manifest path."""
    folder = dest / example
    shutil.copytree(EXAMPLES / example, folder, dirs_exist_ok=True)
    manifest = folder / "portable.yaml"
    add_target(manifest, name, settings)
    return manifest


def lab_kubeconfig() -> str | None:
    """The lab apiserver's kubeconfig, from the lab's env.json, if the lab is up."""
    try:
        env = json.loads(LAB_ENV.read_text())
    except (OSError, ValueError):
        return None
    value = env.get("KUBECONFIG") or (env.get("k8s") or {}).get("kubeconfig")
    return str(value) if value else None


def kubectl(kubeconfig: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=check, timeout=timeout)


def objects_with_labels(kubeconfig: str, namespace: str, selector: str, kinds: str) -> list[str]:
    out = kubectl(kubeconfig, "-n", namespace, "get", kinds, "-l", selector, "-o", "name", check=False)
    return [line for line in out.stdout.splitlines() if line.strip()]
