"""Smoke tests of the lab parts in tests/lab/parts.sh: each one does what the tests that use it rely on.

Run after `bash tests/lab/lab up` (or through `bash tests/lab/lab test tests/lab`). Under CI=true a
component that does not answer fails these tests (tests/conftest.py, `lab.require`).
"""
from __future__ import annotations

import base64
import http.client
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any


def run(*argv: str, timeout: float = 120, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command; a failure shows its whole output."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def test_postgres_component_accepts_the_env_files_url(lab: Any) -> None:
    """The team-state store's database: the URL logs in, the user creates a schema and reads rows back."""
    env = lab.require("postgres")
    url = env["LAB_POSTGRES_URL"]
    assert url == (f"postgresql://{env['LAB_POSTGRES_USER']}:{env['LAB_POSTGRES_PASSWORD']}@"
                   f"{env['LAB_POSTGRES_HOST']}:{env['LAB_POSTGRES_PORT']}/{env['LAB_POSTGRES_DB']}")
    schema = "smoke_" + uuid.uuid4().hex[:8]
    sql = (f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.apps(name text primary key, n int);"
           f"INSERT INTO {schema}.apps VALUES ('a', 1), ('b', 2);")
    try:
        run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql)
        rows = run("psql", "-X", "-t", "-A", url, "-c", f"SELECT name || '=' || n FROM {schema}.apps ORDER BY name")
        assert rows.stdout.split() == ["a=1", "b=2"]
        who = run("psql", "-X", "-t", "-A", url, "-c",
                  "SELECT current_user, current_database(), rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert who.stdout.strip() == f"{env['LAB_POSTGRES_USER']}|{env['LAB_POSTGRES_DB']}|t"
    finally:
        run("psql", "-X", "-q", url, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE", check=False)
    bad = run("psql", "-X", url.replace(env["LAB_POSTGRES_PASSWORD"], "wrong-password"), "-c", "select 1",
              check=False)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr


def docker(host: str, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("docker", "-H", host, *args, timeout=timeout, check=check)


def wait_healthy(host: str, container: str, timeout: float = 90) -> None:
    """Until the image's HEALTHCHECK reports healthy (pg_isready / redis-cli ping)."""
    end = time.monotonic() + timeout
    while True:
        status = docker(host, "inspect", "-f", "{{.State.Health.Status}}", container).stdout.strip()
        if status == "healthy":
            return
        if time.monotonic() > end:
            logs = docker(host, "logs", "--tail", "30", container, check=False)
            raise AssertionError(f"{container} is {status} after {timeout}s\n{logs.stdout}{logs.stderr}")
        time.sleep(0.5)


def test_postgres_image_keeps_its_rows_across_a_restart_and_a_new_container(lab: Any) -> None:
    """lab/postgres:15 honours POSTGRES_USER/PASSWORD/DB; the rows live in the volume, not the container."""
    env = lab.require("docker", "dbimages")
    host, name, vol = env["LAB_DOCKER_HOST"], "lab-pg-" + uuid.uuid4().hex[:8], "lab-pgdata-" + uuid.uuid4().hex[:8]
    creds = ["-e", "POSTGRES_USER=shop", "-e", "POSTGRES_PASSWORD=pg-smoke-pw", "-e", "POSTGRES_DB=orders"]
    psql = ["exec", "-e", "PGPASSWORD=pg-smoke-pw", name, "psql", "-X", "-h", "127.0.0.1", "-U", "shop", "-d", "orders",
            "-v", "ON_ERROR_STOP=1", "-t", "-A", "-c"]
    try:
        docker(host, "run", "-d", "--name", name, *creds, "-v", f"{vol}:/var/lib/postgresql/data", env["LAB_POSTGRES_IMAGE"])
        wait_healthy(host, name)
        docker(host, *psql, "CREATE TABLE items(id int primary key, what text); INSERT INTO items VALUES (1, 'tea'), (2, 'cake')")
        docker(host, "restart", name)
        wait_healthy(host, name)
        assert docker(host, *psql, "SELECT id || ':' || what FROM items ORDER BY id").stdout.split() == ["1:tea", "2:cake"]
        docker(host, "rm", "-f", name)
        docker(host, "run", "-d", "--name", name, *creds, "-v", f"{vol}:/var/lib/postgresql/data", env["LAB_POSTGRES_IMAGE"])
        wait_healthy(host, name)
        assert docker(host, *psql, "SELECT count(*) FROM items").stdout.strip() == "2"
        wrong = docker(host, "exec", "-e", "PGPASSWORD=wrong", name, "psql", "-X", "-h", "127.0.0.1", "-U", "shop",
                       "-d", "orders", "-c", "select 1", check=False)
        assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr
    finally:
        docker(host, "rm", "-f", name, check=False)
        docker(host, "volume", "rm", vol, check=False)


def test_redis_image_answers_ping_and_keeps_a_key(lab: Any) -> None:
    env = lab.require("docker", "dbimages")
    host, name = env["LAB_DOCKER_HOST"], "lab-redis-" + uuid.uuid4().hex[:8]
    try:
        docker(host, "run", "-d", "--name", name, env["LAB_REDIS_IMAGE"])
        wait_healthy(host, name)
        assert docker(host, "exec", name, "redis-cli", "PING").stdout.strip() == "PONG"
        assert docker(host, "exec", name, "redis-cli", "SET", "greeting", "hello").stdout.strip() == "OK"
        assert docker(host, "exec", name, "redis-cli", "GET", "greeting").stdout.strip() == "hello"
        assert "redis_version:7." in docker(host, "exec", name, "redis-cli", "INFO", "server").stdout
    finally:
        docker(host, "rm", "-f", name, check=False)


def test_docker_compose_v2_starts_a_two_service_file_and_waits_for_health(lab: Any, tmp_path: Path) -> None:
    """`docker compose up -d --wait` on the lab engine: a database and a web service that talks to it."""
    env = lab.require("docker", "images", "dbimages", "compose")
    assert run("docker", "compose", "version", "--short").stdout.strip() == env["LAB_COMPOSE_VERSION"]
    project = "labsmoke" + uuid.uuid4().hex[:6]
    (tmp_path / "compose.yaml").write_text(f"""
services:
  db:
    image: {env['LAB_REDIS_IMAGE']}
  web:
    image: {env['LAB_WEB_IMAGE']}
    environment: {{GREETING: compose}}
    ports: ["127.0.0.1::8080"]
    depends_on:
      db: {{condition: service_healthy}}
""")
    compose = ["docker", "-H", env["LAB_DOCKER_HOST"], "compose", "-p", project, "-f", str(tmp_path / "compose.yaml")]
    try:
        run(*compose, "up", "-d", "--wait", "--wait-timeout", "120", timeout=180)
        ps = run(*compose, "ps", "--format", "{{.Service}} {{.Health}}").stdout.split("\n")
        assert sorted(line for line in ps if line) == ["db healthy", "web healthy"]
        port = run(*compose, "port", "web", "8080").stdout.strip().rsplit(":", 1)[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/count", timeout=5) as r:
            assert r.read().decode().strip() == "count=1 greeting=compose"
        web = run(*compose, "ps", "-q", "web").stdout.strip()
        ping = docker(env["LAB_DOCKER_HOST"], "exec", web, "sh", "-c", "echo PING | nc -w 2 db 6379", check=False)
        assert "PONG" in ping.stdout, ping
    finally:
        run(*compose, "down", "-v", "-t", "5", check=False, timeout=120)
    assert run("docker", "-H", env["LAB_DOCKER_HOST"], "ps", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout == ""


def kubectl_get_ns(env: dict[str, str], server: str, timeout: str = "20s") -> tuple[float, subprocess.CompletedProcess[str]]:
    """kubectl against `server` (the lab's CA and token), and how long it took."""
    start = time.monotonic()
    p = run("kubectl", "--kubeconfig", env["KUBECONFIG"], "--server", server, f"--request-timeout={timeout}",
            "get", "namespace", "default", "-o", "name", check=False, timeout=60)
    return time.monotonic() - start, p


def test_a_toxic_on_the_apiserver_proxy_slows_then_breaks_kubectl_and_removing_it_restores(lab: Any, faults: Any) -> None:
    env = lab.require("k8s", "faults")
    shared = env["LAB_FAULTS_K8S_API"]
    assert shared != env["LAB_K8S_API"]
    took, p = kubectl_get_ns(env, shared)                     # the lab's proxy answers
    assert p.returncode == 0 and p.stdout.strip() == "namespace/default", p.stderr
    # the toxics go on a proxy of this test's own in front of the same apiserver: the shared one
    # is used by other runs at the same time (fault tests add and remove toxics there)
    own = faults.private_proxy("k8s_api")
    proxied = "https://" + faults.listen(own)
    took, p = kubectl_get_ns(env, proxied)
    assert p.returncode == 0 and p.stdout.strip() == "namespace/default", p.stderr
    with faults.toxic(own, "latency", latency=1500):
        took, p = kubectl_get_ns(env, proxied)
        assert p.returncode == 0, p.stderr
        assert took >= 1.5, f"kubectl took {took:.2f}s through a 1.5 s latency toxic"
        direct, _ = kubectl_get_ns(env, env["LAB_K8S_API"])
        assert direct < 1.5                                   # the real server itself is not slowed
    name = faults.timeout(own, 0)                             # bytes are held: nothing comes back
    took, p = kubectl_get_ns(env, proxied, timeout="3s")
    assert p.returncode != 0 and took < 30, (took, p.stdout, p.stderr)
    faults.remove(own, name)
    name = faults.reset_peer(own)                             # connections reset
    _, p = kubectl_get_ns(env, proxied, timeout="3s")
    assert p.returncode != 0 and "reset" in (p.stderr + p.stdout).lower(), p.stderr
    faults.remove(own, name)
    assert faults.toxics(own) == []
    took, p = kubectl_get_ns(env, proxied)
    assert p.returncode == 0 and p.stdout.strip() == "namespace/default" and took < 10, (took, p.stderr)


def test_limit_data_truncates_the_moto_answer_and_engine_b_is_reached_through_its_proxy(lab: Any, faults: Any) -> None:
    env = lab.require("moto", "docker_b", "faults")
    url = env["LAB_FAULTS_MOTO_URL"] + "/moto-api/"
    with urllib.request.urlopen(url, timeout=10) as r:
        whole = r.read()
    assert len(whole) > 2000
    own_moto = faults.private_proxy("moto")                   # faults on proxies of this test's own: others use the shared ones
    with faults.toxic(own_moto, "limit_data", bytes=500):
        try:
            with urllib.request.urlopen(f"http://{faults.listen(own_moto)}/moto-api/", timeout=10) as r:
                got = r.read()
        except (OSError, http.client.HTTPException):
            got = b""
        assert len(got) < len(whole)
    b = run("docker", "-H", env["LAB_FAULTS_DOCKER_B_HOST"], "version", "--format", "{{.Server.Version}}")
    direct = run("docker", "-H", env["LAB_DOCKER_B_HOST"], "version", "--format", "{{.Server.Version}}")
    assert b.stdout == direct.stdout and b.stdout.strip()
    own_b = faults.private_proxy("docker_b")
    own_b_host = "tcp://" + faults.listen(own_b)
    assert run("docker", "-H", own_b_host, "info", "--format", "{{.ID}}").stdout.strip()
    faults.set_enabled(own_b, False)                          # engine B looks down, then back
    down = run("docker", "-H", own_b_host, "version", check=False, timeout=60)
    assert down.returncode != 0
    faults.set_enabled(own_b, True)
    assert run("docker", "-H", own_b_host, "info", "--format", "{{.ID}}").stdout.strip()


def test_http_fault_proxy_answers_injected_statuses_then_forwards_to_the_real_server(lab: Any) -> None:
    """5xx and 429 (with Retry-After) in front of moto and of the apiserver (TLS with the apiserver's own cert)."""
    from faults import HttpFaultProxy

    env = lab.require("moto", "k8s")
    with HttpFaultProxy(env["LAB_MOTO_URL"]) as proxy:
        proxy.fail(503, count=2, path_prefix="/moto-api")
        statuses = []
        for _ in range(3):
            try:
                with urllib.request.urlopen(proxy.url + "/moto-api/", timeout=10) as r:
                    statuses.append(r.status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
        assert statuses == [503, 503, 200]
        assert [s for _, _, s in proxy.seen] == [503, 503, 200]
    pki = Path(env["LAB_K8S_CA"]).parent
    with HttpFaultProxy(env["LAB_K8S_API"], upstream_ca=env["LAB_K8S_CA"], certfile=str(pki / "apiserver.crt"),
                        keyfile=str(pki / "apiserver.key")) as proxy:
        proxy.fail(429, count=1, retry_after=1, path_prefix="/api/v1/namespaces/default")
        took, p = kubectl_get_ns(env, proxy.url)             # client-go waits Retry-After, then retries
        assert p.returncode == 0 and p.stdout.strip() == "namespace/default", p.stderr
        answered = [s for _, path, s in proxy.seen if path.startswith("/api/v1/namespaces/default")]
        assert answered == [429, 200] and took >= 1.0
        proxy.fail(500, count=None, path_prefix="/api/v1/namespaces/default")
        _, p = kubectl_get_ns(env, proxy.url, timeout="10s")
        assert p.returncode != 0 and "injected 500" in p.stderr + p.stdout, p.stderr


def test_sshd_image_prints_its_host_keys_and_accepts_the_authorized_key(lab: Any) -> None:
    """lab/sshd:1 as a cloud instance would be: key login only, host keys checkable from the console."""
    import paramiko

    env = lab.require("docker", "dbimages")
    host, name = env["LAB_DOCKER_HOST"], "lab-sshd-" + uuid.uuid4().hex[:8]
    key = paramiko.ECDSAKey.generate()
    try:
        docker(host, "run", "-d", "--name", name, "-e", f"SSH_AUTHORIZED_KEYS={key.get_name()} {key.get_base64()} smoke",
               "-e", "SSH_USER=deploy", env["LAB_SSHD_IMAGE"])
        wait_healthy(host, name)
        console = docker(host, "logs", name).stdout
        printed = console.split("-----BEGIN SSH HOST KEY KEYS-----\n", 1)[1].split("-----END SSH HOST KEY KEYS-----", 1)[0]
        ip = docker(host, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())   # only the keys the console printed
        for line in printed.splitlines():
            kind, blob = line.split()[:2]
            client.get_host_keys().add(ip, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
        client.connect(ip, username="deploy", pkey=key, timeout=10, allow_agent=False, look_for_keys=False)
        _, out, _ = client.exec_command("id -un && tar --version | head -n1")
        assert out.read().decode().split("\n")[:2] == ["deploy", "tar (GNU tar) 1.34"]
        client.close()
        refused = paramiko.SSHClient()
        refused.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            refused.connect(ip, username="deploy", password="any", timeout=10, allow_agent=False, look_for_keys=False)
            raise AssertionError("a password login was accepted")
        except paramiko.AuthenticationException:
            pass
        finally:
            refused.close()
    finally:
        docker(host, "rm", "-f", name, check=False)


def test_powerdns_serves_a_zone_made_through_its_api_and_refuses_another_key(lab: Any) -> None:
    """The `dns` component: a zone and a record made through PowerDNS's HTTP API (the run's key)
    are answered by dig on its loopback DNS port; another key gets 401; `lab status` never shows the key."""
    import json

    env = lab.require("dns")
    api, key = env["LAB_DNS_API_URL"] + "/api/v1/servers/localhost/zones", env["LAB_DNS_API_KEY"]
    zone = f"lab-{uuid.uuid4().hex[:8]}.example.test."

    def call(method: str, url: str, body: Any = None, api_key: str = key) -> int:
        req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-API-Key": api_key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert call("POST", api, {"name": zone, "kind": "Native", "nameservers": [f"ns1.{zone}"]}) == 201
    try:
        rrset = {"name": f"www.{zone}", "type": "A", "ttl": 60, "changetype": "REPLACE", "records": [{"content": "127.0.0.42", "disabled": False}]}
        assert call("PATCH", f"{api}/{zone}", {"rrsets": [rrset]}) == 204
        dig = run("dig", "+short", "+time=3", "+tries=2", "-p", env["LAB_DNS_PORT"], "@127.0.0.1", f"www.{zone}", "A")
        assert dig.stdout.split() == ["127.0.0.42"]
        assert call("GET", api, api_key="not-the-key") == 401
        status = run("bash", str(Path(__file__).resolve().parent / "lab"), "status")
        assert "dns       up" in status.stdout and key not in status.stdout + status.stderr
    finally:
        call("DELETE", f"{api}/{zone}")
