"""Source hash: a code change renames the archive (and so redeploys); noise does not."""

from __future__ import annotations

import shutil
import sys
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from infra.source_archive import (
    FALLBACK_DIRECTORY,
    archive_bytes,
    build_archive,
    object_name,
    source_digest,
    source_files,
)
from tests.infra.harness import REPOSITORY, ProgramRun

FUNCTION_FILES = {
    "main.py": "def label_image(event):\n    return None\n",
    "requirements.txt": "functions-framework==3.10.2\n",
    "labeling/__init__.py": "",
    "labeling/core.py": "VALUE = 1\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small function source tree."""
    root = tmp_path / "function"
    for name, content in FUNCTION_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_changing_a_shipped_file_changes_the_hash(tree: Path) -> None:
    before = source_digest(tree)
    (tree / "labeling" / "core.py").write_text("VALUE = 2\n")
    assert source_digest(tree) != before


def test_adding_or_renaming_a_module_changes_the_hash(tree: Path) -> None:
    before = source_digest(tree)
    (tree / "labeling" / "core.py").rename(tree / "labeling" / "engine.py")
    renamed = source_digest(tree)
    (tree / "labeling" / "extra.py").write_text("")
    assert len({before, renamed, source_digest(tree)}) == 3


@pytest.mark.parametrize(
    "noise",
    [
        "tests/test_main.py",
        "labeling/tests/test_core.py",
        "test_local.py",
        "labeling/core_test.py",
        "conftest.py",
        "__pycache__/main.cpython-312.pyc",
        "labeling/__pycache__/core.cpython-312.pyc",
        "labeling/core.pyc",
        ".venv/lib/site.py",
        "venv/bin/python",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.12/main.json",
        ".ruff_cache/content",
        ".hypothesis/examples/x",
        ".env",
        "old-build.zip",
    ],
)
def test_excluded_files_do_not_change_the_hash_or_ship(tree: Path, noise: str) -> None:
    before = source_digest(tree)
    path = tree / noise
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("noise")
    assert source_digest(tree) == before
    assert noise not in source_files(tree)


def test_the_hash_ignores_where_the_tree_lives_and_timestamps(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(tree, copy)
    (copy / "main.py").touch()
    assert source_digest(copy) == source_digest(tree)
    assert archive_bytes(copy) == archive_bytes(tree), "the zip must be reproducible"


def test_the_zip_is_the_same_bytes_on_windows_and_elsewhere(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zipfile records the OS it runs on (create_system 0 on Windows, 3 elsewhere)."""
    (tree / "labeling" / "core.py").chmod(0o755)  # on-disk modes must not leak in either
    here = archive_bytes(tree)
    monkeypatch.setattr(sys, "platform", "win32")  # what zipfile.ZipInfo() consults
    assert zipfile.ZipInfo("x").create_system == 0, "the patch no longer reaches zipfile"
    on_windows = archive_bytes(tree)
    monkeypatch.undo()
    assert on_windows == here
    for info in zipfile.ZipFile(BytesIO(here)).infolist():
        assert (info.create_system, info.external_attr) == (3, 0o644 << 16), info.filename
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert (info.extra, info.comment, info.internal_attr) == (b"", b"", 0), info.filename


def test_archive_holds_exactly_the_shipped_files(tree: Path) -> None:
    (tree / "tests").mkdir()
    (tree / "tests" / "test_x.py").write_text("")
    with zipfile.ZipFile(BytesIO(archive_bytes(tree))) as archive:
        assert sorted(archive.namelist()) == [
            "labeling/__init__.py",
            "labeling/core.py",
            "main.py",
            "requirements.txt",
        ]


def test_object_name_carries_the_content_hash(tree: Path, tmp_path: Path) -> None:
    built = build_archive(tree, tmp_path / "out")
    assert built.object_name == object_name(built.digest)
    assert built.object_name == f"ai-service-image-labeling-{built.digest[:16]}.zip"
    assert built.path.read_bytes() == archive_bytes(tree)


def test_a_tree_without_main_py_is_refused(tree: Path) -> None:
    (tree / "main.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"main\.py"):
        source_digest(tree)


def test_the_program_ships_this_checkout_s_function_directory_named_after_its_hash(
    default_run: ProgramRun,
) -> None:
    """With the unit tests above (a code change changes the hash), a code change redeploys."""
    source_object = default_run.one("gcp:storage/bucketObject:BucketObject")
    assert source_object.inputs["name"] == object_name(source_digest(REPOSITORY / "function"))
    assert (REPOSITORY / "build" / "function-archives" / source_object.inputs["name"]).is_file()


def test_the_real_function_directory_packages_cleanly() -> None:
    files = source_files(REPOSITORY / "function")
    assert "main.py" in files
    assert "requirements.txt" in files
    assert any(name.startswith("labeling/") for name in files)
    assert not [name for name in files if "test" in name.split("/")[0] or "__pycache__" in name]


def test_uploaded_bytes_depend_on_the_contents_alone_not_on_zlib(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A laptop and CI with different zlib builds deflate the same files to different bytes; the
    # asset is hashed on the bytes, so only an archive that never deflates is the same on both.
    expected = archive_bytes(tree)

    def another_zlib(*args: object, **kwargs: object) -> object:
        raise AssertionError("the archive must not depend on zlib's deflate output")

    monkeypatch.setattr(zipfile.zlib, "compressobj", another_zlib)  # type: ignore[attr-defined]
    assert archive_bytes(tree) == expected
    with zipfile.ZipFile(BytesIO(expected)) as archive:
        for info in archive.infolist():
            assert info.compress_type == zipfile.ZIP_STORED, info.filename
            assert archive.read(info) == (tree / info.filename).read_bytes(), info.filename


def test_a_stale_archive_under_the_same_name_is_replaced(tree: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    stale = output / object_name(source_digest(tree))
    stale.write_bytes(b"written by another build of the same code")
    built = build_archive(tree, output)
    assert built.path == stale
    assert built.path.read_bytes() == archive_bytes(tree)


def test_an_unwritable_output_directory_falls_back_to_a_temporary_one(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only checkout still deploys: the archive only has to outlive the upload."""
    blocked = tmp_path / "build"
    blocked.write_text("a file where the build directory would go")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    built = build_archive(tree, blocked / "function-archives")

    assert built.path == tmp_path / "tmp" / FALLBACK_DIRECTORY / built.object_name
    assert built.path.read_bytes() == archive_bytes(tree)
