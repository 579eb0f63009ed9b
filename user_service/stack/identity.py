"""The User-Service's own service accounts: one identity per job, no keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from user_service.stack.settings import BUILD_ACCOUNT_ID, PUSH_ACCOUNT_ID, RUNTIME_ACCOUNT_ID


@dataclass(frozen=True)
class IdentitiesArgs:
    project: str
    depends_on: Sequence[pulumi.Resource]


class Identities(pulumi.ComponentResource):
    runtime: gcp.serviceaccount.Account
    push: gcp.serviceaccount.Account
    build: gcp.serviceaccount.Account

    def __init__(
        self, name: str, args: IdentitiesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("user-service:stack:Identities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # Why: the service runs as this account; the AI-Service stack names it in its grants
        # (publish on user-service-new-image, objects in the images bucket).
        self.runtime = gcp.serviceaccount.Account(
            f"{name}-runtime",
            project=args.project,
            account_id=RUNTIME_ACCOUNT_ID,
            display_name="User-Service (runtime)",
            description="Signs upload URLs, announces uploads, keeps verdicts in Firestore.",
            opts=child,
        )
        # Why: Pub/Sub's push of results authenticates as this account (OIDC); the service
        # accepts results only with its token.
        self.push = gcp.serviceaccount.Account(
            f"{name}-push",
            project=args.project,
            account_id=PUSH_ACCOUNT_ID,
            display_name="User-Service results push",
            description="Identity of the Pub/Sub push of ai-service-image-labeled to the User-Service.",
            opts=child,
        )
        # Why: a dedicated Cloud Build identity with exactly what a function build needs.
        self.build = gcp.serviceaccount.Account(
            f"{name}-build",
            project=args.project,
            account_id=BUILD_ACCOUNT_ID,
            display_name="User-Service function build",
            description="Cloud Build identity for building the user-service function.",
            opts=child,
        )
        self.register_outputs(
            {
                "runtime_email": self.runtime.email,
                "push_email": self.push.email,
                "build_email": self.build.email,
            }
        )


def member(account: gcp.serviceaccount.Account) -> pulumi.Output[str]:
    return account.email.apply(lambda email: f"serviceAccount:{email}")


def account_path(account: gcp.serviceaccount.Account, project: str) -> pulumi.Output[str]:
    """`projects/{project}/serviceAccounts/{email}` (IAMMember service_account_id, build SA)."""
    return account.email.apply(lambda email: f"projects/{project}/serviceAccounts/{email}")
