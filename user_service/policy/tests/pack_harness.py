"""Runs the pack's ResourceValidationPolicy objects as the policy analyzer does (properties wrapped
by pulumi_policy.proxy.unknown_checking_proxy, so reading a preview-unknown value fails as it would)."""

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy
from rules import POLICIES


def _collect_into(reported: list[str]) -> Any:
    def report_violation(message: str, urn: str | None = None) -> None:
        reported.append(message)

    return report_violation


def judge(resource_type: str, props: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every policy's violations for one resource, keyed by policy name (empty ones dropped)."""
    options = PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    verdicts: dict[str, list[str]] = {}
    for policy in POLICIES:
        reported: list[str] = []
        args = ResourceValidationArgs(
            resource_type=resource_type,
            props=unknown_checking_proxy(dict(props)),
            urn=f"urn:pulumi:dev::user-service::{resource_type}::subject",
            name="subject",
            opts=options,
            provider=None,
        )
        policy.validate(args, _collect_into(reported))
        if reported:
            verdicts[policy.name] = reported
    return verdicts
