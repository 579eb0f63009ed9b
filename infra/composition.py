"""Composes the AI-Service stack from its parts; returns the stack outputs."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.access import FunctionAccess, FunctionAccessArgs
from infra.apis import ProjectApis, ProjectApisArgs
from infra.audit import StorageAuditLogs, StorageAuditLogsArgs
from infra.delivery import Delivery, DeliveryArgs
from infra.identity import ServiceIdentities, ServiceIdentitiesArgs
from infra.messaging import Messaging, MessagingArgs
from infra.monitoring.component import Monitoring, MonitoringArgs
from infra.registry import FunctionRegistry, FunctionRegistryArgs
from infra.serverless import LabelingFunction, LabelingFunctionArgs
from infra.settings import FUNCTION_NAME, LABELED_TOPIC, NEW_IMAGE_TOPIC, Settings
from infra.source_archive import build_archive
from infra.storage import Storage, StorageArgs
from infra.topology import topology
from infra.user_service import UserServiceAccess, UserServiceAccessArgs


def build_stack(settings: Settings) -> dict[str, pulumi.Input[str]]:
    """Declares every resource; the returned mapping is what __main__ exports."""
    archive = build_archive()
    labels = settings.labels

    apis = ProjectApis(
        "apis",
        ProjectApisArgs(
            project=settings.project, propagation_seconds=settings.propagation.api_seconds
        ),
    )
    # The project number names the gcf-v2-sources bucket the build reads from; the lookup goes
    # through Cloud Resource Manager, so it waits for that API too.
    project_number = gcp.organizations.get_project_output(
        project_id=settings.project,
        opts=pulumi.InvokeOutputOptions(
            depends_on=list(apis.needed_by("cloudresourcemanager.googleapis.com"))
        ),
    ).number

    identities = ServiceIdentities(
        "identity",
        ServiceIdentitiesArgs(
            project=settings.project, depends_on=apis.needed_by("iam.googleapis.com")
        ),
    )
    messaging = Messaging(
        "messaging",
        MessagingArgs(
            project=settings.project,
            topology=topology(settings),
            labels=labels,
            depends_on=apis.needed_by("pubsub.googleapis.com"),
        ),
    )
    storage = Storage(
        "storage",
        StorageArgs(
            project=settings.project,
            region=settings.region,
            buckets=settings.buckets,
            archive=archive,
            labels=labels,
            depends_on=apis.needed_by("storage.googleapis.com"),
            upload_origins=settings.user_service.origins,
        ),
    )
    # The User-Service's grants on the contract resources; without its account, none: the stack
    # stays exactly as it is without a User-Service.
    if settings.user_service.account is not None:
        UserServiceAccess(
            "user-service",
            UserServiceAccessArgs(
                project=settings.project,
                account=settings.user_service.account,
                new_image_topic=messaging.new_image_topic,
                images_bucket=storage.images_bucket,
                results_subscription=messaging.user_service_subscription,
                depends_on=apis.needed_by("pubsub.googleapis.com", "storage.googleapis.com"),
            ),
        )
    # Who read or wrote the uploaded images (and every other object of the project).
    StorageAuditLogs(
        "audit",
        StorageAuditLogsArgs(
            project=settings.project,
            depends_on=apis.needed_by("cloudresourcemanager.googleapis.com"),
        ),
    )
    registry = FunctionRegistry(
        "registry",
        FunctionRegistryArgs(
            project=settings.project,
            region=settings.region,
            labels=labels,
            depends_on=apis.needed_by("artifactregistry.googleapis.com"),
        ),
    )
    access = FunctionAccess(
        "access",
        FunctionAccessArgs(
            project=settings.project,
            region=settings.region,
            project_number=project_number,
            runtime_account=identities.runtime,
            build_account=identities.build,
            labeled_topic=messaging.labeled_topic,
            images_bucket=storage.images_bucket,
            source_bucket=storage.source_bucket,
            repository=registry.repository,
            propagation_seconds=settings.propagation.iam_seconds,
            depends_on=apis.needed_by(
                "cloudresourcemanager.googleapis.com",
                "pubsub.googleapis.com",
                "storage.googleapis.com",
                "artifactregistry.googleapis.com",
            ),
        ),
    )
    labeling = LabelingFunction(
        "labeling",
        LabelingFunctionArgs(
            settings=settings,
            source_bucket=storage.source_bucket,
            source_object=storage.source_object,
            repository=registry.repository,
            runtime_account=identities.runtime,
            build_account=identities.build,
            labels=labels,
            depends_on=[
                *apis.needed_by(
                    "cloudfunctions.googleapis.com",
                    "run.googleapis.com",
                    "cloudbuild.googleapis.com",
                    "artifactregistry.googleapis.com",
                    "storage.googleapis.com",
                    "logging.googleapis.com",
                    "vision.googleapis.com",
                ),
                access.ready,
            ],
        ),
    )
    delivery = Delivery(
        "delivery",
        DeliveryArgs(
            settings=settings,
            new_image_topic=messaging.new_image_topic,
            dead_letter_topic=messaging.dead_letter_topic,
            invoker_account=identities.invoker,
            function_uri=labeling.uri,
            function_service=labeling.service,
            labels=labels,
            depends_on=apis.needed_by(
                "run.googleapis.com", "pubsub.googleapis.com", "iam.googleapis.com"
            ),
            propagation_seconds=settings.propagation.iam_seconds,
        ),
    )
    # Watches what the stack created: the function's service and both subscriptions we own.
    Monitoring(
        "monitoring",
        MonitoringArgs(
            project=settings.project,
            stack=settings.stack,
            alerting=settings.alerting,
            metric_propagation_seconds=settings.propagation.metric_seconds,
            service_name=labeling.function.name,
            push_subscription=delivery.push_subscription,
            dead_letter_subscription=messaging.dead_letter_subscription,
            labels=labels,
            depends_on=apis.needed_by("monitoring.googleapis.com", "logging.googleapis.com"),
        ),
    )

    return {
        "project": settings.project,
        "region": settings.region,
        "imagesBucket": storage.images_bucket.name,
        "newImageTopic": NEW_IMAGE_TOPIC,
        "labeledTopic": LABELED_TOPIC,
        "userServiceSubscription": messaging.user_service_subscription.name,
        "deadLetterTopic": messaging.dead_letter_topic.name,
        "deadLetterSubscription": messaging.dead_letter_subscription.name,
        "pushSubscription": delivery.push_subscription.name,
        "functionName": FUNCTION_NAME,
        "functionUri": labeling.uri,
        "runtimeServiceAccountEmail": identities.runtime.email,
        "sourceObject": storage.source_object.name,
    }
