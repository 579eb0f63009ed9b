"""Runs the program as `pulumi up` and `pulumi preview` would, and prints what it registered as JSON.

test_outsider.py starts it in a fresh interpreter whose working directory is infra/ (Pulumi.yaml's
`main`) and whose PYTHONPATH is empty, so `infra` and `labeling` can only come from the installed
package. The mocks are the infra tests' own: tests/ is no package this interpreter can import, so the
harness is loaded by its path.
"""

import json
import runpy
import sys
from pathlib import Path
from typing import Any

harness = runpy.run_path(str(Path(__file__).with_name("harness.py")))


def summary(preview: bool) -> dict[str, Any]:
    run = harness["run_program"](preview=preview)
    return {"types": sorted(item.type for item in run.custom()), "outputs": sorted(run.outputs)}


if __name__ == "__main__":
    import infra
    import labeling

    report = {
        "infra": infra.__file__,
        "labeling": labeling.__file__,
        "up": summary(preview=False),
        "preview": summary(preview=True),
    }
    json.dump(report, sys.stdout)
