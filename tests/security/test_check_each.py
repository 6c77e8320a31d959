"""`portable check`, one check at a time: a manifest that triggers it, one that does not
(the clean base, and for some checks a near miss), and the exact text a user reads, with the
file:line:column of the field, the severity, why, the fix, and the exit code (0 clean or below
--fail-on, 2 at or above it)."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from portable.check.checks import CHECKS
from portable.cli.main import cli

BASE = {  # a service every check passes: pinned, non-root, limited, health-checked, read-only root
    "image": 'image: registry.example.com/web:1.4.2',
    "user": 'user: "10001"',
    "ports": 'ports: [{port: 8080, expose: internal}]',
    "health": 'health: {http: {path: /, port: 8080}}',
    "resources": 'resources: {cpu: 0.5, memory: 128Mi}',
    "security": 'security: {read_only_root: true}',
}


def manifest(targets: str = "", **lines: str | None) -> str:
    fields = {**BASE, **lines}
    body = "".join(f"    {v}\n" for v in fields.values() if v)
    return "apiVersion: portable/v1\nkind: Application\nmetadata: {name: sec}\nservices:\n  web:\n" + body + targets


# case -> (lines replacing or dropping (None) the base's, target lines); the name says what it shows
CASES: dict[str, tuple[dict[str, str | None], str]] = {
    "clean": ({}, ""),
    "privileged": ({"security": "security: {read_only_root: true, privileged: true}"}, ""),
    "privilege-escalation": ({"security": "security: {read_only_root: true, no_new_privileges: false}"}, ""),
    "runs-as-root": ({"user": None}, ""),
    "runs-as-root-0": ({"user": 'user: "0:0"'}, ""),
    "capabilities-not-dropped": ({"security": "security: {read_only_root: true, capabilities: {drop: [NET_RAW]}}"}, ""),
    "capabilities-added": ({"security": "security: {read_only_root: true, capabilities: {add: [CHOWN, NET_BIND_SERVICE]}}"}, ""),
    "host-namespaces": ({"security": "security: {read_only_root: true, host_pid: true}"}, ""),
    "writable-root": ({"security": None}, ""),
    "no-limits": ({"resources": "resources: {cpu: 0.5}"}, ""),
    "image-not-pinned": ({"image": "image: registry.example.com/web"}, ""),
    "image-latest": ({"image": "image: registry.example.com:5000/web:latest"}, ""),
    "literal-secret": ({"env": "env: {DB_PASSWORD: hunter2, PASSWORD_FILE: /run/secrets/db, LOG_LEVEL: info}"}, ""),
    "literal-secret-entropy": ({"env": "env: {SESSION: 9fQ2xLr7Vt3mZp8KwY4bN6cH}"}, ""),
    "literal-secret-url": ({"env": "env: {DATABASE_URL: 'postgres://app:s3cret@db/app'}"}, ""),
    "literal-secret-near-miss": ({"env": "env: {AUTH_MODE: oauth, PASSWORD_FILE: /run/secrets/db, KV_URL: 'http://kv:6379', MONKEY: banana}"}, ""),
    "image-digest": ({"image": "image: registry.example.com/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, ""),
    "capabilities-net-bind-only": ({"security": "security: {read_only_root: true, capabilities: {add: [NET_BIND_SERVICE]}}"}, ""),
    "no-health": ({"health": None}, ""),
    "public-without-tls": ({"ports": "ports: [{port: 8080, expose: public}]"}, "targets:\n  staging: {provider: kubernetes, context: lab, namespace: sec}\n"),
    "public-with-tls": ({"ports": "ports: [{port: 8080, expose: public}]"}, "targets:\n  staging: {provider: kubernetes, context: lab, namespace: sec, ingress: {host: sec.example.com, tls_secret: sec-tls}}\n"),
    "database-public": ({"image": "image: postgres:15.4", "ports": "ports: [{port: 5432, protocol: tcp, expose: public}]", "health": "health: {tcp: {port: 5432}}"}, ""),
    "registry-plain-http": ({"image": "image: 127.0.0.1:5000/web:1.4.2"}, "targets:\n  staging: {provider: kubernetes, context: lab, namespace: sec, registries: [{server: 'http://reg.example.com', username: ci, password_secret: reg}]}\n"),
}
EXPECTED: dict[str, tuple[int, str]] = {
    'clean': (0, 'sec on local: 0 findings (0 error, 0 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'literal-secret-near-miss': (0, 'sec on local: 0 findings (0 error, 0 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'image-digest': (0, 'sec on local: 0 findings (0 error, 0 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'capabilities-net-bind-only': (0, 'sec on local: 0 findings (0 error, 0 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'privileged': (2, "privileged.yaml:11:38: error[privileged] services.web.security.privileged: the container runs privileged: every capability and every host device, so a compromise of the service is a compromise of the host (Kubernetes' baseline and restricted policies reject it)\n  fix: remove `privileged: true`; add only the capabilities the service needs under security.capabilities.add\nsec on local: 1 finding (1 error, 0 warning, 0 note, 0 waived); 1 at or above --fail-on error\n"),
    'privilege-escalation': (2, "privilege-escalation.yaml:11:38: error[privilege-escalation] services.web.security.no_new_privileges: no_new_privileges is off: a setuid or file-capability binary in the image can raise the process's privileges (allowPrivilegeEscalation: true)\n  fix: remove `no_new_privileges: false` (the default is true)\nsec on local: 1 finding (1 error, 0 warning, 0 note, 0 waived); 1 at or above --fail-on error\n"),
    'runs-as-root': (0, 'runs-as-root.yaml:5:3: warning[runs-as-root] services.web: no `user:`: the container runs as the image\'s user, root unless the image says otherwise, so an escape from the process is root\'s\n  fix: set `user: "10001"` (a numeric uid the image\'s files allow; Kubernetes\' restricted policy needs it)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'runs-as-root-0': (0, 'runs-as-root-0.yaml:7:5: warning[runs-as-root] services.web.user: `user: 0:0` runs the container as root\n  fix: set a non-root numeric uid, e.g. `user: "10001"`\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'capabilities-not-dropped': (0, "capabilities-not-dropped.yaml:11:53: warning[capabilities-not-dropped] services.web.security.capabilities.drop: capabilities are not all dropped (drops only NET_RAW): the runtime's defaults (Docker's 14, containerd's) stay, e.g. NET_RAW for spoofed packets, CHOWN and DAC_OVERRIDE over every file\n  fix: keep the default `drop: [ALL]` and name what the service needs under `add`\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n"),
    'capabilities-added': (0, "capabilities-added.yaml:11:53: warning[capabilities-added] services.web.security.capabilities.add: the service adds CHOWN: each is a power over the kernel or the files of other users beyond an ordinary process (Kubernetes' restricted policy allows only NET_BIND_SERVICE)\n  fix: run the image as a non-root `user:` that owns its files, so it needs no capability; keep only what it cannot work without and waive this check with the reason\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n"),
    'host-namespaces': (2, "host-namespaces.yaml:11:38: error[host-namespaces] services.web.security.host_pid: the container shares the host's processes (it can see and signal every process)\n  fix: remove `host_pid: true`; publish ports through `ports:` instead\nsec on local: 1 finding (1 error, 0 warning, 0 note, 0 waived); 1 at or above --fail-on error\n"),
    'writable-root': (0, "writable-root.yaml:5:3: note[writable-root] services.web: the root filesystem is writable: an intruder can change the service's binaries and configuration in place\n  fix: set `security: {read_only_root: true}` and mount a volume where the service writes\nsec on local: 1 finding (0 error, 0 warning, 1 note, 0 waived); none at or above --fail-on error\n"),
    'no-limits': (0, 'no-limits.yaml:10:5: warning[no-limits] services.web.resources: no memory limit: one busy or leaking replica can starve every other workload on the same host or node\n  fix: set `resources: {cpu: 0.5, memory: 256Mi}` to what the service needs\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'image-not-pinned': (0, 'image-not-pinned.yaml:6:5: warning[image-not-pinned] services.web.image: image registry.example.com/web has no tag (so `latest`): every pull may bring a different image, so what runs is not what was reviewed, and a rollback does not go back\n  fix: pin a version (registry.example.com/web:1.2.3), better a digest (@sha256:...)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'image-latest': (0, 'image-latest.yaml:6:5: warning[image-not-pinned] services.web.image: image registry.example.com:5000/web:latest is tagged `latest`: every pull may bring a different image, so what runs is not what was reviewed, and a rollback does not go back\n  fix: pin a version (registry.example.com:5000/web:1.2.3), better a digest (@sha256:...)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'literal-secret': (0, "literal-secret.yaml:12:11: warning[literal-secret] services.web.env.DB_PASSWORD: the name DB_PASSWORD says it is a credential: a value in `env:` sits in the manifest, in plan output and in the target's plain configuration (container inspect, the pod spec, VM user data)\n  fix: declare it under top-level `secrets: {name: {from: env:VAR}}` and mount it with the service's `secrets:` (or point DB_PASSWORD_FILE at /run/secrets/NAME)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n"),
    'literal-secret-entropy': (0, "literal-secret-entropy.yaml:12:11: warning[literal-secret] services.web.env.SESSION: the value is long and random-looking, like a key or token: a value in `env:` sits in the manifest, in plan output and in the target's plain configuration (container inspect, the pod spec, VM user data)\n  fix: declare it under top-level `secrets: {name: {from: env:VAR}}` and mount it with the service's `secrets:` (or point SESSION_FILE at /run/secrets/NAME)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n"),
    'literal-secret-url': (0, "literal-secret-url.yaml:12:11: warning[literal-secret] services.web.env.DATABASE_URL: the URL carries a password: a value in `env:` sits in the manifest, in plan output and in the target's plain configuration (container inspect, the pod spec, VM user data)\n  fix: declare it under top-level `secrets: {name: {from: env:VAR}}` and mount it with the service's `secrets:` (or point DATABASE_URL_FILE at /run/secrets/NAME)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n"),
    'no-health': (0, 'no-health.yaml:5:3: warning[no-health] services.web: no `health:` check: a deploy cannot tell a started container from a working one, so a broken revision is not rolled back and traffic reaches it\n  fix: add `health: {http: {path: /healthz, port: PORT}}` (or tcp, or exec)\nsec on local: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'public-without-tls': (0, 'public-without-tls.yaml:8:13: warning[public-without-tls] services.web.ports[0]: port 8080 is public plain HTTP on target `staging`, which can terminate TLS: passwords and cookies cross the network readable\n  fix: publish it through an Ingress with TLS: targets.staging.ingress: {host: ..., tls_secret: ...}\nsec on staging: 1 finding (0 error, 1 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'public-with-tls': (0, 'sec on staging: 0 findings (0 error, 0 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
    'database-public': (2, 'database-public.yaml:8:41: error[database-public] services.web.ports[0].expose: postgres:15.4 looks like postgres, and port 5432 is public: databases are the first thing scanned for on the internet, and their own authentication is rarely built for it\n  fix: set `expose: internal` (the other services still reach it by name)\nsec on local: 1 finding (1 error, 0 warning, 0 note, 0 waived); 1 at or above --fail-on error\n'),
    'registry-plain-http': (0, 'registry-plain-http.yaml:13:79: warning[registry-plain-http] targets.staging.registries[0].server: registry http://reg.example.com is plain HTTP: images and the pull password cross the network unauthenticated and readable, and can be swapped on the way\n  fix: serve the registry over HTTPS and write its host without http://\nregistry-plain-http.yaml:6:5: warning[registry-plain-http] services.web.image: image 127.0.0.1:5000/web:1.4.2 comes from 127.0.0.1:5000, a loopback registry (which Docker and containerd reach over plain HTTP): on target `staging` each host pulls from its own loopback, without TLS\n  fix: push the image to a registry served over HTTPS that the target reaches\nsec on staging: 2 findings (0 error, 2 warning, 0 note, 0 waived); none at or above --fail-on error\n'),
}


def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, *extra: str) -> tuple[int, str]:
    lines, targets = CASES[case]
    (tmp_path / f"{case}.yaml").write_text(manifest(targets, **lines))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORTABLE_POLICY", raising=False)
    result = CliRunner().invoke(cli, ["check", "-f", f"{case}.yaml", "-t", "staging" if targets else "local", *extra])
    return result.exit_code, result.output


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_output_is_exact(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check(tmp_path, monkeypatch, case) == EXPECTED[case]


def test_every_check_has_a_triggering_case_and_the_clean_base_triggers_none() -> None:
    fired = {line.split("[", 1)[1].split("]", 1)[0] for _, text in EXPECTED.values() for line in text.splitlines() if "[" in line and not line.startswith("  ")}
    assert fired == set(CHECKS)
    assert EXPECTED["clean"][0] == 0 and "0 findings" in EXPECTED["clean"][1]


def test_fail_on_warning_turns_a_warning_into_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = check(tmp_path, monkeypatch, "no-health", "--fail-on", "warning")
    assert code == 2 and text.endswith("1 at or above --fail-on warning\n")
    assert check(tmp_path, monkeypatch, "writable-root", "--fail-on", "warning")[0] == 0  # a note is below warning
    assert check(tmp_path, monkeypatch, "writable-root", "--fail-on", "note")[0] == 2
