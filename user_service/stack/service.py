"""The User-Service itself: a gen2 Cloud Run function built from source, public, and what it needs.

Built the way the AI-Service's function is (a hashed source archive in a bucket of our own, a
dedicated build account, our own Artifact Registry repository): Cloud Run services need a container
image, and the provider's cloudrunv2 build_config does not build one (TPG #22263, #23057); a gen2
function is a Cloud Run service that Cloud Build builds from source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time as time

from user_service.stack.identity import account_path, member
from user_service.stack.settings import (
    ARTIFACT_REPOSITORY,
    ENTRY_POINT,
    FUNCTION_CONCURRENCY,
    FUNCTION_CPU,
    FUNCTION_MEMORY,
    FUNCTION_NAME,
    FUNCTION_RUNTIME,
    FUNCTION_TIMEOUT_SECONDS,
    Settings,
)
from user_service.stack.source_archive import SourceArchive

functions = gcp.cloudfunctionsv2
PUBLIC = "allUsers"


def gcf_sources_bucket(project_number: str, region: str) -> str:
    """The Google-created bucket a gen2 build reads its source from (functions/docs/building)."""
    return f"gcf-v2-sources-{project_number}-{region}"


def one_bucket_condition(bucket: str) -> str:
    """An IAM condition for one bucket and its objects, and nothing else.

    Cloud Storage names them projects/_/buckets/BUCKET and .../BUCKET/objects/OBJECT in conditions
    (IAM "conditions resource attributes"). Both end at the separator after BUCKET: a bare prefix
    startsWith(".../gcf-v2-sources-N-europe-west1") would also admit the europe-west10 bucket.
    """
    name = f"projects/_/buckets/{bucket}"
    return f'resource.name == "{name}" || resource.name.startsWith("{name}/objects/")'


@dataclass(frozen=True)
class ServiceArgs:
    settings: Settings
    archive: SourceArchive
    project_number: pulumi.Input[str]
    runtime_account: gcp.serviceaccount.Account
    build_account: gcp.serviceaccount.Account
    push_account: gcp.serviceaccount.Account
    images_bucket: pulumi.Input[str]
    new_image_topic: pulumi.Input[str]
    ai_project: pulumi.Input[str]  # where the AI stack's topic lives
    depends_on: Sequence[pulumi.Resource]
    database: pulumi.Resource


class UserServiceFunction(pulumi.ComponentResource):
    function: functions.Function
    uri: pulumi.Output[str]
    service: pulumi.Output[str]
    grants: list[pulumi.CustomResource]
    public_invoker: gcp.cloudrunv2.ServiceIamMember

    def __init__(
        self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("user-service:stack:UserServiceFunction", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        runtime = member(args.runtime_account)
        build = member(args.build_account)
        # Why: gen2 functions are built from a zip in Cloud Storage; our own private bucket keeps
        # the source under this stack's control.
        source_bucket = gcp.storage.Bucket(
            f"{name}-source",
            project=settings.project,
            name=settings.source_bucket_name,
            location=settings.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=settings.force_destroy,
            labels={"component": "user-service-source"},
            opts=child,
        )
        # Why: named after the content hash, so a code change is a new object and rebuilds.
        source_object = gcp.storage.BucketObject(
            f"{name}-source-archive",
            bucket=source_bucket.name,
            name=args.archive.object_name,
            source=pulumi.FileAsset(str(args.archive.path)),
            content_type="application/zip",
            opts=child,
        )
        # Why: the build account may push to this repository only; the cleanup policy keeps
        # five versions so redeploys do not pile up storage.
        repository = gcp.artifactregistry.Repository(
            f"{name}-repository",
            project=settings.project,
            location=settings.region,
            repository_id=ARTIFACT_REPOSITORY,
            format="DOCKER",
            description="Container images of the user-service function.",
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=5
                    ),
                )
            ],
            opts=child,
        )
        self.grants = [
            # Why: the build pushes the function's image to our repository only.
            gcp.artifactregistry.RepositoryIamMember(
                f"{name}-build-writes-images",
                project=settings.project,
                location=settings.region,
                repository=repository.repository_id,
                role="roles/artifactregistry.writer",
                member=build,
                opts=child,
            ),
            # Why: the build reads the uploaded archive from our source bucket.
            gcp.storage.BucketIAMMember(
                f"{name}-build-reads-source",
                bucket=source_bucket.name,
                role="roles/storage.objectViewer",
                member=build,
                opts=child,
            ),
            # Why: Cloud Build reads the source from the Google-created gcf-v2-sources bucket,
            # which does not exist before the first deploy: a project binding conditioned on
            # that bucket's name is the narrowest grant possible (IAM conditions, resource.name).
            gcp.projects.IAMMember(
                f"{name}-build-reads-gcf-sources",
                project=settings.project,
                role="roles/storage.objectViewer",
                member=build,
                condition=gcp.projects.IAMMemberConditionArgs(
                    title="gcf-v2-sources-only",
                    description="Only the bucket Cloud Functions copies function source into.",
                    expression=pulumi.Output.from_input(args.project_number).apply(
                        lambda number: one_bucket_condition(
                            gcf_sources_bucket(number, settings.region)
                        )
                    ),
                ),
                opts=child,
            ),
            # Why: build logs; logging.logEntries.create exists on projects only.
            gcp.projects.IAMMember(
                f"{name}-build-writes-logs",
                project=settings.project,
                role="roles/logging.logWriter",
                member=build,
                opts=child,
            ),
            # Why: the uploads collection. Firestore grants exist on the project only (no
            # per-database or per-collection IAM resource): datastore.user is the narrowest role
            # that reads and writes documents.
            gcp.projects.IAMMember(
                f"{name}-runtime-uses-firestore",
                project=settings.project,
                role="roles/datastore.user",
                member=runtime,
                opts=child,
            ),
            # Why: upload URLs are signed by IAM signBlob as the service's own account, without a
            # key; signBlob needs token creator on that account, granted on it alone.
            gcp.serviceaccount.IAMMember(
                f"{name}-runtime-signs-as-itself",
                service_account_id=account_path(args.runtime_account, settings.project),
                role="roles/iam.serviceAccountTokenCreator",
                member=runtime,
                opts=child,
            ),
        ]
        # Why: IAM takes minutes to propagate (IAM docs: typically 2); a build started right after
        # the grants fails on the source or the repository (TPG #20571).
        ready = time.Sleep(
            f"{name}-propagation",
            create_duration=f"{settings.iam_propagation_seconds}s",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.grants)),
        )
        environment = pulumi.Output.all(
            args.images_bucket,
            args.new_image_topic,
            args.ai_project,
            args.runtime_account.email,
            args.push_account.email,
        ).apply(lambda values: settings.function_environment(*values))
        # Why: the User-Service: the upload screen and its API, public by purpose (ingress
        # ALLOW_ALL, allUsers may invoke it below); it authenticates result deliveries itself.
        self.function = functions.Function(
            f"{name}-function",
            project=settings.project,
            location=settings.region,
            name=FUNCTION_NAME,
            description="Reference User-Service: upload screen, signed uploads, verdicts.",
            build_config=functions.FunctionBuildConfigArgs(
                runtime=FUNCTION_RUNTIME,
                entry_point=ENTRY_POINT,
                source=functions.FunctionBuildConfigSourceArgs(
                    storage_source=functions.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=source_bucket.name,
                        object=source_object.name,
                        generation=source_object.generation,
                    )
                ),
                service_account=account_path(args.build_account, settings.project),
                docker_repository=repository.repository_id.apply(
                    lambda repository_id: (
                        f"projects/{settings.project}/locations/{settings.region}"
                        f"/repositories/{repository_id}"
                    )
                ),
            ),
            service_config=functions.FunctionServiceConfigArgs(
                service_account_email=args.runtime_account.email,
                ingress_settings="ALLOW_ALL",
                all_traffic_on_latest_revision=True,
                available_cpu=FUNCTION_CPU,
                available_memory=FUNCTION_MEMORY,
                timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
                max_instance_request_concurrency=FUNCTION_CONCURRENCY,
                max_instance_count=settings.max_instances,
                environment_variables=environment,
            ),
            labels={"component": "user-service"},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, ready, args.database]
            ),
        )
        self.uri = self.function.service_config.apply(
            lambda config: (config.uri if config else None) or ""
        )
        self.service = self.function.service_config.apply(
            lambda config: (config.service if config else None) or FUNCTION_NAME
        )
        # Why: the upload screen is for anyone with a browser: allUsers may invoke this one
        # service (cloudfunctionsv2.FunctionIamMember refuses run.invoker, TPG #21674).
        self.public_invoker = gcp.cloudrunv2.ServiceIamMember(
            f"{name}-public-invoker",
            project=settings.project,
            location=settings.region,
            name=self.service,
            role="roles/run.invoker",
            member=PUBLIC,
            opts=child,
        )
        self.register_outputs({"uri": self.uri, "service": self.service})
