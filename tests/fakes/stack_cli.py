"""A stand-in `pulumi` CLI that answers `stack output --json`, and `make TARGET` run against it.

The ops targets (make smoke, make redrive) read a deployed stack's outputs through the Pulumi CLI;
their tests run the real Makefile with this stand-in, the test's own interpreter, and no venv build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.supply.lockfile import read_lock

ROOT = Path(__file__).resolve().parents[2]
# What a stand-in `pulumi version` prints: the release of the locked SDK (Pulumi versions the CLI with
# it), so the Makefile's minimum-version check passes.
PULUMI_VERSION = "v" + read_lock(ROOT / "infra" / "requirements.txt")["pulumi"].version


@dataclass(frozen=True)
class MakeRun:
    returncode: int
    output: str  # stdout and stderr
    pulumi_calls: str  # one line of arguments per call of the stand-in


def run_stack_target(
    target: str,
    outputs: Mapping[str, str],
    tmp_path: Path,
    variables: Mapping[str, str],
    timeout: float,
) -> MakeRun:
    """`make TARGET STACK=qa ...` with a `pulumi` whose `stack output --json` prints `outputs`."""
    calls = tmp_path / "pulumi-calls"
    calls.touch()
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{calls}"\n'
        f"if [ \"$1 $2\" = 'stack output' ]; then echo '{json.dumps(dict(outputs))}'; fi\n"
        f'if [ "$1" = version ]; then echo {PULUMI_VERSION}; fi\n'
    )
    pulumi.chmod(0o755)
    # -o: never (re)build the virtualenv here; BIN: run the tool with this test's interpreter.
    completed = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed",
            target,
            "STACK=qa",
            f"BIN={Path(sys.executable).parent}",
            f"PULUMI={pulumi}",
            f"BACKEND=file://{tmp_path}/state",
            *(f"{name}={value}" for name, value in variables.items()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return MakeRun(completed.returncode, completed.stdout + completed.stderr, calls.read_text())
