"""Desired-state types, the diff that turns them into a Plan, and its dependency order."""
from portable.plan.diff import compute_plan, field_changes
from portable.plan.plan import Action, Change, Plan
from portable.plan.resources import InstanceStatus, LogLine, Observed, Resource, ServiceStatus

__all__ = ["Action", "Change", "InstanceStatus", "LogLine", "Observed", "Plan", "Resource", "ServiceStatus", "compute_plan", "field_changes"]
