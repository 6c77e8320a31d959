"""Faults on the wire (issue 17, item 2): deploy, update and destroy through a fault channel in
front of each lab target's real API, and count what exists afterwards.

Profiles: 30% of calls answered 500/503; 30% answered 429 with Retry-After; 30% of connections
reset by the peer; 2 s of latency on every answer; a blackout (the API unreachable) in the middle
of an apply. Every profile but the blackout must end with exit 0 and exactly the app's instances
(a retried create that was not checked first shows as one too many). The blackout must fail with
one sentence once the retry budget (PORTABLE_RETRY_BUDGET) is spent, leave the previous revision
serving and the state consistent, and converge on a plain rerun.

The status profiles draw their faults from a seed fixed per target and profile (a failure is
replayed by running the case again); HARDENING_FAULT_SEED=<text> draws other ones.

CI runs each profile on a sample of the targets (CI_SAMPLE: every target in at least one; the
latency only for the first seconds of a deploy; the blackout 8 s against a 2 s budget);
`lab test tests/hardening --full` runs every profile on every target, the latency over the whole
lifecycle and a 30 s blackout against the default budget (20 s).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import record  # noqa: E402
from wire import COMPONENTS, LostAnswerProxy, RandomStatusProxy, WireTarget  # noqa: E402

from contract_app import TARGET, manifest_text  # noqa: E402

from portable.engine.retry import DEFAULT_BUDGET  # noqa: E402

pytestmark = [pytest.mark.timeout(900)]

TARGETS = ["aws", "docker", "kubernetes", "libcloud", "vsphere"]
REPLICAS = 2
STATUS_PROFILES: dict[str, dict[str, Any]] = {
    "5xx": {"rate": 0.3, "statuses": (500, 503)},
    "429": {"rate": 0.3, "statuses": (429,), "retry_after": 1},
}


class Run:
    """One app of one test, driven through the CLI with its own state file."""

    def __init__(self, wire: WireTarget, root: Path, *, volume: bool = False) -> None:
        self.wire = wire
        self.volume = volume  # each replica of `web` with a data disk
        self.name = f"hw{wire.provider[:3]}{uuid.uuid4().hex[:5]}"
        self.folder = root / self.name
        self.folder.mkdir(parents=True)
        self.manifest = self.folder / "portable.yaml"
        self.state = self.folder / "state.db"
        self.env = dict(wire.ct.env(), CT_REPLICAS=str(REPLICAS))
        self.point(None)

    def point(self, endpoint: str | None) -> None:
        """Reach the target through `endpoint` (a fault channel), or directly with None."""
        self.manifest.write_text(manifest_text(self.name, self.wire.settings_via(self.name, endpoint), volume=self.volume))

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-c", "from portable.cli.main import main; main()", *args, "-f", str(self.manifest), "-t", TARGET, "--state", str(self.state)]

    def cli(self, *args: str, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env={**self.env, **extra}, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str, **extra: str) -> str:
        done = self.cli(*args, **extra)
        out = done.stdout + done.stderr
        assert done.returncode == 0, f"portable {' '.join(args)} exited {done.returncode}:\n{out}"
        assert "Traceback" not in out, out
        return out

    def greetings(self) -> list[str]:
        """GREETING of every live instance of `web`, through the target's own API."""
        return sorted(env.get("GREETING", "?") for env in self.wire.ct.running_env(self.name, "web"))


def _expected_instances(provider: str, replicas: int) -> int:
    return 1 if provider == "kubernetes" and replicas else replicas  # kubernetes: one Deployment


def _count(run: Run, expected: int, when: str) -> int:
    """Asserts exactly `expected` instances (and at most one load balancer); returns the duplicates."""
    found = run.wire.instances(run.name)
    balancers = run.wire.load_balancers(run.name)
    duplicates = max(0, found - expected) + max(0, balancers - 1)
    assert found == expected and balancers <= 1, f"after {when}: {found} instances (want {expected}), {balancers} load balancers: {run.wire.ct.objects(run.name)}"
    return duplicates


#: CI runs each profile on a sample of the targets (every target in at least one profile, the
#: fast ones where a profile is slow); `--full` runs every profile on every target.
CI_SAMPLE: dict[str, tuple[str, ...]] = {
    "5xx": ("docker", "kubernetes"),
    "429": ("kubernetes",),
    "reset": ("aws", "vsphere"),
    "latency": ("kubernetes",),
    "blackout": ("aws", "kubernetes", "libcloud"),
}
#: tests of one fault on chosen targets (CI and --full alike)
TARGETS_OF_TEST: dict[str, tuple[str, ...]] = {
    "test_creates_whose_answers_are_lost_are_looked_for_not_repeated": ("libcloud",),
}
PROFILE_OF_TEST = {
    "test_connection_resets_are_retried_without_duplicates": "reset",
    "test_two_second_latency": "latency",
    "test_blackout_fails_after_the_budget_and_converges": "blackout",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """(target, profile) pairs: all with --full, CI_SAMPLE's otherwise."""
    if "wire" not in metafunc.fixturenames:
        return
    full = bool(metafunc.config.getoption("--full"))
    name = metafunc.function.__name__
    if name in TARGETS_OF_TEST:
        metafunc.parametrize("wire", list(TARGETS_OF_TEST[name]), indirect=True)
    elif name in PROFILE_OF_TEST:
        profile = PROFILE_OF_TEST[name]
        targets = [t for t in TARGETS if full or t in CI_SAMPLE[profile]]
        metafunc.parametrize("wire", targets, indirect=True)
    else:
        pairs = [(t, p) for p in sorted(STATUS_PROFILES) for t in TARGETS if full or t in CI_SAMPLE[p]]
        metafunc.parametrize(("wire", "profile"), pairs, indirect=["wire"], ids=[f"{t}-{p}" for t, p in pairs])


@pytest.fixture
def wire(request: pytest.FixtureRequest, lab: Any, faults: Any, tmp_path: Path) -> Iterator[WireTarget]:
    env = lab.require("faults", *COMPONENTS[request.param])
    target = WireTarget.open(request.param, env, tmp_path)
    runs: list[Run] = []
    request.node.wire_runs = runs
    yield target
    faults.reset()
    for run in runs:  # whatever a failed case left, removed through the direct API
        run.point(None)
        run.cli("destroy", "--yes", "--volumes", "--quiet")
    target.close([r.name for r in runs])


def _new_run(wire: WireTarget, tmp_path: Path, request: pytest.FixtureRequest, *, volume: bool = False) -> Run:
    run = Run(wire, tmp_path / "apps", volume=volume)
    request.node.wire_runs.append(run)
    return run


def _lifecycle(run: Run, profile: str) -> int:
    """deploy, update, destroy (all must succeed); returns the duplicate creates counted."""
    duplicates = 0
    run.ok("deploy", "--yes", CT_GREETING="one")
    duplicates += _count(run, _expected_instances(run.wire.provider, REPLICAS), f"deploy under {profile}")
    assert run.greetings() == ["one"] * (REPLICAS if run.wire.provider != "kubernetes" else len(run.greetings())), run.greetings()
    run.ok("deploy", "--yes", CT_GREETING="two")
    duplicates += _count(run, _expected_instances(run.wire.provider, REPLICAS), f"update under {profile}")
    run.ok("destroy", "--yes", "--volumes")
    duplicates += _count(run, 0, f"destroy under {profile}")
    return duplicates


# ---------------------------------------------------------------------------- status codes
def test_status_faults_are_retried_without_duplicates(wire: WireTarget, faults: Any, profile: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run = _new_run(wire, tmp_path, request)
    upstream, tls = wire.upstream(faults)
    spec = STATUS_PROFILES[profile]
    seed = zlib.crc32(f"{wire.provider}-{profile}{os.environ.get('HARDENING_FAULT_SEED', '')}".encode()) & 0xFFFF
    with RandomStatusProxy(upstream, seed=seed, **spec, **tls) as proxy:
        run.point(proxy.url)
        ok = False
        duplicates = 0
        try:
            duplicates = _lifecycle(run, profile)
            ok = True
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nseed {seed} (HARDENING_FAULT_SEED varies it); last requests through the fault proxy: {proxy.seen[-12:]}") from None
        finally:
            record(wire.provider, fault_runs=1, fault_runs_succeeded=int(ok), duplicate_creates=duplicates)
        assert proxy.injected() > 0, "the profile injected nothing: the target was not reached through the proxy"


# ---------------------------------------------------------------------------- lost answers
LOST_ACTIONS = ("CreateSecurityGroup", "CreateVolume", "RunInstances")


def test_creates_whose_answers_are_lost_are_looked_for_not_repeated(wire: WireTarget, faults: Any, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The cloud makes the object and its answer is lost (a 500 after the create, as when the
    connection drops): the retry must look for what the first try made, not make a second.
    libcloud's EC2 driver on moto: the security group, each replica's data disk, each instance."""
    run = _new_run(wire, tmp_path, request, volume=True)
    upstream, tls = wire.upstream(faults)
    ok, duplicates = False, 0
    try:
        with LostAnswerProxy(upstream, actions=LOST_ACTIONS, **tls) as proxy:
            run.point(proxy.url)
            run.ok("deploy", "--yes", CT_GREETING="one")
            assert sorted(proxy.lost) == sorted(LOST_ACTIONS), f"answers lost: {proxy.lost} (want one of each of {LOST_ACTIONS})"
            volumes = len(wire.ct.objects(run.name)["volumes"])
            duplicates = _count(run, REPLICAS, "a deploy whose creates lost their answers") + max(0, volumes - REPLICAS)
            assert volumes == REPLICAS, f"{volumes} data disks (want {REPLICAS}): {wire.ct.objects(run.name)}"
            run.ok("destroy", "--yes", "--volumes")
            assert not any(wire.ct.objects(run.name).values()), wire.ct.objects(run.name)
        ok = True
    finally:
        record(wire.provider, fault_runs=1, fault_runs_succeeded=int(ok), duplicate_creates=duplicates)


# ---------------------------------------------------------------------------- resets and latency
def test_connection_resets_are_retried_without_duplicates(wire: WireTarget, faults: Any, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    run = _new_run(wire, tmp_path, request)
    run.point(wire.tcp_endpoint(faults))
    faults.reset_peer(wire.toxi_proxy, after_ms=0, toxicity=0.3)
    ok, duplicates = False, 0
    try:
        duplicates = _lifecycle(run, "reset")
        ok = True
    finally:
        record(wire.provider, fault_runs=1, fault_runs_succeeded=int(ok), duplicate_creates=duplicates)


def test_two_second_latency(wire: WireTarget, faults: Any, full: bool, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """2 s on every answer. CI: only for the first seconds of a deploy (a few calls); --full: the whole lifecycle."""
    run = _new_run(wire, tmp_path, request)
    run.point(wire.tcp_endpoint(faults))
    proxy = wire.toxi_proxy
    ok, duplicates = False, 0
    try:
        if full:
            faults.latency(proxy, 2000)
            duplicates = _lifecycle(run, "latency")
        else:
            name = faults.latency(proxy, 2000)
            timer = threading.Timer(8.0, faults.remove, (proxy, name))
            timer.start()
            try:
                run.ok("deploy", "--yes", CT_GREETING="one")
            finally:
                timer.cancel()
                faults.reset()
            duplicates = _count(run, _expected_instances(wire.provider, REPLICAS), "deploy under latency")
        ok = True
    finally:
        record(wire.provider, fault_runs=1, fault_runs_succeeded=int(ok), duplicate_creates=duplicates)


# ---------------------------------------------------------------------------- blackout
def _watch(proc: subprocess.Popen[str], marker: str, seen: threading.Event, lines: list[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if marker in line:
            seen.set()


def test_blackout_fails_after_the_budget_and_converges(wire: WireTarget, faults: Any, full: bool, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The API goes away in the middle of an update for longer than the retry budget."""
    blackout, budget = (30.0, None) if full else (8.0, "2")
    run = _new_run(wire, tmp_path, request)
    run.point(wire.tcp_endpoint(faults))
    proxy = wire.toxi_proxy
    ok, duplicates = False, 0
    try:
        run.ok("deploy", "--yes", CT_GREETING="one")
        env = {**run.env, "CT_GREETING": "two"}
        if budget is not None:
            env["PORTABLE_RETRY_BUDGET"] = budget
        proc = subprocess.Popen(run.argv("deploy", "--yes"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        started = threading.Event()
        reader = threading.Thread(target=_watch, args=(proc, "revision 2:", started, lines), daemon=True)
        reader.start()
        try:
            assert started.wait(300), "".join(lines)
            faults.set_enabled(proxy, False)
            went_dark = time.monotonic()
            while proc.poll() is None and time.monotonic() - went_dark < blackout:
                time.sleep(0.2)
            failed_after = time.monotonic() - went_dark
        finally:
            faults.set_enabled(proxy, True)
        proc.wait(timeout=600)
        reader.join(timeout=10)
        err = "".join(lines)
        assert proc.returncode == 1, f"exit {proc.returncode} (want 1) after a {blackout:.0f}s blackout:\n{err}"
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in err, err
        limit = float(budget or DEFAULT_BUDGET)
        print(f"\nblackout {wire.provider}: the update failed {failed_after:.1f}s into a {blackout:.0f}s blackout (budget {limit:.0f}s): {errors[0].strip()}")
        assert failed_after < blackout, f"the failure came {failed_after:.1f}s into a {blackout:.0f}s blackout (past the budget)"
        assert failed_after >= limit * 0.5, f"the update gave up {failed_after:.1f}s into the blackout, well before the {limit:.0f}s budget:\n{err}"
        # the previous revision still serves and the state says so
        run.point(None)
        history = run.ok("history")
        assert "failed" in history and "deployed" in history, history
        assert run.greetings().count("one") >= (1 if wire.provider == "kubernetes" else REPLICAS), run.greetings()
        # a plain rerun converges
        run.point(wire.tcp_endpoint(faults))
        run.ok("deploy", "--yes", CT_GREETING="two")
        duplicates = _count(run, _expected_instances(wire.provider, REPLICAS), "the rerun after a blackout")
        assert set(run.greetings()) == {"two"}, run.greetings()
        ok = True
    finally:
        faults.reset()
        record(wire.provider, fault_runs=1, fault_runs_succeeded=int(ok), duplicate_creates=duplicates)


def test_budget_variable_is_read_per_run() -> None:
    """PORTABLE_RETRY_BUDGET bounds the retries of a call (documented in the README)."""
    from portable.engine.retry import retry_budget, retry_transient
    from portable.errors import TransientError

    calls: list[float] = []

    @retry_transient(attempts=50, max_seconds=120)
    def down() -> None:
        calls.append(time.monotonic())
        raise TransientError("down")

    os.environ["PORTABLE_RETRY_BUDGET"] = "1.5"
    try:
        assert retry_budget() == 1.5
        start = time.monotonic()
        with pytest.raises(TransientError):
            down()
        assert time.monotonic() - start <= 2.5 and len(calls) >= 2, calls
    finally:
        del os.environ["PORTABLE_RETRY_BUDGET"]


def test_nested_retries_share_one_budget() -> None:
    """A call that gives up after its own tries, inside an action that retries it: the action's
    retry must not give that call a fresh budget (what let the --full blackout be waited out).
    Retry-After fixes each wait at 1 s: the call's 3 tries take 2 s, the action tries again at
    3 s (2 s + 1 s is within the 3.5 s budget), and there the call must stop, not wait 2 s more."""
    from portable.engine.retry import call_with_retry, retry_transient
    from portable.errors import TransientError

    tries: list[float] = []

    @retry_transient(attempts=3, max_seconds=120)
    def unreachable() -> None:
        tries.append(time.monotonic())
        raise TransientError("down", retry_after=1.0)

    os.environ["PORTABLE_RETRY_BUDGET"] = "3.5"
    try:
        start = time.monotonic()
        with pytest.raises(TransientError):
            call_with_retry(unreachable, attempts=3)
        took = time.monotonic() - start
    finally:
        del os.environ["PORTABLE_RETRY_BUDGET"]
    assert took < 4.0, f"gave up after {took:.1f}s ({len(tries)} tries) with a 3.5 s budget"
    assert len(tries) == 4, [round(t - start, 1) for t in tries]  # 3 of the first call, 1 of the action's second try
