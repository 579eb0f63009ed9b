"""Bucket hardening: uniform access, public access prevented, regional, deliberate deletes."""

from __future__ import annotations

import pytest

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
