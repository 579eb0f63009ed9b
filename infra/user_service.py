"""The User-Service's side of the contract: its grants on this stack's contract resources, and the
images bucket's CORS rule for its upload screen (docs/user-service.md "Deploying it beside the
AI-Service"). Without `ai-service:userServiceAccount`, the stack creates none of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import USER_UPLOADS_PREFIX

# What a browser's signed PUT sends besides the body (user_uploads.storage.SIGNED_HEADERS): GCS
# answers a preflight only when its method and every requested header are in the rule (Cloud
# Storage "Cross-origin resource sharing"). tests/infra/test_user_service_access.py pins this rule
# to the User-Service's own bucket_cors_rule, which this stack must not import.
UPLOAD_METHODS = ("PUT",)
UPLOAD_HEADERS = ("Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match")
UPLOAD_CORS_MAX_AGE_SECONDS = 3600


def uploads_condition(bucket: str) -> str:
    """The objects under USER_UPLOADS_PREFIX in `bucket`, and nothing else (not the bucket itself,
    so no listing: storage.objects.list is checked on the bucket; IAM "conditions resource
    attributes" names objects projects/_/buckets/BUCKET/objects/NAME)."""
    return f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{USER_UPLOADS_PREFIX}")'


def upload_cors(origins: Sequence[str]) -> list[gcp.storage.BucketCorArgs]:
    """The images bucket's CORS rule: browsers at `origins` may PUT with the signed headers."""
    if not origins:
        return []
    return [
        gcp.storage.BucketCorArgs(
            origins=list(origins),
            methods=list(UPLOAD_METHODS),
            response_headers=list(UPLOAD_HEADERS),
            max_age_seconds=UPLOAD_CORS_MAX_AGE_SECONDS,
        )
    ]


@dataclass(frozen=True)
class UserServiceAccessArgs:
    project: str
    account: str  # ai-service:userServiceAccount
    new_image_topic: gcp.pubsub.Topic
    images_bucket: gcp.storage.Bucket
    results_subscription: gcp.pubsub.Subscription
    depends_on: Sequence[pulumi.Resource]


class UserServiceAccess(pulumi.ComponentResource):
    """Exactly what the contract lets the User-Service do, each on its one resource.

    - publish on user-service-new-image (roles/pubsub.publisher: topics.publish alone);
    - create, read and delete its uploads: roles/storage.objectUser conditioned to the objects under
      USER_UPLOADS_PREFIX. It also holds objects.update (metadata) and objects.restore (nothing to
      restore: the bucket keeps no soft-deleted objects) there; objects.list is checked on the
      bucket, which the condition excludes. A custom role of create/get/delete alone would be
      tighter, but custom roles are project-level: the deployer would need iam.roles.update on the
      project, which lets CI edit its own custom deploy role (docs/ci.md). No predefined role
      holds delete with less; delete is how the User-Service never serves a blocked image;
    - read the results: roles/pubsub.subscriber on the results subscription (pull and
      acknowledge; consume is checked on the subscription). The reference User-Service has Pub/Sub
      push them to it through a subscription of its own instead, which its deployer attaches to
      ai-service-image-labeled (docs/user-service.md): that is a deployer's right, not this account's.
    """

    grants: list[pulumi.CustomResource]

    def __init__(
        self, name: str, args: UserServiceAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:UserServiceAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        member = f"serviceAccount:{args.account}"
        self.grants = [
            # Why: the User-Service announces each checked upload here (step 2c).
            gcp.pubsub.TopicIAMMember(
                f"{name}-publishes-new-images",
                project=args.project,
                topic=args.new_image_topic.name,
                role="roles/pubsub.publisher",
                member=member,
                opts=child,
            ),
            # Why: signed PUTs create its uploads (as this account), it checks their first
            # bytes, and deletes a blocked one; under its prefix only (uploads_condition).
            gcp.storage.BucketIAMMember(
                f"{name}-writes-uploads",
                bucket=args.images_bucket.name,
                role="roles/storage.objectUser",
                member=member,
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title="user-service-uploads-only",
                    description=f"Only objects under {USER_UPLOADS_PREFIX} in the images bucket.",
                    expression=args.images_bucket.name.apply(uploads_condition),
                ),
                opts=child,
            ),
            # Why: the results subscription kept for the User-Service (step 7).
            gcp.pubsub.SubscriptionIAMMember(
                f"{name}-reads-results",
                project=args.project,
                subscription=args.results_subscription.name,
                role="roles/pubsub.subscriber",
                member=member,
                opts=child,
            ),
        ]
        self.register_outputs({"grants": len(self.grants)})
