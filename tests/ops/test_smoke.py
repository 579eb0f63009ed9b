"""`python -m ops.smoke` against a real storage emulator, the Pub/Sub fake and the real function."""

from __future__ import annotations

import json
import re
import shutil
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed

from bench.fakes.pubsub import FakePubSub
from bench.fakes.vision import BICYCLE_LABELS, FakeImage, FakeVision
from ops import make_samples, smoke
from tests.fakes.stack_cli import run_stack_target
from tests.ops.conftest import (
    BUCKET,
    LABELED_TOPIC,
    NEW_IMAGE_TOPIC,
    PROJECT,
    RESULTS_SUBSCRIPTION,
    Delivery,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "ops" / "samples"
TARGET = [
    "--project",
    PROJECT,
    "--bucket",
    BUCKET,
    "--topic",
    "user-service-new-image",
    "--subscription",
    "user-service-image-labeled",
    "--poll-interval",
    "0.02",
]


@dataclass(frozen=True)
class Run:
    exit_code: int
    output: str
    seconds: float

    @property
    def run_id(self) -> str:
        return run_id(self.output)

    def row(self, file_name: str) -> list[str]:
        """The table row of one image, split into its columns."""
        for line in self.output.splitlines():
            if f"/{file_name} " in line and line.startswith("smoke-"):
                return re.split(r"\s{2,}", line.strip())
        raise AssertionError(f"no table row for {file_name}:\n{self.output}")


def run_id(output: str) -> str:
    found = re.search(r"^smoke run (\S+):", output, re.MULTILINE)
    assert found, f"no run id in the output:\n{output}"
    return found.group(1)


def smoke_output(capsys: pytest.CaptureFixture[str]) -> str:
    """What the smoke tool printed, without the in-process function's JSON log lines."""
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    return "\n".join(line for line in lines if not line.startswith("{"))


def run_smoke(capsys: pytest.CaptureFixture[str], *arguments: str, timeout: float = 10.0) -> Run:
    started = time.monotonic()
    exit_code = smoke.main([*TARGET, "--timeout", str(timeout), *arguments])
    seconds = time.monotonic() - started
    return Run(exit_code, smoke_output(capsys), seconds)


def broken_image(directory: Path) -> Path:
    path = directory / "broken.png"
    path.write_bytes(b"not a PNG at all")
    return path


# -- the pass criterion ------------------------------------------------------------------------


def test_every_image_labeled_exits_zero_and_prints_the_table(
    delivery: Delivery, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = tmp_path / "outputs.json"  # as `pulumi stack output --json` writes it
    outputs.write_text(
        json.dumps(
            {
                "project": PROJECT,
                "imagesBucket": BUCKET,
                "newImageTopic": "user-service-new-image",
                "userServiceSubscription": "user-service-image-labeled",
                "functionName": "ai-service-image-labeling",
            }
        )
    )
    started = time.monotonic()
    exit_code = smoke.main(["--outputs-json", str(outputs), "--poll-interval", "0.02"])
    run = Run(exit_code, smoke_output(capsys), time.monotonic() - started)

    assert run.exit_code == smoke.PASS, run.output
    header = run.output.splitlines()[1]
    assert re.split(r"\s{2,}", header) == [
        "id",
        "path",
        "status",
        "matched",
        "expected",
        "top labels",
    ]
    bicycle = run.row("bicycle.png")
    assert bicycle[0] == f"smoke-{run.run_id}-1"
    assert bicycle[1:5] == [f"smoke/{run.run_id}/bicycle.png", "labeled", "yes", "yes"]
    assert bicycle[5] == "Bicycle 0.97, Wheel 0.95, Bicycle wheel 0.93"
    assert run.row("house.png")[1:6] == [
        f"smoke/{run.run_id}/house.png",
        "labeled",
        "no",
        "no",
        "Cat 0.98, Whiskers 0.90, Felidae 0.87",
    ]
    assert "smoke PASS: 2/2 labeled, 0 failed, 0 timed out" in run.output


def test_uploaded_objects_really_are_in_the_emulator_bucket(
    delivery: Delivery,
    storage_client: StorageClient,
    vision: FakeVision,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_smoke(capsys)

    assert run.exit_code == smoke.PASS, run.output
    names = sorted(
        blob.name for blob in storage_client.list_blobs(BUCKET, prefix=f"smoke/{run.run_id}/")
    )
    assert names == [f"smoke/{run.run_id}/bicycle.png", f"smoke/{run.run_id}/house.png"]
    for name in names:
        stored = storage_client.bucket(BUCKET).blob(name)
        assert stored.download_as_bytes() == (SAMPLES / Path(name).name).read_bytes()
        stored.reload()
        assert stored.content_type == "image/png"
    assert sorted(vision.requested_uris()) == [f"gs://{BUCKET}/{name}" for name in names]


def test_publishes_exactly_the_user_service_message_per_image(
    delivery: Delivery, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_smoke(capsys)

    requests = [message.json() for message in pubsub.messages(NEW_IMAGE_TOPIC)]
    assert requests == [
        {"id": f"smoke-{run.run_id}-1", "path": f"smoke/{run.run_id}/bicycle.png"},
        {"id": f"smoke-{run.run_id}-2", "path": f"smoke/{run.run_id}/house.png"},
    ]


def test_cleanup_deletes_the_uploaded_objects(
    delivery: Delivery, storage_client: StorageClient, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_smoke(capsys, "--cleanup")

    assert run.exit_code == smoke.PASS, run.output
    assert list(storage_client.list_blobs(BUCKET, prefix=f"smoke/{run.run_id}/")) == []


# -- failures and timeouts ---------------------------------------------------------------------


def test_one_failed_image_exits_nonzero_and_names_it(
    delivery: Delivery, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery.answers["broken.png"] = FakeImage(error_code=3, error_message="Bad image data.")

    run = run_smoke(capsys, str(SAMPLES / "bicycle.png"), str(broken_image(tmp_path)))

    assert run.exit_code == smoke.FAIL, run.output
    assert run.row("bicycle.png")[2] == "labeled"
    broken = run.row("broken.png")
    assert broken[2] == "failed"
    failure = next(line for line in run.output.splitlines() if line.startswith("FAILED"))
    assert f"smoke-{run.run_id}-2 (smoke/{run.run_id}/broken.png)" in failure
    assert "Bad image data" in failure
    assert "smoke FAIL: 1/2 labeled, 1 failed, 0 timed out" in run.output


def test_a_result_that_never_arrives_exits_nonzero_after_the_timeout(
    delivery: Delivery, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    # Per-image UNAVAILABLE: the function raises, so Pub/Sub redelivers and nothing is published.
    delivery.answers["house.png"] = FakeImage(error_code=14, error_message="try again")

    run = run_smoke(capsys, timeout=1.5)

    assert run.exit_code == smoke.FAIL, run.output
    assert 1.5 <= run.seconds < 5, run.seconds
    assert run.row("bicycle.png")[2] == "labeled"
    assert run.row("house.png")[2] == "timeout"
    assert f"TIMEOUT smoke-{run.run_id}-2 (smoke/{run.run_id}/house.png)" in run.output
    assert "smoke FAIL: 1/2 labeled, 0 failed, 1 timed out" in run.output
    assert delivery.delivered.count(f"smoke/{run.run_id}/house.png") >= 2, "was it retried?"
    assert pubsub.outstanding(RESULTS_SUBSCRIPTION) == 0


def test_nothing_answering_at_all_times_out(
    environment: None, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_smoke(capsys, timeout=0.5)

    assert run.exit_code == smoke.FAIL, run.output
    assert [run.row("bicycle.png")[2], run.row("house.png")[2]] == ["timeout", "timeout"]
    assert "no result within 0.5 s" in run.output
    assert len(pubsub.messages(NEW_IMAGE_TOPIC)) == 2


# -- whose messages are whose ------------------------------------------------------------------


def test_foreign_results_are_never_acknowledged_and_handed_back_at_once(
    delivery: Delivery, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    # The User-Service's own image, labeled before the smoke run starts: its result waits unread.
    delivery.answers["ride-42.jpg"] = FakeImage(labels=BICYCLE_LABELS)
    storage = StorageClient(project=PROJECT)
    storage.bucket(BUCKET).blob("uploads/ride-42.jpg").upload_from_string(b"jpeg")
    publisher = PublisherClient()
    publisher.publish(
        NEW_IMAGE_TOPIC, json.dumps({"id": 42, "path": "uploads/ride-42.jpg"}).encode()
    ).result(timeout=5)
    assert len(pubsub.wait_for(1, timeout=5, topic=LABELED_TOPIC)) == 1

    run = run_smoke(capsys)

    assert run.exit_code == smoke.PASS, run.output
    assert "left 1 delivery(ies) of other ids unacknowledged" in run.output
    assert pubsub.outstanding(RESULTS_SUBSCRIPTION) == 1, "only the foreign result is left"
    # Released with ack deadline 0: its owner can pull it right away, not after the ack deadline.
    subscriber = SubscriberClient()
    try:
        response = subscriber.pull(
            request={"subscription": RESULTS_SUBSCRIPTION, "max_messages": 10},
            timeout=5,
            retry=None,
        )
    finally:
        subscriber.close()
    assert [json.loads(m.message.data)["id"] for m in response.received_messages] == [42]
    assert response.received_messages[0].delivery_attempt >= 2, "the smoke run did see it"


def test_duplicate_results_are_acknowledged_and_counted_once(
    delivery: Delivery, pubsub: FakePubSub, storage_client: StorageClient
) -> None:
    delivery.repeat = 2  # at-least-once: the function answers the same message twice
    storage_client.bucket(BUCKET).blob("smoke/dup/bicycle.png").upload_from_filename(
        str(SAMPLES / "bicycle.png")
    )
    publisher = PublisherClient()
    publisher.publish(
        NEW_IMAGE_TOPIC, json.dumps({"id": "dup-1", "path": "smoke/dup/bicycle.png"}).encode()
    ).result(timeout=5)
    assert len(pubsub.wait_for(2, timeout=5, topic=LABELED_TOPIC)) == 2
    subscriber = SubscriberClient()
    try:
        collected = smoke.collect(subscriber, RESULTS_SUBSCRIPTION, ["dup-1"], timeout=5)
    finally:
        subscriber.close()

    assert list(collected.results) == ["dup-1"]
    assert collected.results["dup-1"]["status"] == "labeled"
    assert collected.duplicates == 1
    assert pubsub.outstanding(RESULTS_SUBSCRIPTION) == 0, "both copies are acknowledged"


# -- match expectations ------------------------------------------------------------------------


def test_a_match_that_differs_is_reported_but_does_not_fail_by_default(
    delivery: Delivery, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery.answers["house.png"] = FakeImage()  # Vision sees a bicycle in the house

    run = run_smoke(capsys)

    assert run.exit_code == smoke.PASS, run.output
    assert run.row("house.png")[3:5] == ["yes (!)", "no"]
    assert "note: smoke-" in run.output
    assert "1 match mismatch(es)" in run.output


def test_enforce_match_fails_on_a_differing_match(
    delivery: Delivery, capsys: pytest.CaptureFixture[str]
) -> None:
    delivery.answers["house.png"] = FakeImage()

    run = run_smoke(capsys, "--enforce-match")

    assert run.exit_code == smoke.FAIL, run.output
    assert re.search(r"^MISMATCH smoke-\S+-2 \(house\.png\)", run.output, re.MULTILINE)


# -- usage ---------------------------------------------------------------------------------------


def test_a_missing_target_is_a_usage_error_that_names_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exit_code = smoke.main(["--project", PROJECT, "--topic", "t", "--subscription", "s"])

    assert exit_code == smoke.USAGE_ERROR
    assert "--bucket is required (or stack output 'imagesBucket'" in capsys.readouterr().err


def test_a_missing_image_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = smoke.main([*TARGET, str(tmp_path / "nope.png")])

    assert exit_code == smoke.USAGE_ERROR
    assert "image not found" in capsys.readouterr().err


def test_an_unknown_bucket_is_a_setup_error_before_anything_is_published(
    environment: None, pubsub: FakePubSub, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = smoke.main([*TARGET, "--bucket", "no-such-bucket", "--timeout", "1"])

    assert exit_code == smoke.USAGE_ERROR
    assert "smoke ERROR: could not upload to gs://no-such-bucket: NotFound" in smoke_output(capsys)
    assert pubsub.messages(NEW_IMAGE_TOPIC) == []


def test_an_unknown_topic_is_a_setup_error(
    environment: None, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = smoke.main([*TARGET, "--topic", "no-such-topic", "--timeout", "1"])

    assert exit_code == smoke.USAGE_ERROR
    assert (
        f"could not publish to projects/{PROJECT}/topics/no-such-topic: NotFound"
        in smoke_output(capsys)
    )


def test_short_names_and_full_paths_resolve_to_the_same_target() -> None:
    assert smoke.resource_path("p", "topics", "t") == "projects/p/topics/t"
    assert smoke.resource_path("p", "topics", "projects/q/topics/t") == "projects/q/topics/t"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_smoke_passes_the_stack_outputs_to_the_tool(
    delivery: Delivery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = {
        "project": PROJECT,
        "imagesBucket": BUCKET,
        "newImageTopic": "user-service-new-image",
        "userServiceSubscription": "user-service-image-labeled",
    }
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")

    run = run_stack_target(
        "smoke",
        outputs,
        tmp_path,
        {
            "SMOKE_TIMEOUT": "10",
            "SMOKE_FLAGS": "--poll-interval 0.02",
            "IMAGES": str(SAMPLES / "bicycle.png"),
        },
        timeout=60,
    )

    output = run.output
    assert run.returncode == 0, output
    assert "stack output --json --stack qa" in run.pulumi_calls
    assert f"smoke run {run_id(output)}: 1 image(s) -> gs://{BUCKET}/smoke/" in output
    assert f"publishing to {NEW_IMAGE_TOPIC}, reading {RESULTS_SUBSCRIPTION}" in output
    assert "smoke PASS: 1/1 labeled" in output


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_smoke_names_a_missing_stack_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = {"project": PROJECT, "newImageTopic": "t", "userServiceSubscription": "s"}
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")

    run = run_stack_target("smoke", outputs, tmp_path, {}, timeout=60)

    assert run.returncode != 0
    assert (
        "smoke ERROR: the stack has no output 'imagesBucket' (read from stdin): "
        "run make deploy first, or give --bucket"
    ) in run.output


# -- the sample images ---------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG with one IDAT chunk (ours)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4 : idat])
    return width, height, zlib.decompress(data[idat + 4 : idat + 4 + length])


def test_the_shipped_samples_are_what_make_samples_draws(tmp_path: Path) -> None:
    written = make_samples.write_samples(tmp_path)

    assert sorted(path.name for path in written) == ["bicycle.png", "house.png"]
    manifest = json.loads((SAMPLES / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(entry["file"] for entry in manifest["images"]) == ["bicycle.png", "house.png"]
    for path in written:
        shipped = (SAMPLES / path.name).read_bytes()
        assert len(shipped) < 20_000
        assert png_pixels(path.read_bytes()) == png_pixels(shipped), path.name
        assert png_pixels(shipped)[:2] == (make_samples.WIDTH, make_samples.HEIGHT)
