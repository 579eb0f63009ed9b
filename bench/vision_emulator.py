"""Per-image latency of the local Vision emulator, against the table-answering fake in the same run.

Both are reached the same way, through the function's own Vision client (labeling.clients) asking
LABEL_DETECTION for a gs:// object, one request at a time: the emulator as the separate process that
`make local` starts, reading the object from a real storage emulator; the fake (bench/fakes/vision.py)
answering from a table in this process. The ratio is what running the model costs per image.
In-process figures split the emulator's own work into image decoding and inference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import vision_v1
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed

from bench.fakes.vision import FakeVision
from bench.processes import status_bytes
from labeling.clients import build_vision_client
from labeling.config import Settings
from labeling.vision import build_request
from ops import ROOT
from ops.emulators import VisionEmulator
from ops.processes import free_port
from vision_emulator.images import decode
from vision_emulator.model import Detector

BUCKET = "bench-emulator"
# A committed drawing and, when `make test-photos` has unpacked it, a real 768 x 576 JPEG photograph.
IMAGES = (
    ROOT / "ops" / "samples" / "bicycle.png",
    ROOT / ".cache" / "test-photos" / "usr" / "share" / "darknet" / "data" / "dog.jpg",
)
Metrics = dict[str, Any]


def latency(images: int, warmup: int, summary: Callable[[list[float]], Metrics]) -> Metrics:
    available = [path for path in IMAGES if path.is_file()]
    port = free_port()
    storage = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    storage.start()
    host = f"http://127.0.0.1:{port}"
    try:
        bucket = StorageClient(
            project="bench",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": host},
        ).bucket(BUCKET)
        for path in available:
            bucket.blob(path.name).upload_from_string(path.read_bytes())
        fake = FakeVision()
        with VisionEmulator(host) as emulator, fake.server():
            per_image: Metrics = {}
            for path in available:
                uri = f"gs://{BUCKET}/{path.name}"
                fake.add_image(uri)
                emulated = _timed(emulator.host, uri, images, warmup)
                table = _timed(fake.host, uri, images, warmup)
                per_image[path.name] = {
                    "emulator": summary(emulated),
                    "fake_vision": summary(table),
                    "ratio_median": summary(emulated)["median_ms"] / summary(table)["median_ms"],
                }
            assert emulator.process is not None
            peak_rss = status_bytes(emulator.process.pid, "VmHWM")
    finally:
        storage.stop()
    return {
        "images": per_image,
        "in_process": _in_process(available, images, summary),
        "emulator_peak_rss_bytes": peak_rss,
    }


def _timed(vision_host: str, uri: str, count: int, warmup: int) -> list[float]:
    settings = Settings(
        project_id="bench", topic_id="t", bucket_name=BUCKET, vision_emulator_host=vision_host
    )
    client = build_vision_client(settings)
    request = build_request(uri, settings)
    seconds = []
    for index in range(warmup + count):
        started = time.perf_counter()
        response = client.batch_annotate_images(requests=[request], timeout=30)
        elapsed = time.perf_counter() - started
        answer: vision_v1.AnnotateImageResponse = response.responses[0]
        if answer.error.code:
            raise RuntimeError(f"{uri} failed on {vision_host}: {answer.error.message}")
        if index >= warmup:
            seconds.append(elapsed)
    client.transport.close()
    return seconds


def _in_process(
    paths: list[Path], count: int, summary: Callable[[list[float]], Metrics]
) -> Metrics:
    """Decoding, then detection (inference and SSD decoding), alone on one interpreter, per image."""
    detector = Detector(parallelism=1)
    result: Metrics = {}
    for path in paths:
        data = path.read_bytes()
        decoding, detecting = [], []
        for _ in range(count):
            started = time.perf_counter()
            image = decode(data)
            decoded = time.perf_counter()
            detector.detect(image)
            detecting.append(time.perf_counter() - decoded)
            decoding.append(decoded - started)
        result[path.name] = {"decode": summary(decoding), "detect": summary(detecting)}
    return result
