"""The curated Python API stays as documented, and importing the CLI pulls in no cloud SDK."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path as P

import portable

EXPECTED = {
    "App", "AuthError", "CapabilityError", "DeployResult", "HealthCheckError", "InputError",
    "Manifest", "ManifestError", "MigrationError", "MissingExtraError", "NotFoundError", "Plan",
    "PortableError", "Resource", "Revision", "ServiceStatus", "StateError", "StateLockedError",
    "StatusResult", "TargetError", "TargetInfo", "TransientError", "ValidationResult",
    "__version__", "backup", "deploy", "destroy", "history", "load_app", "logs", "migrate",
    "plan", "render", "restore", "rollback", "status", "targets", "validate",
}
SDKS = ("docker", "kubernetes", "boto3", "botocore", "libcloud", "pyVmomi")


def test_all_is_guarded() -> None:
    assert set(portable.__all__) == EXPECTED


def test_every_exported_name_resolves() -> None:
    for name in portable.__all__:
        assert getattr(portable, name) is not None, name


def test_errors_share_one_root_with_exit_codes() -> None:
    assert issubclass(portable.ManifestError, portable.InputError)
    assert portable.InputError.exit_code == 2 and portable.TargetError.exit_code == 1
    for name in ("AuthError", "TransientError", "HealthCheckError", "StateLockedError", "MigrationError"):
        assert issubclass(getattr(portable, name), portable.PortableError)


def test_cli_import_pulls_in_no_cloud_sdk() -> None:
    code = "import sys, portable.cli.main; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % (SDKS,)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_help_imports_neither_pathlib_nor_json() -> None:
    """Together about 7 ms of the 70 ms start-up budget (issue 19), and `--help` needs neither.

    Run without `site` (`-S`): an editable install's import finder imports pathlib itself,
    which a user's plain install does not."""
    import os

    import click

    paths = [str(P(__file__).resolve().parents[2]), os.path.dirname(os.path.dirname(click.__file__))]
    for argv in (["--help"], ["validate", "--help"], ["deploy", "--help"]):
        code = (
            f"import sys\nsys.path[:0] = {paths!r}\nsys.argv = ['portable', *{argv!r}]\n"
            "from portable.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED=' + ','.join(sorted({'pathlib', 'json'} & set(sys.modules))))"
        )
        out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.splitlines()[-1] == "LOADED=", (argv, out.splitlines()[-1])


def test_validate_and_render_plan_paths_import_no_sdk_for_validation(tmp_path) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: a}\nservices:\n  web: {image: x}\ntargets:\n  k: {provider: kubernetes}\n  a: {provider: aws}\n")
    code = f"import sys, portable; portable.validate({str(manifest)!r}); print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {SDKS!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_names_keep_their_meaning_after_every_verb_and_subpackage_import(tmp_path) -> None:
    """Importing portable.plan or portable.migrate (as running any verb does) must not
    replace the verbs of the same name: examples/api_deploy.py once crashed with
    "'module' object is not callable" at portable.plan(...)."""
    import importlib

    manifest = tmp_path / "portable.yaml"
    manifest.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: a}\nservices:\n  web: {image: x}\n")
    before = {name: getattr(portable, name) for name in portable.__all__}
    for sub in ("portable.plan", "portable.plan.plan", "portable.plan.diff", "portable.plan.saved", "portable.migrate",
                "portable.migrate.api", "portable.migrate.orchestrator", "portable.manifest", "portable.state", "portable.api", "portable.session"):
        importlib.import_module(sub)
    portable.validate(str(manifest))
    portable.render(str(manifest), "local", str(tmp_path / "out"))
    for name in portable.__all__:
        assert getattr(portable, name) is before[name], name
    assert callable(portable.plan) and callable(portable.migrate)
    # the subpackages stay importable by name
    from portable.plan import Plan
    assert Plan is portable.Plan
