"""Fixtures for the infra tests: a small function source tree and one shared default run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import settings as infra_settings
from tests.infra.harness import ProgramRun, run_program

# Read by infra/__main__.py only (see there).
FUNCTION_SOURCE_VARIABLE = "AI_SERVICE_FUNCTION_SOURCE"
ARCHIVE_DIRECTORY_VARIABLE = "AI_SERVICE_ARCHIVE_DIRECTORY"

FUNCTION_FILES = {
    "main.py": "def label_image(event):\n    return None\n",
    "requirements.txt": "functions-framework==3.10.2\n",
    "labeling/__init__.py": "",
    "labeling/core.py": "VALUE = 1\n",
}


def write_function_tree(root: Path) -> Path:
    for name, content in FUNCTION_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture(scope="session")
def function_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_function_tree(tmp_path_factory.mktemp("function"))


@pytest.fixture(scope="session", autouse=True)
def isolated_sources(
    tmp_path_factory: pytest.TempPathFactory, function_tree: Path
) -> Iterator[None]:
    """The program zips a small fixed tree into a temporary directory, never into the repo.

    infra/__main__.py reads these two variables (and nothing else does); settings' defaults are
    patched too for tests that call load_settings directly.
    """
    archives = tmp_path_factory.mktemp("archives")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FUNCTION_SOURCE_VARIABLE, str(function_tree))
        patch.setenv(ARCHIVE_DIRECTORY_VARIABLE, str(archives))
        patch.setattr(infra_settings, "DEFAULT_FUNCTION_SOURCE", function_tree)
        patch.setattr(infra_settings, "DEFAULT_ARCHIVE_DIRECTORY", archives)
        yield


@pytest.fixture(scope="session")
def default_run(isolated_sources: None) -> ProgramRun:
    """The program with every default (only gcp:project set), run once for the session."""
    return run_program()
