"""The Vision emulator as `make local` runs it: a process on loopback reading gs:// from a real storage
emulator, reached by the real google-cloud-vision client that the function builds (labeling.clients).

Photos: the two project samples (ops/samples, committed) and real photographs from Debian's `darknet`
package, which `make test-photos` unpacks under .cache/ (they are not committed: their authorship is not
documented beyond the package's own licence). Each photo is checked against its sha256 before use.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud import vision_v1
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed

from bench.vision_emulator import TEST_PHOTOS
from labeling.clients import build_vision_client
from labeling.config import Settings
from ops import ROOT
from ops.emulators import VisionEmulator
from ops.processes import free_port

BUCKET = "emulator-images"
PROJECT = "emulator-project"
SAMPLES = ROOT / "ops" / "samples"
PHOTO_DIRS = (
    TEST_PHOTOS,
    Path("/usr/share/darknet/data"),  # where the package puts them when installed
)


@dataclass(frozen=True)
class Photo:
    name: str
    sha256: str
    shows_bicycle: bool
    sample: bool = False  # committed under ops/samples (else from the darknet package)

    @property
    def path(self) -> Path:
        if self.sample:
            return SAMPLES / self.name
        for folder in PHOTO_DIRS:
            if (folder / self.name).is_file():
                return folder / self.name
        pytest.fail(f"test photo {self.name} is missing: run make test-photos", pytrace=False)

    def read(self) -> bytes:
        data = self.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert digest == self.sha256, f"{self.path} is not the expected photo (sha256 {digest})"
        return data

    @property
    def uri(self) -> str:
        return f"gs://{BUCKET}/photos/{self.name}"


PHOTOS = (
    Photo(
        "bicycle.png",
        "7c7c882a7ca50135f77444f16ee95960fb99e4d894b1ace649bdc930d91f6d45",
        shows_bicycle=True,
        sample=True,
    ),
    Photo(
        "house.png",
        "82bb996810537051fa1cb8790c493615991fd09c7eab6f786229014b2ba2d083",
        shows_bicycle=False,
        sample=True,
    ),
    # A dog in front of a bicycle, a pickup truck behind.
    Photo("dog.jpg", "5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866", True),
    Photo("eagle.jpg", "f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0", False),
    Photo("giraffe.jpg", "00dc48a9b2af8a1fe4c4b79319726591f1033c7e1150f21e7577a79f3b6659f1", False),
    Photo("horses.jpg", "c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4", False),
    Photo("kite.jpg", "87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e", False),
    Photo("person.jpg", "cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1", False),
    Photo("scream.jpg", "dcab7bae866fbb396e01ab27a9c8d2d40b3e80911dafb05a5fa18d1bac6b8d17", False),
)
PHOTOS_BY_NAME = {photo.name: photo for photo in PHOTOS}


def photo(name: str) -> Photo:
    return PHOTOS_BY_NAME[name]


@pytest.fixture(scope="session")
def storage_host() -> Iterator[str]:
    """A real storage emulator in memory, its bucket holding every photo under photos/."""
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    host = f"http://127.0.0.1:{port}"
    try:
        bucket = storage_client(host).bucket(BUCKET)
        for item in PHOTOS:
            bucket.blob(f"photos/{item.name}").upload_from_string(item.read())
        yield host
    finally:
        server.stop()


def storage_client(host: str) -> StorageClient:
    return StorageClient(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": host},
    )


@pytest.fixture(scope="session")
def bucket(storage_host: str) -> object:
    return storage_client(storage_host).bucket(BUCKET)


@pytest.fixture(scope="session")
def emulator(storage_host: str) -> Iterator[VisionEmulator]:
    with VisionEmulator(storage_host) as process:
        yield process


@pytest.fixture(scope="session")
def settings(emulator: VisionEmulator) -> Settings:
    """The function's settings with every default (TARGET_LABELS, MIN_SCORE, ...), at the emulator."""
    return Settings(
        project_id=PROJECT,
        topic_id="ai-service-image-labeled",
        bucket_name=BUCKET,
        vision_emulator_host=emulator.host,
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> vision_v1.ImageAnnotatorClient:
    """Built by the function's own factory, as the deployed function builds it."""
    return build_vision_client(settings)


def annotate(
    client: vision_v1.ImageAnnotatorClient,
    image: vision_v1.Image,
    *features: tuple[int, int],
) -> vision_v1.AnnotateImageResponse:
    """One image through BatchAnnotateImages; features as (type, max_results)."""
    request = vision_v1.AnnotateImageRequest(
        image=image,
        features=[vision_v1.Feature(type_=kind, max_results=limit) for kind, limit in features],
    )
    batch = client.batch_annotate_images(requests=[request], timeout=30)
    assert len(batch.responses) == 1
    response: vision_v1.AnnotateImageResponse = batch.responses[0]
    return response


def gcs_image(uri: str) -> vision_v1.Image:
    return vision_v1.Image(source=vision_v1.ImageSource(gcs_image_uri=uri))


LABELS = (vision_v1.Feature.Type.LABEL_DETECTION, 10)
OBJECTS = (vision_v1.Feature.Type.OBJECT_LOCALIZATION, 10)
SAFE_SEARCH = (vision_v1.Feature.Type.SAFE_SEARCH_DETECTION, 0)
