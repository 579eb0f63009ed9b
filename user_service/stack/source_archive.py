"""The service's deployable archive: user_service/function zipped reproducibly, named by its hash.

A gen2 function rebuilds only when its source object's name changes (TPG #1938), so the name carries
the content hash; the bytes depend on the contents alone (stored entries, fixed times and modes).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from user_service.stack.settings import FUNCTION_NAME

SKIPPED_PARTS = frozenset({"__pycache__", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class SourceArchive:
    digest: str
    object_name: str
    path: Path
    files: tuple[str, ...]


def source_files(source: Path) -> tuple[str, ...]:
    """The members, relative POSIX paths, sorted; caches and dot files left out."""
    if not (source / "main.py").is_file():
        raise FileNotFoundError(f"the User-Service source {source} has no main.py")
    found = []
    for directory, subdirectories, files in os.walk(source):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in SKIPPED_PARTS and not name.startswith(".")
        )
        base = Path(directory).relative_to(source)
        found += [
            (base / name).as_posix()
            for name in files
            if not name.startswith(".") and not name.endswith((".pyc", ".pyo"))
        ]
    return tuple(sorted(found))


def archive_bytes(source: Path, files: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in files:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.create_system = 3  # Unix, whatever the build machine
            info.external_attr = 0o644 << 16
            archive.writestr(info, (source / name).read_bytes())
    return buffer.getvalue()


def build_archive(source: Path, output_directory: Path) -> SourceArchive:
    files = source_files(source)
    content = archive_bytes(source, files)
    digest = hashlib.sha256(content).hexdigest()
    name = f"{FUNCTION_NAME}-{digest[:16]}.zip"
    output_directory.mkdir(parents=True, exist_ok=True)
    path = output_directory / name
    if not path.is_file() or path.read_bytes() != content:
        temporary = output_directory / f".{name}.{os.getpid()}.tmp"
        temporary.write_bytes(content)
        temporary.replace(path)
    return SourceArchive(digest=digest, object_name=name, path=path, files=files)
