"""Routing policy: the bank's complaint rules as a versioned file, and the engine that applies them."""

from triage.policy.engine import PolicyEngine
from triage.policy.schema import Policy, PolicyError, load_policy

__all__ = ["Policy", "PolicyEngine", "PolicyError", "load_policy"]
