"""Composes the User-Service stack from its parts, given what the AI-Service stack exports."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from user_service.stack.apis import ProjectApis, ProjectApisArgs
from user_service.stack.database import DatabaseArgs, UploadsDatabase
from user_service.stack.delivery import DeliveryArgs, ResultsDelivery
from user_service.stack.identity import Identities, IdentitiesArgs
from user_service.stack.service import ServiceArgs, UserServiceFunction
from user_service.stack.settings import FUNCTION_NAME, Settings
from user_service.stack.source_archive import build_archive


@dataclass(frozen=True)
class AiServiceOutputs:
    """The contract as code: what the AI-Service stack shares (infra/composition.py's outputs)."""

    project: pulumi.Output[str]
    images_bucket: pulumi.Output[str]
    new_image_topic: pulumi.Output[str]
    labeled_topic: pulumi.Output[str]

    @classmethod
    def read(cls, reference: pulumi.StackReference) -> AiServiceOutputs:
        def text(name: str) -> pulumi.Output[str]:
            return reference.require_output(name).apply(str)

        return cls(
            project=text("project"),
            images_bucket=text("imagesBucket"),
            new_image_topic=text("newImageTopic"),
            labeled_topic=text("labeledTopic"),
        )

    def topic_path(self, topic: pulumi.Output[str]) -> pulumi.Output[str]:
        return pulumi.Output.all(self.project, topic).apply(
            lambda values: f"projects/{values[0]}/topics/{values[1]}"
        )


def build_stack(settings: Settings, ai: AiServiceOutputs) -> dict[str, pulumi.Input[str]]:
    archive = build_archive(settings.function_source, settings.archive_directory)
    apis = ProjectApis(
        "apis",
        ProjectApisArgs(
            project=settings.project, propagation_seconds=settings.api_propagation_seconds
        ),
    )
    project_number = gcp.organizations.get_project_output(
        project_id=settings.project,
        opts=pulumi.InvokeOutputOptions(
            depends_on=list(apis.needed_by("cloudresourcemanager.googleapis.com"))
        ),
    ).number.apply(str)
    identities = Identities(
        "identity",
        IdentitiesArgs(project=settings.project, depends_on=apis.needed_by("iam.googleapis.com")),
    )
    database = UploadsDatabase(
        "uploads",
        DatabaseArgs(
            project=settings.project,
            region=settings.region,
            depends_on=apis.needed_by("firestore.googleapis.com"),
        ),
    )
    service = UserServiceFunction(
        "service",
        ServiceArgs(
            settings=settings,
            archive=archive,
            project_number=project_number,
            runtime_account=identities.runtime,
            build_account=identities.build,
            push_account=identities.push,
            images_bucket=ai.images_bucket,
            new_image_topic=ai.new_image_topic,
            ai_project=ai.project,
            database=database.database,
            depends_on=apis.needed_by(
                "cloudresourcemanager.googleapis.com",
                "cloudfunctions.googleapis.com",
                "run.googleapis.com",
                "cloudbuild.googleapis.com",
                "artifactregistry.googleapis.com",
                "storage.googleapis.com",
                "logging.googleapis.com",
                "iam.googleapis.com",
                "iamcredentials.googleapis.com",
                "pubsub.googleapis.com",
            ),
        ),
    )
    delivery = ResultsDelivery(
        "results",
        DeliveryArgs(
            settings=settings,
            labeled_topic=ai.topic_path(ai.labeled_topic),
            push_account=identities.push,
            function_uri=service.uri,
            depends_on=apis.needed_by("pubsub.googleapis.com", "iam.googleapis.com"),
        ),
    )
    return {
        "project": settings.project,
        "region": settings.region,
        "serviceName": FUNCTION_NAME,
        "serviceUrl": service.uri,
        # What the AI-Service stack's grants name (its userServiceAccount config).
        "runtimeServiceAccountEmail": identities.runtime.email,
        "pushServiceAccountEmail": identities.push.email,
        "pushAudience": settings.push_audience,
        "resultsSubscription": delivery.push_subscription.name,
        "deadLetterTopic": delivery.dead_letter_topic.name,
        "deadLetterSubscription": delivery.dead_letter_subscription.name,
        "sourceObject": archive.object_name,
    }
