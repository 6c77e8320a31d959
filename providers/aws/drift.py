"""Drift of the aws provider's instance groups: each replica's EC2 instance state, read from
the one `describe_instances` listing observe makes (providers/vm/drift.py says the shape).

`pending` counts as running (an instance on its way up); `stopping`/`stopped` is drift,
and a replica whose instance was terminated is `absent` (terminated instances are not listed).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portable.providers.vm.drift import hints

FIELD = "instance_state"
HINTS: Mapping[str, str] = hints(FIELD, "stopped or terminated outside portable (EC2 console or API)?", "instances terminated outside portable?")


def state_of(instance: Mapping[str, Any]) -> str:
    state = str(instance["State"]["Name"])
    return "running" if state == "pending" else state
