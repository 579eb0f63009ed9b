"""The function's deployable archive: which files, their content hash, a reproducible zip."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.settings import FUNCTION_NAME

# The checkout this package is installed from (pip install -e .): its function/ is what deploys, and
# archives are a build output under its build/ (ignored by git).
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
FUNCTION_SOURCE = REPOSITORY_ROOT / "function"
ARCHIVE_DIRECTORY = REPOSITORY_ROOT / "build" / "function-archives"

# Directories never shipped: tests, virtualenvs, caches, build output.
EXCLUDED_DIRECTORIES = frozenset(
    {
        "tests",
        "test",
        "__pycache__",
        ".venv",
        "venv",
        "env",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        "build",
        "dist",
        "node_modules",
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".zip", ".egg-info")
EXCLUDED_FILE_PREFIXES = ("test_",)
EXCLUDED_FILE_NAMES = frozenset({"conftest.py"})
# Where archives go when the checkout's build/ cannot be written (under the system temp dir).
FALLBACK_DIRECTORY = "ai-service-function-archives"
# A fixed timestamp (the zip format's epoch) so the same files always give the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# ZipInfo's "made by" system is 0 (MS-DOS) on Windows and 3 (Unix) elsewhere (CPython
# Lib/zipfile: `if sys.platform == 'win32'`): fixed to Unix, the system whose permission bits
# external_attr carries, so a Windows checkout builds the same bytes as Linux and macOS.
_ZIP_CREATE_SYSTEM = 3
# rw-r--r-- in the Unix half of external_attr, whatever the file's mode on disk.
_ZIP_EXTERNAL_ATTR = 0o644 << 16
# Entries are stored, not deflated: deflate output differs between zlib builds (a laptop and
# CI), and the asset is hashed on the zip's bytes, so the same source would be re-uploaded.
# Stored bytes depend on the contents alone; the cost is small (function/: 48 KB stored,
# 19 KB deflated, measured 2026-12-01).
ZIP_COMPRESSION = zipfile.ZIP_STORED
# Part of the digest, so an archive-format change gets a new object name (and is uploaded as a
# new object) instead of replacing the bytes behind an existing name.
ARCHIVE_FORMAT = b"ai-service-archive/stored-v1"


@dataclass(frozen=True)
class SourceArchive:
    """A built archive: the object name carries the content hash, so a code change redeploys."""

    digest: str
    object_name: str
    path: Path
    files: tuple[str, ...]


def is_excluded(relative: Path) -> bool:
    """Whether a path (relative to the function directory) stays out of the archive."""
    for part in relative.parts[:-1]:
        if part in EXCLUDED_DIRECTORIES or part.startswith(".") or part.endswith(".egg-info"):
            return True
    name = relative.name
    return (
        name.startswith(".")
        or name in EXCLUDED_FILE_NAMES
        or name.endswith(EXCLUDED_SUFFIXES)
        or name.endswith("_test.py")
        or (name.startswith(EXCLUDED_FILE_PREFIXES) and name.endswith(".py"))
    )


def source_files(source: Path) -> tuple[str, ...]:
    """The archive's members: POSIX paths relative to `source`, sorted."""
    if not (source / "main.py").is_file():
        raise FileNotFoundError(f"function source {source} has no main.py")
    found: list[str] = []
    for directory, subdirectories, files in os.walk(source):
        base = Path(directory).relative_to(source)
        # Prune excluded directories so their (possibly huge) contents are never walked.
        subdirectories[:] = sorted(
            name for name in subdirectories if not is_excluded(base / name / "placeholder")
        )
        found.extend((base / name).as_posix() for name in files if not is_excluded(base / name))
    return tuple(sorted(found))


def source_digest(source: Path) -> str:
    """SHA-256 over the archive format and every member's path and content."""
    digest = hashlib.sha256(ARCHIVE_FORMAT + b"\0")
    for name in source_files(source):
        content = (source / name).read_bytes()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(len(content).to_bytes(8, "big"))
        digest.update(content)
    return digest.hexdigest()


def archive_bytes(source: Path) -> bytes:
    """A reproducible zip of the members: sorted, stored, fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=ZIP_COMPRESSION) as archive:
        for name in source_files(source):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.create_system = _ZIP_CREATE_SYSTEM
            info.compress_type = ZIP_COMPRESSION
            info.external_attr = _ZIP_EXTERNAL_ATTR
            archive.writestr(info, (source / name).read_bytes())
    return buffer.getvalue()


def object_name(digest: str) -> str:
    return f"{FUNCTION_NAME}-{digest[:16]}.zip"


def build_archive(
    source: Path = FUNCTION_SOURCE, output_directory: Path = ARCHIVE_DIRECTORY
) -> SourceArchive:
    """Writes `<function>-<sha256[:16]>.zip` into `output_directory` (atomically) and describes it."""
    digest = source_digest(source)
    name = object_name(digest)
    try:
        path = _write_archive(source, output_directory, name)
    except OSError:
        # A read-only checkout (or no room under build/): the file only has to outlive the
        # upload, and its name is still the content hash, so a temporary directory will do.
        path = _write_archive(source, Path(tempfile.gettempdir()) / FALLBACK_DIRECTORY, name)
    return SourceArchive(digest=digest, object_name=name, path=path, files=source_files(source))


def _write_archive(source: Path, output_directory: Path, name: str) -> Path:
    output_directory.mkdir(parents=True, exist_ok=True)
    path = output_directory / name
    content = archive_bytes(source)
    # Rewritten unless identical: a file left by another build of this code must not be
    # uploaded in place of these bytes.
    if not path.is_file() or path.read_bytes() != content:
        temporary = output_directory / f".{name}.{os.getpid()}.tmp"
        temporary.write_bytes(content)
        temporary.replace(path)
    return path
