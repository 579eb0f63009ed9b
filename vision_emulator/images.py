"""An image's bytes, from the request's `content` or a `gs://` object in the storage emulator, and decoded.

Everything Vision refuses per image becomes `ImageError` with Vision's code and wording: a missing or
unreadable object is code 7 "Error opening file: gs://...", bytes that are no image code 3 "Bad image
data.", a file over 20 MB code 3 (https://cloud.google.com/vision/docs/supported-files: "Files exceeding
20MB generate an error"). An image of more than MAX_PIXELS is code 3 too, saying its size: it is
refused from its header, before a pixel is decoded (a decompression bomb).
"""

from __future__ import annotations

import io
import struct
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps

from vision_emulator.model import INPUT_SIZE

MAX_IMAGE_BYTES = 20 * 1024 * 1024
# Vision's supported-files page: "Image size should not exceed 75M pixels (length x width)". Past it the
# emulator refuses from the header: one decode then costs at most 300 MB (4 bytes a pixel), and at most
# `--parallelism` images are decoded at once. (Pillow itself only warns from 89 M and refuses from 179 M
# pixels: 0.5 to 1 GB each, from a file of a few hundred kB.)
MAX_PIXELS = 75_000_000
# What the detector works on: a decoded image above it is shrunk at once, before it is turned upright or
# converted, so those copies are small (a 75 M pixel RGBA PNG took 861 MiB through three full-size
# copies). The tiler's smallest window is about a third of a 4 M pixel photo's side, still over twice the
# network's input; the test photos are all under 2 M pixels, so no figure measured on them changes.
MAX_WORKING_PIXELS = 4_000_000
# The formats Vision reads that Pillow decodes (supported-files): no other decoder sees the bytes.
FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "ICO")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ICO_MAGIC = b"\x00\x00\x01\x00"
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
        image = open_header(data)
        image.draft("RGB", (INPUT_SIZE, INPUT_SIZE))
        image.load()
        small = shrink(image)
        if small is not image:  # a new image: the orientation, wherever the format kept it
            small.info["exif"] = image.getexif().tobytes()
        ImageOps.exif_transpose(small, in_place=True)
        return small if small.mode == "RGB" else small.convert("RGB")
    except ImageError:
        raise
    except Exception as error:
        # Whatever a decoder raises on untrusted bytes (UnidentifiedImageError, OSError for truncated
        # data, struct errors from a malformed EXIF block, ...) means the same thing to the caller:
        # these bytes are no usable image.
        raise ImageError(INVALID_ARGUMENT, "Bad image data.") from error


def shrink(image: Image.Image) -> Image.Image:
    """`image` within MAX_WORKING_PIXELS (its aspect ratio kept), with no full-size copy on the way."""
    width, height = image.size
    scale = (MAX_WORKING_PIXELS / (width * height)) ** 0.5
    if scale >= 1:
        return image
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    if image.mode in ("RGBA", "LA"):
        # Pillow premultiplies alpha into a full-size copy to filter these; picking pixels does not.
        # To twice the size first, so the filter below still sees every neighbourhood.
        image = image.resize((size[0] * 2, size[1] * 2), Image.Resampling.NEAREST)
    image.thumbnail(size)
    return image


def open_header(data: bytes) -> ImageFile.ImageFile:
    """The image with its header read and no pixel decoded (Pillow decodes lazily), within MAX_PIXELS.

    Each format's own opener, as `Image.open` tries them, but the size is checked here, first:
    `Image.open` refuses a bomb past 179 M pixels without saying its size, and warns below that.
    """
    if data.startswith(ICO_MAGIC):
        # Pillow decodes an icon as it opens it, and a frame can be far larger than the icon's directory
        # says (a PNG or bitmap inside): every frame's own header counts.
        for size in ico_frame_sizes(data):
            check_pixels(size)
    Image.init()
    prefix = data[:16]
    for name in FORMATS:
        factory, accept = Image.OPEN[name]
        recognised = accept(prefix) if accept else True  # a str is a reason it is not this format
        if recognised and not isinstance(recognised, str):
            image = factory(io.BytesIO(data), "")
            check_pixels(image.size)
            return image
    raise ImageError(INVALID_ARGUMENT, "Bad image data.")


def check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageError(
            INVALID_ARGUMENT,
            f"Image is {width} x {height} = {width * height / 1e6:.1f} megapixels, above the "
            f"emulator's limit of {MAX_PIXELS / 1e6:g} megapixels (Vision's recommended maximum): "
            "it is not decoded.",
        )


def ico_frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """The size each frame of an ICO declares in its own header (a PNG's IHDR, or a bitmap's)."""
    (count,) = struct.unpack_from("<H", data, 4)
    sizes = []
    for index in range(count):
        (offset,) = struct.unpack_from("<I", data, 6 + 16 * index + 12)
        frame = data[offset : offset + 24]
        if frame.startswith(PNG_MAGIC):
            sizes.append(struct.unpack(">II", frame[16:24]))
        else:  # BITMAPINFOHEADER: its height counts the image and its mask
            width, height = struct.unpack("<ii", frame[4:12])
            sizes.append((abs(width), abs(height) // 2))
    return sizes
