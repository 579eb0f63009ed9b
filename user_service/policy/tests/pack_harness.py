"""Runs the pack's policies as the policy analyzer does (properties wrapped by
pulumi_policy.proxy.unknown_checking_proxy, so reading a preview-unknown value fails as it would):
resource policies one resource at a time, stack policies on every resource of a stack."""

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

RESOURCE_POLICIES = [policy for policy in POLICIES if isinstance(policy, ResourceValidationPolicy)]
STACK_POLICIES = [policy for policy in POLICIES if isinstance(policy, StackValidationPolicy)]


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def judge(resource_type: str, props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every resource policy's violations for one resource, keyed by policy name (empty ones
    dropped)."""
    verdicts: dict[str, list[str]] = {}
    for policy in RESOURCE_POLICIES:
        reported: list[str] = []

        def report_violation(
            message: str, urn: str | None = None, found: list[str] = reported
        ) -> None:
            found.append(message)

        args = ResourceValidationArgs(
            resource_type=resource_type,
            props=unknown_checking_proxy(dict(props)),
            urn=f"urn:pulumi:dev::user-service::{resource_type}::subject",
            name="subject",
            opts=_options(),
            provider=None,
        )
        assert policy.validate(args, report_violation) is None, f"{policy.name} must be synchronous"
        if reported:
            verdicts[policy.name] = reported
    return verdicts


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
    verdicts: dict[str, list[tuple[str | None, str]]] = {}
    for policy in STACK_POLICIES:
        reported: list[tuple[str | None, str]] = []

        def report_violation(
            message: str, urn: str | None = None, found: list[tuple[str | None, str]] = reported
        ) -> None:
            found.append((urn, message))

        result = policy.validate(StackValidationArgs(stack), report_violation)
        assert result is None, f"{policy.name} must validate synchronously"
        if reported:
            verdicts[policy.name] = reported
    return verdicts
