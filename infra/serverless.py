"""The gen2 Cloud Function that labels images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.identity import account_path
from infra.registry import repository_path
from infra.settings import ENTRY_POINT, FUNCTION_NAME, FUNCTION_RUNTIME, Settings

functions = gcp.cloudfunctionsv2


@dataclass(frozen=True)
class LabelingFunctionArgs:
    settings: Settings
    source_bucket: gcp.storage.Bucket
    source_object: gcp.storage.BucketObject
    repository: gcp.artifactregistry.Repository
    runtime_account: gcp.serviceaccount.Account
    build_account: gcp.serviceaccount.Account
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]


class LabelingFunction(pulumi.ComponentResource):
    """ai-service-image-labeling: internal-only, runs as ai-service-sa, built by the build SA."""

    function: functions.Function
    uri: pulumi.Output[str]
    service: pulumi.Output[str]

    def __init__(
        self, name: str, args: LabelingFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:LabelingFunction", name, None, opts)
        settings = args.settings
        capacity = settings.capacity
        # Why: the AI-Service itself. No event_trigger: Eventarc's own subscription cannot be
        # dead-lettered from code (TPG #17697), so delivery.py owns a push subscription instead.
        self.function = functions.Function(
            f"{name}-function",
            project=settings.project,
            location=settings.region,
            name=FUNCTION_NAME,
            description="Labels uploaded images with Cloud Vision and publishes the verdict.",
            build_config=functions.FunctionBuildConfigArgs(
                runtime=FUNCTION_RUNTIME,
                entry_point=ENTRY_POINT,
                source=functions.FunctionBuildConfigSourceArgs(
                    storage_source=functions.FunctionBuildConfigSourceStorageSourceArgs(
                        bucket=args.source_bucket.name,
                        object=args.source_object.name,
                        # Why: pins the build to the exact upload, so a rebuild never pairs
                        # this object name with another (stale) generation of it. pulumi-gcp
                        # storage_source.generation: "If the generation is omitted, the
                        # latest generation will be used." Its permanent diff (TPG #15405) was
                        # fixed upstream (magic-modules #11287), which made it usable this way.
                        generation=args.source_object.generation,
                    )
                ),
                # Resource names, not the email (formats: identity.account_path, registry.py).
                service_account=account_path(args.build_account, settings.project),
                docker_repository=repository_path(
                    args.repository, settings.project, settings.region
                ),
            ),
            service_config=functions.FunctionServiceConfigArgs(
                service_account_email=args.runtime_account.email,
                # Pub/Sub push to the run.app URL from this project still counts as internal.
                ingress_settings="ALLOW_INTERNAL_ONLY",
                all_traffic_on_latest_revision=True,
                available_cpu=capacity.cpu,
                available_memory=capacity.memory,
                timeout_seconds=capacity.timeout_seconds,
                max_instance_request_concurrency=capacity.concurrency,
                min_instance_count=capacity.min_instances,
                max_instance_count=capacity.max_instances,
                environment_variables=settings.function_environment(),
            ),
            labels={**args.labels, "component": "labeling"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        # Output-only: Google reports both once the function exists.
        self.uri = self.function.service_config.apply(lambda config: _reported(config, "uri"))
        self.service = self.function.service_config.apply(
            lambda config: _reported(config, "service")
        )
        self.register_outputs({"name": self.function.name, "uri": self.uri})


def _reported(config: functions.outputs.FunctionServiceConfig | None, field: str) -> str:
    value = getattr(config, field, None)
    if not value:
        raise pulumi.RunError(f"{FUNCTION_NAME} was deployed without a service_config.{field}")
    return str(value)
