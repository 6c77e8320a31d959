"""A second Distribution registry on loopback that demands a password (htpasswd): what a VM
must log in to before it can pull. The lab's own registry has no auth, so tests of registry
logins start this one (the lab's `docker-registry` binary), as tests/e2e/test_cd_registry_login.py
does. It serves the lab registry's storage read-only (maintenance readonly, no upload purging),
so the lab's images are there at once (`<server>/lab/web:1`) without a push of their layers
(a push took 30 s of a loaded machine)."""
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
from typing import Any

USER = "portable"


@contextlib.contextmanager
def private_registry(lab_env: dict[str, Any], root: Path, password: str) -> Iterator[str]:
    """The registry's server (127.0.0.1:PORT), user USER with `password`, holding what the lab
    registry holds (e.g. lab/web:1); stopped afterwards."""
    import crypt  # noqa: PLC0415 - deprecated, but the only bcrypt at hand; the registry wants bcrypt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root.mkdir(parents=True)
    storage = Path(lab_env.get("LAB_RUN") or os.environ.get("LAB_RUN", "/tmp/portable-lab")) / "registry" / "data"
    assert storage.is_dir(), f"the lab registry's storage {storage} is missing"
    (root / "htpasswd").write_text(f"{USER}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (root / "config.yml").write_text(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " + str(storage) + "\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n    readonly:\n      enabled: true\n"
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
        yield server
    finally:
        host = lab_env.get("LAB_DOCKER_HOST") or os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        subprocess.run(["docker", "-H", host, "rmi", f"{server}/lab/web:1"], capture_output=True, timeout=60)  # the tag a test's pull left
        proc.terminate()
        proc.wait(timeout=30)
