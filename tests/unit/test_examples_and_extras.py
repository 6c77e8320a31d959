"""Every example validates as shipped; a missing provider SDK becomes install advice."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*/portable.yaml"))


def test_there_are_examples() -> None:
    assert {p.parent.name for p in EXAMPLES} >= {"hello", "shop"}


@pytest.mark.parametrize("manifest", EXAMPLES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("env_file", [None, REPO / "examples" / "lab.env"], ids=["defaults", "lab-images"])
def test_example_validates(manifest: Path, env_file: Path | None) -> None:
    args = [sys.executable, "-m", "portable.cli.main"] + (["--env-file", str(env_file)] if env_file else []) + ["validate", "-f", str(manifest)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


@pytest.mark.parametrize("provider,extra,module", [("aws", "aws", "boto3"), ("kubernetes", "kubernetes", "kubernetes"), ("vsphere", "vsphere", "pyVmomi"), ("docker", "docker", "docker"), ("libcloud", "libcloud", "libcloud")])
def test_missing_sdk_gives_the_extra_to_install(provider: str, extra: str, module: str) -> None:
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # as if the SDK were not installed\n"
        "from portable.providers.registry import provider_class\n"
        "from portable.errors import MissingExtraError\n"
        "try:\n"
        f"    provider_class({provider!r})\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.exit_code, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("2 "), out.stdout + out.stderr
    assert f"pip install 'portable[{extra}]'" in out.stdout
