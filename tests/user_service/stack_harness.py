"""Runs the User-Service's Pulumi program (user_service/stack) under the infra tests' recording mocks,
with the AI-Service stack's outputs answered for its StackReference."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi.runtime import mocks as pulumi_mocks

from tests.infra.harness import PROJECT_ID, CloudMocks, ProgramRun, run_pulumi_program

PROGRAM = Path(__file__).resolve().parents[2] / "user_service" / "stack" / "__main__.py"
PULUMI_PROJECT = "user-service"
AI_PROJECT = "bike-share-ai"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
AI_OUTPUTS = {
    "project": AI_PROJECT,
    "region": "us-central1",
    "imagesBucket": f"{AI_PROJECT}-ai-service-images",
    "newImageTopic": "user-service-new-image",
    "labeledTopic": "ai-service-image-labeled",
}
DEFAULT_CONFIG = {"aiServiceStack": "organization/ai-service/dev"}


class UserServiceMocks(CloudMocks):
    """CloudMocks, plus the AI-Service stack's outputs and Firestore's database id."""

    def __init__(self, ai_outputs: Mapping[str, Any] = AI_OUTPUTS) -> None:
        super().__init__()
        self.ai_outputs = dict(ai_outputs)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == STACK_REFERENCE:
            return args.name, {**args.inputs, "outputs": self.ai_outputs}
        if args.typ == "gcp:firestore/database:Database":
            project = args.inputs.get("project") or PROJECT_ID
            resource_id = f"projects/{project}/databases/{args.inputs['name']}"
            return resource_id, {**args.inputs, "uid": "1"}
        return super().new_resource(args)


def run_user_service(
    config: Mapping[str, str] | None = None,
    *,
    project: str | None = PROJECT_ID,
    preview: bool = False,
    mocks: UserServiceMocks | None = None,
) -> ProgramRun:
    """Runs user_service/stack/__main__.py once under fresh mocks (`config`: user-service:* keys)."""
    values: dict[str, str] = {}
    if project is not None:
        values["gcp:project"] = project
    values.update(
        {
            f"{PULUMI_PROJECT}:{key}": value
            for key, value in {**DEFAULT_CONFIG, **(config or {})}.items()
        }
    )
    return run_pulumi_program(
        PROGRAM, PULUMI_PROJECT, values, mocks=mocks or UserServiceMocks(), preview=preview
    )
