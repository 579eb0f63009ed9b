"""IAM the function needs before it is built and run, each grant on the narrowest resource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from infra.identity import member


@dataclass(frozen=True)
class FunctionAccessArgs:
    project: str
    region: str
    project_number: pulumi.Input[str]
    runtime_account: gcp.serviceaccount.Account
    build_account: gcp.serviceaccount.Account
    labeled_topic: gcp.pubsub.Topic
    images_bucket: gcp.storage.Bucket
    source_bucket: gcp.storage.Bucket
    repository: gcp.artifactregistry.Repository
    propagation_seconds: int
    depends_on: Sequence[pulumi.Resource]


def gcf_sources_bucket(project_number: str, region: str) -> str:
    """The Google-created bucket a gen2 build reads the source from (functions/docs/building)."""
    return f"gcf-v2-sources-{project_number}-{region}"


def one_bucket_condition(bucket: str) -> str:
    """An IAM condition that holds for one bucket and its objects, and for nothing else.

    Cloud Storage names them projects/_/buckets/BUCKET and projects/_/buckets/BUCKET/objects/OBJECT
    in conditions (IAM "conditions resource attributes"); listing is checked on the bucket, reading on
    the object. Both names are matched up to the separator after BUCKET: a bare prefix
    startsWith(".../gcf-v2-sources-N-europe-west1") would also admit the europe-west10 bucket.
    """
    name = f"projects/_/buckets/{bucket}"
    return f'resource.name == "{name}" || resource.name.startsWith("{name}/objects/")'


class FunctionAccess(pulumi.ComponentResource):
    """Runtime and build grants, then a wait for IAM propagation before the function is built.

    What a gen2 build needs: Google's Cloud Run build-service-account page names one role,
    roles/run.builder on the project, which bundles log writing, Artifact Registry push and
    object access on every bucket of the project (the images bucket included). The Cloud
    Run functions version of that page lists the pieces instead: roles/logging.logWriter,
    roles/artifactregistry.writer (on our own docker_repository here) and storage object access
    to the source; the build's own failure says "Access to bucket gcf-v2-sources-... denied.
    You must grant Storage Object Viewer permission" (TPG #20571). Those pieces are granted on
    the narrowest resource each allows. #20571's sample fails about half its runs with
    project-wide objectAdmin and a 60 s wait, so what fails there is propagation, not scope:
    the wait below defaults to 120 s (IAM: "typically 2 minutes, potentially 7 minutes or
    longer"); docs/deploy.md "Troubleshooting first deploys" has the fallback.
    """

    grants: list[pulumi.CustomResource]
    ready: time.Sleep

    def __init__(
        self, name: str, args: FunctionAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:FunctionAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        runtime = member(args.runtime_account)
        build = member(args.build_account)
        self.grants = [
            # Why: the function publishes its results to ai-service-image-labeled, nothing else.
            gcp.pubsub.TopicIAMMember(
                f"{name}-runtime-publishes-results",
                project=args.project,
                topic=args.labeled_topic.name,
                role="roles/pubsub.publisher",
                member=runtime,
                opts=child,
            ),
            # Why: Vision reads gs:// images with the caller's identity; without this every
            # image fails with per-image code 7 "Error opening file". It fetches one named object:
            # legacyObjectReader is storage.objects.get alone (objectViewer adds objects.list,
            # which would let the function enumerate every upload); legacy roles are granted on
            # buckets only (Cloud Storage "IAM roles"; StorageRoles.legacyObjectReader()).
            gcp.storage.BucketIAMMember(
                f"{name}-runtime-reads-images",
                bucket=args.images_bucket.name,
                role="roles/storage.legacyObjectReader",
                member=runtime,
                opts=child,
            ),
            # Why: the build pushes the function image (and its cache) to our repository only.
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-build-writes-images",
                project=args.project,
                location=args.region,
                # The repository_id we set (the provider's `name` is computed from it).
                repository=args.repository.repository_id,
                role="roles/artifactregistry.writer",
                member=build,
                opts=child,
            ),
            # Why: the build reads the uploaded source archive from our source bucket.
            gcp.storage.BucketIAMMember(
                f"{name}-build-reads-source",
                bucket=args.source_bucket.name,
                role="roles/storage.objectViewer",
                member=build,
                opts=child,
            ),
            # Why: Cloud Build reads the source from the Google-created gcf-v2-sources bucket,
            # which does not exist before the first deploy, so no bucket-level grant is
            # possible; a project binding with an IAM condition limits it to exactly that bucket
            # and its objects (one_bucket_condition).
            gcp.projects.IAMMember(
                f"{name}-build-reads-gcf-sources",
                project=args.project,
                role="roles/storage.objectViewer",
                member=build,
                condition=gcp.projects.IAMMemberConditionArgs(
                    title="gcf-v2-sources-only",
                    description="Only the bucket Cloud Functions copies function source into.",
                    expression=pulumi.Output.from_input(args.project_number).apply(
                        lambda number: one_bucket_condition(gcf_sources_bucket(number, args.region))
                    ),
                ),
                opts=child,
            ),
            # Why: build logs go to Cloud Logging; logging.logEntries.create can only be granted
            # on a project (or folder/organization), there is no narrower resource.
            gcp.projects.IAMMember(
                f"{name}-build-writes-logs",
                project=args.project,
                role="roles/logging.logWriter",
                member=build,
                opts=child,
            ),
        ]
        # Why: IAM changes take minutes to propagate (TPG #8214; IAM docs: typically 2, up to
        # 7 or more); a build started right after the grants fails on "permission denied" for
        # the source or the repository. pulumi-gcp's cloudfunctionsv2 builder example waits
        # with time.Sleep too, but only 60 s, which fails about half its runs (TPG #20571).
        self.ready = time.Sleep(
            f"{name}-propagation",
            create_duration=f"{args.propagation_seconds}s",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.grants)),
        )
        self.register_outputs({"grants": len(self.grants)})
