"""The infra tests' shared run: the real program (zipping the real function/) with every default."""

from __future__ import annotations

import pytest

from tests.infra.harness import ProgramRun, run_program


@pytest.fixture(scope="session")
def default_run() -> ProgramRun:
    """The program with every default (only gcp:project set), run once for the session."""
    return run_program()
