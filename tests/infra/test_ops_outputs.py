"""The stack outputs `make smoke` and `make redrive` read (ops/smoke.py, ops/redrive.py) are exported."""

from __future__ import annotations

from ops import redrive, smoke
from tests.infra.harness import ProgramRun


def test_the_outputs_make_smoke_and_make_redrive_read_are_exported(default_run: ProgramRun) -> None:
    read = {*smoke.OUTPUT_NAMES.values(), *redrive.OUTPUT_NAMES.values()}
    assert read - set(default_run.outputs) == set()
