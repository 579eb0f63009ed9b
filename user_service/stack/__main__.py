"""The User-Service stack. Reads config once, reads the AI-Service stack's outputs, declares everything."""

import os
from pathlib import Path

import pulumi

from user_service.stack.composition import AiServiceOutputs, build_stack
from user_service.stack.settings import (
    CONFIG_KEYS,
    CONFIG_NAMESPACE,
    DEFAULT_ARCHIVE_DIRECTORY,
    DEFAULT_FUNCTION_SOURCE,
    SettingsError,
    load_settings,
)

# Tests point the archive at a scratch directory with this; unset in `pulumi up`.
ARCHIVE_DIRECTORY_VARIABLE = "USER_SERVICE_ARCHIVE_DIRECTORY"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


_gcp = pulumi.Config("gcp")
_own = pulumi.Config(CONFIG_NAMESPACE)
try:
    settings = load_settings(
        _text(_gcp.get("project")),
        _text(_gcp.get("region")),
        {key: _text(_own.get(key)) for key in CONFIG_KEYS},
        stack=pulumi.get_stack(),
        function_source=DEFAULT_FUNCTION_SOURCE,
        archive_directory=Path(
            os.environ.get(ARCHIVE_DIRECTORY_VARIABLE) or DEFAULT_ARCHIVE_DIRECTORY
        ),
    )
except SettingsError as error:
    raise pulumi.RunError(f"invalid stack configuration: {error}") from error

# Why: the contract between the two teams as code: the topics and the bucket come from the
# AI-Service stack's outputs, never from copied names.
ai_service = pulumi.StackReference(settings.ai_service_stack)
for output_name, value in build_stack(settings, AiServiceOutputs.read(ai_service)).items():
    pulumi.export(output_name, value)
