"""An internal platform driving portable through its Python API.

A deployment service receives "deploy app X to target Y" requests; it validates, shows the
plan to its audit log, deploys with progress streamed to its own logger, reports status,
and turns portable's documented errors into answers for its users.

    python examples/api_deploy.py examples/hello/portable.yaml local
"""
from __future__ import annotations

import logging
import sys

import portable

log = logging.getLogger("platform.deployer")


def deploy_request(manifest: str, target: str) -> int:
    try:
        info = portable.validate(manifest)
        log.info("request: %s (%d services) -> %s", info.app, len(info.services), target)
        plan = portable.plan(manifest, target=target)
        log.info("plan for audit:\n%s", plan.render_text())
        result = portable.deploy(manifest, target=target, progress=lambda line: log.info("  %s", line))
        if result.changed:
            log.info("revision %s is live", result.revision)
        else:
            log.info("nothing to do: the target already matches")
        for svc in portable.status(manifest, target=target).services:
            log.info("  %-10s %d/%d healthy  %s", svc.service, svc.healthy, svc.desired, ", ".join(svc.endpoints))
        return 0
    except portable.ManifestError as exc:  # the user's manifest: show every located problem
        for problem in exc.problems:
            log.error("manifest: %s", problem.render())
        return 2
    except portable.StateLockedError as exc:  # someone else is deploying: tell who, retry later
        log.warning("busy: %s (since %s)", exc.holder, exc.since)
        return 75
    except portable.HealthCheckError as exc:  # rolled back automatically: the old revision serves
        log.error("new revision unhealthy, rolled back: %s", exc)
        return 1
    except portable.PortableError as exc:  # anything else portable reports: one sentence
        log.error("%s", exc)
        return exc.exit_code


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    manifest = sys.argv[1] if len(sys.argv) > 1 else "examples/hello/portable.yaml"
    target = sys.argv[2] if len(sys.argv) > 2 else "local"
    sys.exit(deploy_request(manifest, target))
