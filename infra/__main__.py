"""The AI-Service stack. Reads config once, validates it, declares everything, exports outputs."""

import os
from pathlib import Path

import pulumi

from infra.composition import build_stack
from infra.settings import CONFIG_KEYS, CONFIG_NAMESPACE, SettingsError, load_settings

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent

# Tests point the program at a fixture tree and a scratch directory with these; unset (always, in
# `pulumi up`), the source is this checkout's function/ and archives go to its build/.
FUNCTION_SOURCE_VARIABLE = "AI_SERVICE_FUNCTION_SOURCE"
ARCHIVE_DIRECTORY_VARIABLE = "AI_SERVICE_ARCHIVE_DIRECTORY"


def _text(value: object) -> str | None:
    """Config as text: a suite may pass YAML/JSON booleans and numbers (True, 5, 0.5) as they are."""
    return None if value is None else str(value)


_gcp = pulumi.Config("gcp")
_own = pulumi.Config(CONFIG_NAMESPACE)

try:
    settings = load_settings(
        project=_text(_gcp.get("project")),
        region=_text(_gcp.get("region")),
        values={key: _text(_own.get(key)) for key in CONFIG_KEYS},
        stack=pulumi.get_stack(),
        function_source=Path(
            os.environ.get(FUNCTION_SOURCE_VARIABLE) or REPOSITORY_ROOT / "function"
        ),
        archive_directory=Path(
            os.environ.get(ARCHIVE_DIRECTORY_VARIABLE)
            or REPOSITORY_ROOT / "build" / "function-archives"
        ),
    )
except SettingsError as error:
    # A RunError prints just the message (no traceback) in `pulumi up` / `preview`.
    raise pulumi.RunError(f"invalid stack configuration: {error}") from error

for output_name, value in build_stack(settings).items():
    pulumi.export(output_name, value)
