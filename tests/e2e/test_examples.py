"""Every script under examples/ runs end to end against the lab's Docker engine."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portable.manifest.interpolate import read_dotenv

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab("docker", "images")


def test_api_deploy_example_deploys_hello_and_reports_status(tmp_path: Path) -> None:
    app_dir = tmp_path / "hello"
    shutil.copytree(REPO / "examples" / "hello", app_dir)
    manifest = app_dir / "portable.yaml"
    env = {**os.environ, **read_dotenv(REPO / "examples" / "lab.env")}
    try:
        run = subprocess.run([sys.executable, str(REPO / "examples" / "api_deploy.py"), str(manifest), "local"],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "revision 1 is live" in run.stderr, run.stderr
        assert "healthy" in run.stderr and "not callable" not in run.stderr
        again = subprocess.run([sys.executable, str(REPO / "examples" / "api_deploy.py"), str(manifest), "local"],
                               capture_output=True, text=True, env=env, timeout=300)
        assert again.returncode == 0 and "nothing to do: the target already matches" in again.stderr, again.stderr
    finally:
        subprocess.run([sys.executable, "-m", "portable.cli.main", "destroy", "-f", str(manifest), "--yes", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=300)
