"""Bucket hardening: uniform access, public access prevented, regional, deliberate deletes."""

from __future__ import annotations

import pytest

from infra.settings import SettingsError, load_settings
from tests.infra.harness import ProgramRun, run_program

BUCKET = "gcp:storage/bucket:Bucket"


def test_every_bucket_is_hardened(default_run: ProgramRun) -> None:
    buckets = default_run.of_type(BUCKET)
    assert len(buckets) == 2
    for bucket in buckets:
        assert bucket.inputs["uniformBucketLevelAccess"] is True, bucket.urn
        assert bucket.inputs["publicAccessPrevention"] == "enforced", bucket.urn
        assert bucket.inputs["location"] == "us-central1", bucket.urn


def test_buckets_are_not_force_destroyed_by_default(default_run: ProgramRun) -> None:
    for bucket in default_run.of_type(BUCKET):
        assert bucket.inputs["forceDestroy"] is False, bucket.urn


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
def test_force_destroy_comes_from_config(raw: str, expected: bool) -> None:
    for bucket in run_program({"forceDestroy": raw}).of_type(BUCKET):
        assert bucket.inputs["forceDestroy"] is expected, bucket.urn


def test_images_bucket_follows_the_stack_region() -> None:
    run = run_program(region="europe-west4")
    for bucket in run.of_type(BUCKET):
        assert bucket.inputs["location"] == "europe-west4", bucket.urn


def test_no_bucket_acl_resources(default_run: ProgramRun) -> None:
    for item in default_run.registrations:
        assert "ACL" not in item.type, item.urn
        assert "AccessControl" not in item.type, item.urn


def test_artifact_repository_has_a_cleanup_policy(default_run: ProgramRun) -> None:
    repository = default_run.one("gcp:artifactregistry/repository:Repository")
    policies = {policy["id"]: policy for policy in repository.inputs["cleanupPolicies"]}
    assert policies["keep-recent"]["action"] == "KEEP"
    assert policies["delete-old"]["action"] == "DELETE"
    assert repository.inputs["cleanupPolicyDryRun"] is False


def images_bucket(run: ProgramRun) -> dict:
    return next(
        bucket.inputs
        for bucket in run.of_type(BUCKET)
        if bucket.inputs["labels"]["component"] == "images"
    )


def test_uploads_are_deleted_after_the_retention_and_not_kept_soft_deleted(
    default_run: ProgramRun,
) -> None:
    """Issue 17 finding 12: the images bucket keeps an upload imagesRetentionDays (14 by default),
    then deletes it for good (no soft-deleted copy restorable for another week)."""
    bucket = images_bucket(default_run)
    assert bucket["lifecycleRules"] == [{"action": {"type": "Delete"}, "condition": {"age": 14}}]
    assert bucket["softDeletePolicy"] == {"retentionDurationSeconds": 0}


def test_the_retention_comes_from_config() -> None:
    [rule] = images_bucket(run_program({"imagesRetentionDays": "30"}))["lifecycleRules"]
    assert rule["condition"] == {"age": 30}


def test_the_source_bucket_keeps_its_archives() -> None:
    """The archives are what the function was built from; the deploy, not an age, replaces them."""
    run = run_program()
    [source] = [
        bucket.inputs
        for bucket in run.of_type(BUCKET)
        if bucket.inputs["labels"]["component"] == "function-source"
    ]
    assert "lifecycleRules" not in source
    assert "softDeletePolicy" not in source


def test_no_bucket_is_versioned(default_run: ProgramRun) -> None:
    """docs/security.md CKV_GCP_78: versions would keep deleted (and blocked) images."""
    for bucket in default_run.of_type(BUCKET):
        assert not bucket.inputs.get("versioning"), bucket.urn


def test_no_accepted_retention_deletes_an_image_its_dead_letter_may_still_need(
    default_run: ProgramRun,
) -> None:
    """The shortest retention the stack accepts outlives the dead-letter subscription's retention
    (the redrive window) by at least a day, for the redriven message's own retries."""
    dead_letters = default_run.one(
        "gcp:pubsub/subscription:Subscription", name="ai-service-image-labeling-dead-letter"
    )
    window_days = int(dead_letters.inputs["messageRetentionDuration"].removesuffix("s")) / 86400
    with pytest.raises(SettingsError):
        load_settings("p", None, {"imagesRetentionDays": str(int(window_days))})
    shortest = int(window_days) + 1
    [rule] = images_bucket(run_program({"imagesRetentionDays": str(shortest)}))["lifecycleRules"]
    assert rule["condition"]["age"] >= window_days + 1
