"""A process that holds a state lock for the store tests: `lock_holder.py URL APP TARGET`.

Prints `LOCKED {json}` once it holds the lock, then answers one line per command read on
stdin: `write` (record a revision: `WROTE N` or `REFUSED message`), `release` (leave the
lock: `RELEASED`, then exit). End of input releases too.
"""
from __future__ import annotations

import json
import sys

from portable.errors import PortableError
from portable.plan.resources import Resource
from portable.state import open_store_url


def main() -> int:
    url, app, target = sys.argv[1:4]
    store = open_store_url(url)
    with store.lock(app, target, "deploy", wait=60) as info:
        print("LOCKED " + json.dumps(info.to_dict()), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "write":
                try:
                    rev = store.begin(app, target, "deploy", "holder", [Resource("service", "web", {"image": "from-holder"})])
                    store.finish(rev, "deployed")
                    print(f"WROTE {rev.number}", flush=True)
                except PortableError as exc:
                    print("REFUSED " + " ".join(str(exc).split()), flush=True)
            elif command == "release":
                break
    print("RELEASED", flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
