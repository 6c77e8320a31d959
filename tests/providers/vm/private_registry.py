"""A second Distribution registry on loopback that demands a password (htpasswd), holding
lab/web:1 as <server>/private/web:1: what a VM must log in to before it can pull. The lab's
own registry has no auth, so tests of registry logins start this one (the lab's
`docker-registry` binary), as tests/e2e/test_cd_registry_login.py does."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

USER = "portable"


@contextlib.contextmanager
def private_registry(docker_host: str, root: Path, password: str) -> Iterator[str]:
    """The registry's server (127.0.0.1:PORT), user USER with `password`; stopped afterwards."""
    import crypt  # noqa: PLC0415 - deprecated, but the only bcrypt at hand; the registry wants bcrypt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (root / "data").mkdir(parents=True)
    (root / "htpasswd").write_text(f"{USER}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (root / "config.yml").write_text(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " + str(root / "data") + "\n"
        f"http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: lab\n    path: {root / 'htpasswd'}\n"
    )
    server = f"127.0.0.1:{port}"
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{server}/v2/", timeout=2)  # noqa: S310 - loopback
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the private registry did not start"
            time.sleep(0.3)
        env = dict(os.environ, DOCKER_HOST=docker_host, DOCKER_CONFIG=str(root / "client"))
        subprocess.run(["docker", "login", "-u", USER, "--password-stdin", server], input=password, text=True, env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["docker", "tag", "lab/web:1", f"{server}/private/web:1"], env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["docker", "push", f"{server}/private/web:1"], env=env, check=True, capture_output=True, timeout=300)
        subprocess.run(["docker", "rmi", f"{server}/private/web:1"], env=env, capture_output=True, timeout=60)
        yield server
    finally:
        subprocess.run(["docker", "-H", docker_host, "rmi", "-f", f"{server}/private/web:1"], capture_output=True, timeout=60)
        proc.terminate()
        proc.wait(timeout=30)
