"""Drift of the libcloud provider's instance groups: each replica's node state, from the one
`list_nodes` call observe makes (providers/vm/drift.py says the shape). A node stopped
through the cloud's API or console is drift, and deploy replaces it (a stopped node is not
serving, so the group rolls out instead of only scaling).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portable.providers.vm.drift import hints

FIELD = "instance_state"
HINTS: Mapping[str, str] = hints(FIELD, "stopped outside portable (the cloud's console or API)?", "nodes destroyed outside portable?")
SERVING = ("running", "pending")


def state_of(node: Any) -> str:
    """libcloud's NodeState as a word; `pending` counts as running (a node on its way up)."""
    state = str(node.state)
    return "running" if state == "pending" else state


def serving(nodes: list[tuple[Any, Any]]) -> bool:
    return all(str(node.state) in SERVING for node, _ in nodes)
