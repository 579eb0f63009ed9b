"""What an uploaded object really is, by its first bytes (never by its name or declared type)."""

from __future__ import annotations

# How many leading bytes `detect` needs (WEBP: "RIFF", 4 size bytes, "WEBP").
SNIFF_BYTES = 12


def detect(head: bytes) -> str | None:
    """The image type the bytes start with (a key of config.CONTENT_TYPES), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"BM") and len(head) >= 6:
        return "image/bmp"
    return None
