"""The AI-Service stack. Reads config once, validates it, declares everything, exports outputs."""

import os
import sys
from pathlib import Path

PROGRAM_DIRECTORY = Path(__file__).resolve().parent
REPOSITORY_ROOT = PROGRAM_DIRECTORY.parent


def _import_siblings_from(directory: Path) -> None:
    """Makes `import settings` & co. load this checkout's modules, however the file is run.

    `pulumi up` puts infra/ on sys.path, but runpy.run_path / `python infra/__main__.py` from
    another cwd do not; and a sibling module cached by an earlier run from another checkout (same
    process) would otherwise shadow ours, so such stale entries are dropped.
    """
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    for path in directory.glob("*.py"):
        cached = sys.modules.get(path.stem)
        if cached is None or path.stem == "__main__":
            continue
        origin = getattr(cached, "__file__", None)
        if origin is None or Path(origin).resolve().parent != directory:
            del sys.modules[path.stem]


_import_siblings_from(PROGRAM_DIRECTORY)

import pulumi  # noqa: E402
from composition import build_stack  # noqa: E402
from settings import CONFIG_KEYS, CONFIG_NAMESPACE, SettingsError, load_settings  # noqa: E402

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
