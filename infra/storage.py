"""Cloud Storage: the images bucket the User-Service writes, and the function source bucket."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import Buckets
from infra.source_archive import SourceArchive
from infra.user_service import upload_cors


@dataclass(frozen=True)
class StorageArgs:
    project: str
    region: str
    buckets: Buckets
    archive: SourceArchive
    labels: Mapping[str, str]
    depends_on: Sequence[pulumi.Resource]
    # The User-Service's upload screen origins (ai-service:userServiceOrigins); none: no CORS rule.
    upload_origins: Sequence[str] = ()


def hardened_bucket(
    resource_name: str,
    bucket_name: str,
    args: StorageArgs,
    component: str,
    opts: pulumi.ResourceOptions,
    *,
    delete_after_days: int | None = None,
    cors: Sequence[gcp.storage.BucketCorArgs] = (),
) -> gcp.storage.Bucket:
    """A private, regional bucket: uniform access (no object ACLs), public access prevented.

    With `delete_after_days`, every object is deleted that many days after it was created (the
    lifecycle condition `age` counts from creation), for good: soft delete is off (retention 0), so
    a deleted object is not kept, and billed, restorable for Cloud Storage's default 7 days.
    Neither bucket is versioned nor writes usage logs: docs/security.md (CKV_GCP_62, CKV_GCP_78).
    """
    expires = delete_after_days is not None
    return gcp.storage.Bucket(
        resource_name,
        project=args.project,
        name=bucket_name,
        location=args.region,
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        force_destroy=args.buckets.force_destroy,
        lifecycle_rules=[
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=delete_after_days),
            )
        ]
        if expires
        else None,
        soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=0)
        if expires
        else None,
        cors=list(cors) or None,
        labels={**args.labels, "component": component},
        opts=opts,
    )


class Storage(pulumi.ComponentResource):
    """Both buckets, and the function's content-addressed source archive."""

    images_bucket: gcp.storage.Bucket
    source_bucket: gcp.storage.Bucket
    source_object: gcp.storage.BucketObject

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ai-service:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        # Why: the User-Service uploads images here; the function asks Vision to read gs:// URIs
        # from it. Same region as the function, so Vision reads do not cross regions. Uploads are
        # kept imagesRetentionDays, long enough for a redrive of the dead letters, then deleted.
        # The User-Service's upload screen PUTs photos straight here: CORS for its origins only.
        self.images_bucket = hardened_bucket(
            f"{name}-images",
            args.buckets.images,
            args,
            "images",
            child,
            delete_after_days=args.buckets.retention_days,
            cors=upload_cors(args.upload_origins),
        )
        # Why: gen2 functions are built from a zip in Cloud Storage; keeping it in our own
        # hardened bucket (not the gcf-uploads one) keeps its access under this stack's control.
        self.source_bucket = hardened_bucket(
            f"{name}-source", args.buckets.source, args, "function-source", child
        )
        # Why: the object name carries the content hash: a code change is a new object, which
        # is what makes the function rebuild (TPG #1938: same name -> no redeploy).
        self.source_object = gcp.storage.BucketObject(
            f"{name}-function-source",
            bucket=self.source_bucket.name,
            name=args.archive.object_name,
            source=pulumi.FileAsset(str(args.archive.path)),
            content_type="application/zip",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs(
            {
                "images_bucket": self.images_bucket.name,
                "source_bucket": self.source_bucket.name,
                "source_object": self.source_object.name,
            }
        )
