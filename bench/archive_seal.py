"""Sealing and opening a volume archive (portable/data/sealed.py, AES-256-GCM in 1 MiB chunks)
against OpenSSL's `openssl enc -aes-256-ctr` (no authentication: a floor for AES in a stream),
side by side, on the same file of --mb megabytes (random bytes: a gzip'd tar looks like that).

Each round times: portable seal, openssl encrypt, portable unseal (authenticating every chunk),
openssl decrypt, alternating which goes first; prints MB/s medians and the ratios. Each side
runs in its own process, start-up included (python3 -c / openssl), as a user would meet it.

    python bench/archive_seal.py [--mb 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEAL = ("import os,sys; from pathlib import Path; from portable.data.sealed import DataKey, seal_file, unseal_file; "
        "k = DataKey(bytes.fromhex(os.environ['BENCH_KEY']), {'kind': 'env', 'name': 'BENCH_KEY'}); "
        "(seal_file if sys.argv[1] == 'seal' else unseal_file)(Path(sys.argv[2]), Path(sys.argv[3]), k)")


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, env=env, cwd=REPO, capture_output=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key, iv = os.urandom(32).hex(), os.urandom(16).hex()
    env = {**os.environ, "BENCH_KEY": key, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="bench-seal-") as tmp:
        plain, sealed, opened, enc, dec = (Path(tmp) / n for n in ("plain", "sealed", "opened", "enc", "dec"))
        with open(plain, "wb") as fh:
            for _ in range(args.mb):
                fh.write(os.urandom(1 << 20))
        runs: dict[str, list[float]] = {"portable seal": [], "openssl enc": [], "portable unseal": [], "openssl dec": []}
        for i in range(args.rounds):
            sides = [("portable seal", [sys.executable, "-c", SEAL, "seal", str(plain), str(sealed)]),
                     ("openssl enc", ["openssl", "enc", "-aes-256-ctr", "-K", key, "-iv", iv, "-in", str(plain), "-out", str(enc)])]
            for name, argv in sides if i % 2 == 0 else sides[::-1]:
                runs[name].append(timed(argv, env))
            sides = [("portable unseal", [sys.executable, "-c", SEAL, "unseal", str(sealed), str(opened)]),
                     ("openssl dec", ["openssl", "enc", "-d", "-aes-256-ctr", "-K", key, "-iv", iv, "-in", str(enc), "-out", str(dec)])]
            for name, argv in sides if i % 2 == 0 else sides[::-1]:
                runs[name].append(timed(argv, env))
        assert opened.read_bytes() == plain.read_bytes() == dec.read_bytes()
        overhead = (sealed.stat().st_size - plain.stat().st_size) / plain.stat().st_size * 100
    median = {name: statistics.median(t) for name, t in runs.items()}
    for name, t in median.items():
        print(f"{name:16s} {args.mb / t:8.1f} MB/s  (median of {args.rounds}: {t:.2f} s for {args.mb} MB)")
    print(f"seal / openssl enc time ratio   {median['portable seal'] / median['openssl enc']:.2f}")
    print(f"unseal / openssl dec time ratio {median['portable unseal'] / median['openssl dec']:.2f}")
    print(f"size overhead of sealing: {overhead:.4f}% (16-byte tag per 1 MiB chunk + header)")


if __name__ == "__main__":
    main()
