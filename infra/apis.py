"""Google Cloud APIs the stack needs, enabled before anything that uses them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

# What each API is for (everything that calls an API depends on its Service and on the wait below).
REQUIRED_APIS: dict[str, str] = {
    "cloudresourcemanager.googleapis.com": "project IAM and get_project (the project number)",
    "iam.googleapis.com": "service accounts and their IAM policies",
    "pubsub.googleapis.com": "topics and subscriptions",
    "storage.googleapis.com": "images and source buckets",
    "artifactregistry.googleapis.com": "the function's container images",
    "cloudbuild.googleapis.com": "building the function from source",
    "cloudfunctions.googleapis.com": "the gen2 function",
    "run.googleapis.com": "the Cloud Run service behind the gen2 function",
    "logging.googleapis.com": "build and function logs, and the log-based metrics",
    "monitoring.googleapis.com": "alert policies, notification channels and the dashboard",
    "vision.googleapis.com": "what the function calls to label images",
}


@dataclass(frozen=True)
class ProjectApisArgs:
    project: str
    propagation_seconds: int


class ProjectApis(pulumi.ComponentResource):
    """Enables the APIs and waits for the enablement to propagate."""

    services: dict[str, gcp.projects.Service]
    ready: time.Sleep

    def __init__(
        self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:ProjectApis", name, None, opts)
        self.services = {
            api: gcp.projects.Service(
                # Why: a fresh project has these APIs off; left on at destroy because other
                # workloads in the project may use them (disable_on_destroy=False).
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in REQUIRED_APIS
        }
        # Why: a newly enabled API answers "has not been used in project ... or it is disabled"
        # for a few minutes (TPG #8214, #13611); pulumi-gcp's own function examples wait with
        # pulumiverse_time.Sleep. It only waits on create, so later `up`s are not slowed.
        self.ready = time.Sleep(
            f"{name}-propagation",
            create_duration=f"{args.propagation_seconds}s",
            triggers={"apis": ",".join(sorted(REQUIRED_APIS))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.services.values())),
        )
        self.register_outputs({"services": sorted(REQUIRED_APIS)})

    def needed_by(self, *apis: str) -> Sequence[pulumi.Resource]:
        """What a resource using `apis` must depend on: their Services and the propagation wait."""
        unknown = [api for api in apis if api not in self.services]
        if unknown:
            raise KeyError(f"APIs not enabled by this stack: {unknown}")
        return [*(self.services[api] for api in apis), self.ready]
