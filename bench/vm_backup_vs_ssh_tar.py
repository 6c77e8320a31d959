"""Reading a volume out of an AWS instance: `portable backup` against `ssh ... tar | gzip`, side by side.

On moto, with the instance brought up as a lab host at its private address
(tests/providers/vm/instance_host.py: Debian's sshd, the instance's user data), and a volume
of --mb megabytes (half random bytes, half repetitive text, in 1 MB files):
  1. `portable backup --target aws`: logs in over SSH while planning (host key, volume
     directory), then streams `tar` of the volume over the channel into a gzip'd archive with a
     SHA-256 index;
  2. what a user would otherwise do: `ssh -i KEY root@ADDRESS tar -C DIR -cf - . | gzip >
     FILE` (OpenSSH's client): no checksums, no host key policy beyond OpenSSH's own.
Each round runs both, alternating which goes first; prints the medians and their ratio.

    bash tests/lab/lab up moto docker registry dbimages && python bench/vm_backup_vs_ssh_tar.py [--mb 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "providers" / "vm"))

from ssh_source import MOTO_UBUNTU_AMI, new_app, ssh_yaml, target_yaml  # noqa: E402


def fill(volume: Path, mb: int) -> None:
    volume.mkdir(parents=True, exist_ok=True)
    text = (b"portable moves data between clouds; " * 30000)[: 1 << 20]
    for i in range(mb):
        (volume / f"f{i:04d}.bin").write_bytes(random.randbytes(1 << 20) if i % 2 else text)


def timed(argv: list[str], env: dict[str, str], shell: bool = False) -> float:
    t = time.monotonic()
    out = subprocess.run(argv if not shell else " ".join(argv), shell=shell, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode:
        raise SystemExit(f"{argv[:3]} failed: {out.stderr[-800:]}")
    return time.monotonic() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env_file = subprocess.run(["bash", str(REPO / "tests/lab/lab"), "env"], capture_output=True, text=True).stdout.strip()
    lab = json.loads(Path(env_file).with_name("env.json").read_text())
    moto, docker_host = lab["LAB_MOTO_URL"], lab.get("LAB_DOCKER_HOST", "unix:///var/run/docker.sock")
    with tempfile.TemporaryDirectory() as tmp:
        app = new_app(Path(tmp), moto, docker_host, "ap-northeast-3", "bench")
        app.target = "aws"
        app.write(target_yaml("aws", {"provider": "aws", "region": app.region, "endpoint_url": moto, "ami": MOTO_UBUNTU_AMI, "readiness": "instance",
                                      "key_name": app.key_name, "ssh": ssh_yaml(app.key_file)}))
        try:
            done = app.cli("deploy", "-t", "aws", "--yes")
            if done.returncode:
                raise SystemExit(done.stderr)
            (host,) = app.boot_all()
            fill(host.volume("data"), args.mb)
            cli = [sys.executable, "-m", "portable.cli.main", "backup", "-t", "aws", "-f", str(app.manifest)]
            app.cli("backup", "-t", "aws")  # first contact: the host key is recorded (not timed)
            known = Path(tmp) / "known_hosts"
            by_hand = ["ssh", "-i", str(app.key_file), "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=accept-new",
                       f"root@{host.address}", "tar", "-C", "/var/lib/portable/volumes/data", "-cf", "-", ".", "|", "gzip", ">", str(Path(tmp) / "by-hand.tar.gz")]
            timed(by_hand, app.env, shell=True)  # its first contact too
            portable_s, hand_s = [], []
            for r in range(args.rounds):
                order = [("portable", cli, False), ("ssh", by_hand, True)]
                for name, argv, shell in (order if r % 2 == 0 else order[::-1]):
                    (portable_s if name == "portable" else hand_s).append(timed(argv, app.env, shell))
            p, h = statistics.median(portable_s), statistics.median(hand_s)
            print(f"volume: {args.mb} MB in {args.mb} files, {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
            print(f"portable backup -t aws (SSH, plan-time check, checksummed archive): median {p:.2f} s  {[round(x, 2) for x in portable_s]}")
            print(f"ssh tar | gzip by hand:                                          median {h:.2f} s  {[round(x, 2) for x in hand_s]}")
            print(f"ratio portable/ssh: {p / h:.2f}")
        finally:
            app.labs.close(app.app)
            app.cli("destroy", "-t", "aws", "--yes", "--volumes")
            app.ec2.delete_key_pair(KeyName=app.key_name)


if __name__ == "__main__":
    main()
