"""Runs the real ResourceValidationPolicy objects of POLICIES the way the policy analyzer does.

Properties are wrapped as the analyzer wraps them (pulumi_policy.proxy.unknown_checking_proxy), so a
rule that reads a value unknown during preview fails here exactly as it would in `pulumi preview`.
"""

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy
from rules import POLICIES


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


RESOURCE_POLICIES = [policy for policy in POLICIES if isinstance(policy, ResourceValidationPolicy)]
STACK_POLICIES = [policy for policy in POLICIES if isinstance(policy, StackValidationPolicy)]


def validation_args(resource_type: str, props: Mapping[str, Any]) -> ResourceValidationArgs:
    """ResourceValidationArgs as the analyzer builds them (pulumi_policy.policy.Analyze)."""
    name = "subject"
    options = _options()
    return ResourceValidationArgs(
        resource_type=resource_type,
        props=unknown_checking_proxy(dict(props)),
        urn=f"urn:pulumi:dev::ai-service::{resource_type}::{name}",
        name=name,
        opts=options,
        provider=None,
    )


def run_policy(
    policy: ResourceValidationPolicy, resource_type: str, props: Mapping[str, Any]
) -> list[str]:
    reported: list[str] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        reported.append(message)

    result = policy.validate(validation_args(resource_type, props), report_violation)
    assert result is None, f"{policy.name} must validate synchronously"
    return reported


def judge(resource_type: str, props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every resource policy's violations for one resource, keyed by policy name (empty lists
    dropped)."""
    verdicts = {
        policy.name: run_policy(policy, resource_type, props) for policy in RESOURCE_POLICIES
    }
    return {name: messages for name, messages in verdicts.items() if messages}


def policy_named(name: str) -> ResourceValidationPolicy:
    return next(policy for policy in RESOURCE_POLICIES if policy.name == name)


def violations(policy_name: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return run_policy(policy_named(policy_name), resource_type, props)


def judge_stack(
    resources: list[tuple[str, str, Mapping[str, Any]]],
) -> dict[str, list[tuple[str | None, str]]]:
    """Every stack policy's (urn, message) violations for (type, urn, props) resources, built as
    the analyzer builds them (pulumi_policy.policy.AnalyzeStack); empty lists dropped."""
    stack = [
        PolicyResource(
            resource_type,
            unknown_checking_proxy(dict(props)),
            urn,
            urn.rsplit("::", 1)[-1],
            _options(),
            None,
            None,
            [],
            {},
        )
        for resource_type, urn, props in resources
    ]
    verdicts = {}
    for policy in STACK_POLICIES:
        reported: list[tuple[str | None, str]] = []

        def report_violation(
            message: str, urn: str | None = None, found: list[tuple[str | None, str]] = reported
        ) -> None:
            found.append((urn, message))

        result = policy.validate(StackValidationArgs(stack), report_violation)
        assert result is None, f"{policy.name} must validate synchronously"
        verdicts[policy.name] = reported
    return {name: found for name, found in verdicts.items() if found}
