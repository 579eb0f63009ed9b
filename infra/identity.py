"""The stack's service accounts: one identity per job, no keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import BUILD_ACCOUNT_ID, INVOKER_ACCOUNT_ID, RUNTIME_ACCOUNT_ID


@dataclass(frozen=True)
class ServiceIdentitiesArgs:
    project: str
    depends_on: Sequence[pulumi.Resource]


class ServiceIdentities(pulumi.ComponentResource):
    """Runtime, push-invoker and build service accounts (roles are granted on resources elsewhere)."""

    runtime: gcp.serviceaccount.Account
    invoker: gcp.serviceaccount.Account
    build: gcp.serviceaccount.Account

    def __init__(
        self, name: str, args: ServiceIdentitiesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:ServiceIdentities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # Why: the function runs as this account, never the default compute account (Editor).
        self.runtime = gcp.serviceaccount.Account(
            f"{name}-runtime",
            project=args.project,
            account_id=RUNTIME_ACCOUNT_ID,
            display_name="AI-Service image labeling function (runtime)",
            description="Reads images, calls Vision, publishes to ai-service-image-labeled.",
            opts=child,
        )
        # Why: Pub/Sub push authenticates as this account (OIDC); it may only invoke the function.
        self.invoker = gcp.serviceaccount.Account(
            f"{name}-invoker",
            project=args.project,
            account_id=INVOKER_ACCOUNT_ID,
            display_name="AI-Service push subscription invoker",
            description="Identity of the Pub/Sub push to ai-service-image-labeling.",
            opts=child,
        )
        # Why: new projects' default build account may lack rights (2024 Cloud Build change);
        # a dedicated one gets exactly what a function build needs.
        self.build = gcp.serviceaccount.Account(
            f"{name}-build",
            project=args.project,
            account_id=BUILD_ACCOUNT_ID,
            display_name="AI-Service function build",
            description="Cloud Build identity for building ai-service-image-labeling.",
            opts=child,
        )
        self.register_outputs(
            {
                "runtime_email": self.runtime.email,
                "invoker_email": self.invoker.email,
                "build_email": self.build.email,
            }
        )


def member(account: gcp.serviceaccount.Account) -> pulumi.Output[str]:
    """The IAM member string of a service account."""
    return account.email.apply(lambda email: f"serviceAccount:{email}")


def account_path(account: gcp.serviceaccount.Account, project: str) -> pulumi.Output[str]:
    """`projects/{project}/serviceAccounts/{email}`, the account's resource name.

    Built from the email (not the provider's `name`/`id`) so it never depends on how those are
    computed; `.apply` keeps the dependency on the account. Format: pulumi-gcp
    serviceaccount.IAMMember service_account_id ("fully-qualified name", import id
    projects/{project}/serviceAccounts/{email}) and Cloud Functions v2 BuildConfig.service_account
    ("projects/{projectId}/serviceAccounts/{serviceAccountEmail}").
    """
    return account.email.apply(lambda email: f"projects/{project}/serviceAccounts/{email}")
