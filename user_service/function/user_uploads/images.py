"""What an uploaded object really is, by its first bytes (never by its name or declared type)."""

from __future__ import annotations

# How many leading bytes `detect` needs (BMP: its 14-byte file header and the DIB header's size).
SNIFF_BYTES = 18
# The sizes of the DIB headers a BMP may have (BITMAPCOREHEADER to BITMAPV5HEADER).
BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def detect(head: bytes, size: int) -> str | None:
    """The image type that `head`, the first bytes of a `size`-byte object, starts with (a key of
    config.CONTENT_TYPES), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if _bmp(head, size):
        return "image/bmp"
    return None


def _bmp(head: bytes, size: int) -> bool:
    """ "BM", the file's own size (or 0, which some writers leave), zero reserved bytes, and a known
    DIB header size: two letters alone would let any text starting with "BM" through."""
    if len(head) < SNIFF_BYTES or not head.startswith(b"BM"):
        return False
    declared = int.from_bytes(head[2:6], "little")
    reserved = head[6:10]
    header = int.from_bytes(head[14:18], "little")
    return declared in (0, size) and reserved == bytes(4) and header in BMP_HEADER_SIZES
