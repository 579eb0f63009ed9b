"""An image's bytes, from the request's `content` or a `gs://` object in the storage emulator, and decoded.

Everything Vision refuses per image becomes `ImageError` with Vision's code and wording: a missing or
unreadable object is code 7 "Error opening file: gs://...", bytes that are no image code 3 "Bad image
data.", a file over 20 MB code 3 (https://cloud.google.com/vision/docs/supported-files: "Files exceeding
20MB generate an error").
"""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from PIL import Image, ImageOps

from vision_emulator.model import INPUT_SIZE

MAX_IMAGE_BYTES = 20 * 1024 * 1024
STORAGE_TIMEOUT_SECONDS = 10.0

# google.rpc.Code values.
INVALID_ARGUMENT = 3
PERMISSION_DENIED = 7
UNIMPLEMENTED = 12
UNAVAILABLE = 14


class ImageError(Exception):
    """A per-image error: Vision answers it inside the response, with this code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class GcsObject:
    bucket: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> GcsObject:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        if not uri.startswith("gs://") or not bucket or not name:
            raise ImageError(INVALID_ARGUMENT, f"Invalid GCS path specified: {uri}")
        return cls(bucket, name)


class StorageReader:
    """Reads objects over the JSON API of the storage emulator at `host` (STORAGE_EMULATOR_HOST)."""

    def __init__(self, host: str, timeout: float = STORAGE_TIMEOUT_SECONDS) -> None:
        self.host = host.rstrip("/")
        if "://" not in self.host:
            self.host = f"http://{self.host}"
        self.timeout = timeout

    def read(self, uri: str) -> bytes:
        target = GcsObject.parse(uri)
        url = (
            f"{self.host}/download/storage/v1/b/{urllib.parse.quote(target.bucket, safe='')}"
            f"/o/{urllib.parse.quote(target.name, safe='')}?alt=media"
        )
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                data: bytes = response.read(MAX_IMAGE_BYTES + 1)
        except urllib.error.HTTPError as error:
            if error.code in (401, 403, 404):
                raise ImageError(PERMISSION_DENIED, f"Error opening file: {uri}.") from error
            raise ImageError(
                UNAVAILABLE, f"Error reading file: {uri}: storage answered HTTP {error.code}"
            ) from error
        except (urllib.error.URLError, OSError) as error:
            raise ImageError(
                UNAVAILABLE, f"Error reading file: {uri}: storage emulator unreachable ({error})"
            ) from error
        check_size(len(data))
        return data


def check_size(size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise ImageError(
            INVALID_ARGUMENT,
            f"Image size exceeds the limit: the file has more than {MAX_IMAGE_BYTES} bytes.",
        )


def decode(data: bytes) -> Image.Image:
    """The image upright (EXIF orientation applied), in RGB, at about the network's input size.

    JPEGs decode at a reduced scale straight away (`draft`), which is most of a large photo's cost.
    """
    if not data:
        raise ImageError(INVALID_ARGUMENT, "No image present.")
    try:
        image = Image.open(io.BytesIO(data))
        image.draft("RGB", (INPUT_SIZE, INPUT_SIZE))
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
    except Exception as error:
        # Whatever a decoder raises on untrusted bytes (UnidentifiedImageError, OSError for truncated
        # data, DecompressionBombError past Pillow's pixel limit, struct errors from a malformed EXIF
        # block, ...) means the same thing to the caller: these bytes are no usable image.
        raise ImageError(INVALID_ARGUMENT, "Bad image data.") from error
