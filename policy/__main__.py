"""Entry point Pulumi runs for the policy pack. Nothing may import this module.

Constructing a PolicyPack starts the analyzer's gRPC server and blocks forever, which is why the
rules live in `rules.py` and the tests import that instead.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

# Pulumi runs the pack with runpy.run_path(<pack dir>), which puts the pack dir on sys.path.
from rules import POLICIES

PolicyPack(
    name="ai-service-guardrails",
    # Every policy is mandatory: a violation fails `pulumi preview` and stops `pulumi up`.
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
