"""Entry point Pulumi runs for the User-Service's policy pack. Nothing may import this module:
constructing a PolicyPack starts the analyzer's server and blocks, so the rules live in rules.py."""

from pulumi_policy import EnforcementLevel, PolicyPack

# Pulumi runs the pack with runpy.run_path(<pack dir>), which puts the pack dir on sys.path.
from rules import POLICIES

PolicyPack(
    name="user-service-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
