"""Drift of the vsphere provider's instance groups: each replica VM's power state, from the
one property-collector sweep observe makes (providers/vm/drift.py says the shape). A VM
powered off or suspended in vCenter (or with govc, pyVmomi) is drift; deploy repairs it.
"""
from __future__ import annotations

from collections.abc import Mapping

from portable.providers.vm.drift import hints

FIELD = "power_state"
RUNNING = "poweredOn"
HINTS: Mapping[str, str] = hints(FIELD, "powered off in vSphere (vCenter, govc)?", "VMs deleted in vSphere?")
