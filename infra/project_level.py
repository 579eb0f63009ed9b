"""What only a human deploys: the stack's project-level IAM. CI checks its plan against it first.

The CI deployer holds no roles/resourcemanager.projectIamAdmin (docs/ci.md): the build account's two
project grants and the Data Access audit config are made by a human's `make deploy`. A change that
touches one of them would fail half-way through CI's `pulumi up` on "setIamPolicy denied"; CI runs
`pulumi preview --json` first and stops here, before anything changes, naming what and who.

Usage: pulumi preview --json ... > preview.json && python -m infra.project_level preview.json
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# Every resource type that sets the project's own IAM policy (bindings or audit configs).
PROJECT_LEVEL_TYPES = frozenset(
    {
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
        "gcp:projects/iAMAuditConfig:IAMAuditConfig",
    }
)
# Steps that change nothing in the cloud (pulumi pkg/resource/deploy/step.go StepOp values);
# any other op, one unknown to this list included, counts as a change.
UNCHANGED_OPS = frozenset({"same", "read", "refresh"})

REMEDY = (
    'CI may not change the project\'s IAM policy (docs/ci.md "What CI may not do"). A human with '
    "roles/resourcemanager.projectIamAdmin runs `make deploy STACK=<stack>` from this commit; "
    "then re-run this workflow, which finds nothing left to change there."
)


def resource_type(urn: str) -> str:
    """The type of a URN, urn:pulumi:STACK::PROJECT::[PARENT$]TYPE::NAME."""
    parts = urn.split("::")
    if len(parts) < 4:
        raise ValueError(f"not a resource URN: {urn!r}")
    return parts[2].split("$")[-1]


def project_level_changes(steps: Iterable[Mapping[str, Any]]) -> list[str]:
    """'op urn' of each step that would change a project-level resource."""
    return [
        f"{step.get('op')} {step['urn']}"
        for step in steps
        if resource_type(str(step["urn"])) in PROJECT_LEVEL_TYPES
        and step.get("op") not in UNCHANGED_OPS
    ]


def check(preview: Mapping[str, Any]) -> list[str]:
    """The project-level changes in `pulumi preview --json` output (its "steps")."""
    steps = preview.get("steps") or []
    if not isinstance(steps, list):
        raise ValueError("the preview's steps are not a list: is this `pulumi preview --json`?")
    return project_level_changes(steps)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 1:
        sys.stderr.write("usage: python -m infra.project_level PREVIEW_JSON\n")
        return 2
    try:
        preview = json.loads(Path(arguments[0]).read_text("utf-8"))
        changes = check(preview)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        sys.stderr.write(f"error: cannot read the preview {arguments[0]}: {error}\n")
        return 2
    if changes:
        listed = "".join(f"\n  - {change}" for change in changes)
        sys.stderr.write(f"error: this deploy would change project-level IAM:{listed}\n{REMEDY}\n")
        return 1
    sys.stdout.write("project-level IAM: unchanged; CI may deploy\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
