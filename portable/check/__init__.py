"""`portable check`: one security policy applied to a workload on every target.

The checks read the manifest as bound to one target (overrides merged), so the same
findings hold on Docker, Kubernetes and VMs; each finding names its check, severity,
the file:line:column of the field, why it matters and how to fix it. A policy file
changes severities and waives findings with a reason; `deploy` refuses error findings.
"""
from __future__ import annotations

from portable.check.findings import SEVERITIES, Finding, at_or_above
from portable.check.policy import Policy, load_policy, policy_for
from portable.check.run import check_app, enforce

__all__ = ["SEVERITIES", "Finding", "Policy", "at_or_above", "check_app", "enforce", "load_policy", "policy_for"]
