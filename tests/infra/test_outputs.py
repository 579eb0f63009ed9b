"""Stack outputs: what the User-Service, the smoke test and operators need; labels; repeated runs."""

from __future__ import annotations

from tests.infra.harness import PROJECT_ID, ProgramRun, run_program

LABELED_RESOURCE_TYPES = {
    "gcp:pubsub/topic:Topic",
    "gcp:pubsub/subscription:Subscription",
    "gcp:storage/bucket:Bucket",
    "gcp:artifactregistry/repository:Repository",
    "gcp:cloudfunctionsv2/function:Function",
}


def test_outputs(default_run: ProgramRun) -> None:
    assert default_run.outputs == {
        "project": PROJECT_ID,
        "region": "us-central1",
        "imagesBucket": f"{PROJECT_ID}-ai-service-images",
        "newImageTopic": "user-service-new-image",
        "labeledTopic": "ai-service-image-labeled",
        "userServiceSubscription": "user-service-image-labeled",
        "deadLetterTopic": "ai-service-image-labeling-dead-letter",
        "deadLetterSubscription": "ai-service-image-labeling-dead-letter",
        "pushSubscription": "ai-service-image-labeling-push",
        "functionName": "ai-service-image-labeling",
        "functionUri": "https://ai-service-image-labeling-7g5hx2aq-uc.a.run.app",
        "runtimeServiceAccountEmail": f"ai-service-sa@{PROJECT_ID}.iam.gserviceaccount.com",
        "sourceObject": default_run.one("gcp:storage/bucketObject:BucketObject").inputs["name"],
    }


def test_every_resource_that_takes_labels_has_them(default_run: ProgramRun) -> None:
    labeled = [item for item in default_run.custom() if item.type in LABELED_RESOURCE_TYPES]
    assert len(labeled) == 10  # 3 topics, 3 subscriptions, 2 buckets, repository, function
    for item in labeled:
        labels = item.inputs.get("labels") or {}
        assert labels.get("app") == "ai-service", item.urn
        assert labels.get("environment") == "dev", item.urn
        assert labels.get("managed-by") == "pulumi", item.urn
        assert labels.get("component"), item.urn


def test_repeated_runs_in_one_process_are_independent() -> None:
    first = run_program({"maxInstances": "3"})
    second = run_program()
    assert len(first.registrations) == len(second.registrations)
    config = second.one("gcp:cloudfunctionsv2/function:Function").inputs["serviceConfig"]
    assert config["maxInstanceCount"] == 10
