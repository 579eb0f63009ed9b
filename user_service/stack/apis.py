"""Google Cloud APIs the User-Service stack needs, enabled before anything that uses them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

# What each API is for; everything that calls one depends on its Service and on the wait below.
REQUIRED_APIS: dict[str, str] = {
    "cloudresourcemanager.googleapis.com": "get_project (the project number) and project IAM",
    "firestore.googleapis.com": "the uploads collection (Firestore, native mode)",
    "run.googleapis.com": "the Cloud Run service behind the gen2 function",
    "cloudfunctions.googleapis.com": "the gen2 function",
    "cloudbuild.googleapis.com": "building the function from source",
    "artifactregistry.googleapis.com": "the function's container images",
    "iam.googleapis.com": "service accounts and their IAM policies",
    "iamcredentials.googleapis.com": "signBlob: signing upload URLs without a key",
    "pubsub.googleapis.com": "announcements, the results subscription and its dead letters",
    "storage.googleapis.com": "the source bucket (the images bucket is the AI-Service's)",
    "logging.googleapis.com": "build and service logs",
}


@dataclass(frozen=True)
class ProjectApisArgs:
    project: str
    propagation_seconds: int


class ProjectApis(pulumi.ComponentResource):
    services: dict[str, gcp.projects.Service]
    ready: time.Sleep

    def __init__(
        self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("user-service:stack:ProjectApis", name, None, opts)
        self.services = {
            api: gcp.projects.Service(
                # Why: a fresh project has these APIs off; left on at destroy, since the
                # AI-Service or other workloads in the project may use them too.
                f"{name}-{api.split('.')[0]}",
                project=args.project,
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in REQUIRED_APIS
        }
        # Why: a newly enabled API refuses calls for a few minutes (TPG #8214, #13611); waits on
        # create only.
        self.ready = time.Sleep(
            f"{name}-propagation",
            create_duration=f"{args.propagation_seconds}s",
            triggers={"apis": ",".join(sorted(REQUIRED_APIS))},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.services.values())),
        )
        self.register_outputs({"services": sorted(REQUIRED_APIS)})

    def needed_by(self, *apis: str) -> Sequence[pulumi.Resource]:
        unknown = [api for api in apis if api not in self.services]
        if unknown:
            raise KeyError(f"APIs not enabled by this stack: {unknown}")
        return [*(self.services[api] for api in apis), self.ready]
