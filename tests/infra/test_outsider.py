"""The program runs the way Pulumi runs it (Pulumi.yaml `main: infra/`): a fresh interpreter working
in infra/, nothing on PYTHONPATH, so `infra` and `labeling` resolve only through the package that
`make install` installs; in `up` and in `preview` (where every computed name is unknown)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.infra.harness import REPOSITORY

OUTSIDER = Path(__file__).with_name("outsider.py")


def test_the_program_runs_from_infra_through_the_installed_package_in_up_and_preview() -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTHONPATH", "PULUMI_CONFIG")
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import runpy; runpy.run_path({str(OUTSIDER)!r}, run_name='__main__')",
        ],
        cwd=REPOSITORY / "infra",
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout)
    assert Path(report["infra"]) == REPOSITORY / "infra" / "__init__.py"
    assert Path(report["labeling"]) == REPOSITORY / "function" / "labeling" / "__init__.py"
    assert "gcp:cloudfunctionsv2/function:Function" in report["up"]["types"]
    assert report["preview"] == report["up"], "preview registers something else than up"
