"""The `-o json` documents of the commands whose output is not a plain record of the API's:
log lines, explain rows, import results, locks, rendered files, init's starter.

Each shape is documented by a schema under docs/schemas (docs/json.md lists which command
prints which); tests/unit/test_json_coverage.py fails when a command has none.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import click

# `<app>-<service>-<n>` (docker containers, StatefulSet pods) or `<n>:<instance id>` (aws)
_AWS_REPLICA = re.compile(r"^(\d+):")


def replica_of(service: str, instance: str) -> int | None:
    """The replica number the target's instance name carries, None when it carries none
    (a Deployment's pod, `web-5d8f7c9b6-x2x7k`, has no ordinal)."""
    aws = _AWS_REPLICA.match(instance)
    if aws:
        return int(aws.group(1))
    docker = re.search(rf"(?:^|-){re.escape(service)}-(\d+)$", instance)
    return int(docker.group(1)) if docker else None


def log_record(service: str, instance: str, text: str) -> dict[str, Any]:
    """One line of `portable logs -o json` (docs/schemas/logs.schema.json). `timestamp` is when
    portable read the line (UTC): not every target keeps a time per line, so none is invented."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"service": service, "replica": replica_of(service, instance), "instance": instance, "timestamp": now, "message": text}


def emit_line(data: Any) -> None:
    """One compact JSON object on one line, flushed at once (a `--follow` reader sees it now)."""
    click.echo(json.dumps(data, sort_keys=True, default=str))


def finding_document(finding: Any) -> dict[str, Any]:
    """A compose key `portable import` did not carry exactly, located in the compose file."""
    loc = finding.loc
    return {"file": loc.file, "line": loc.line or None, "column": loc.col or None, "path": finding.path, "fate": finding.fate, "why": finding.text}


def lock_document(info: Any, action: str) -> dict[str, Any]:
    """`state lock|unlock -o json` (docs/schemas/state-lock.schema.json): the lock and what was done."""
    return {"action": action, "subject": info.subject, **info.to_dict()}
