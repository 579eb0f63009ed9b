"""Reads the repository's locks (uv pip compile --generate-hashes output) and the Makefile's lists.

A lock entry is a line `name==version[ ; marker] \\`, its `--hash=sha256:...` lines and its `# via`
annotations; `-r X.in` among those marks a direct requirement of that .in file.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPOSITORY = Path(__file__).resolve().parents[2]
MAKEFILE = REPOSITORY / "Makefile"
_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?: ; (?P<marker>[^\\]+?))?\s*\\?$"
)
_HASH = re.compile(r"^\s+--hash=sha256:(?P<digest>[0-9a-f]{64})\s*\\?$")
_VIA = re.compile(r"^\s+# via(?: (?P<single>.+)|\s*)$")
_VIA_CONTINUED = re.compile(r"^\s+#\s{3}(?P<source>\S.*)$")


@dataclass
class Locked:
    name: str  # canonical (PEP 503)
    version: str
    marker: str | None
    hashes: list[str]
    via: list[str]

    def applies_here(self) -> bool:
        """Whether this interpreter and platform install it (its environment marker)."""
        return self.marker is None or Marker(self.marker).evaluate()


class LockError(ValueError):
    pass


def read_lock(path: Path) -> dict[str, Locked]:
    """name -> entry; any line that is neither an entry, a hash, a via line nor a comment is refused."""
    entries: dict[str, Locked] = {}
    current: Locked | None = None
    in_via = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        if entry := _ENTRY.match(line):
            name = canonicalize_name(entry["name"])
            if name in entries:
                raise LockError(f"{path}:{number}: {name} is locked twice")
            current = Locked(name, entry["version"], entry["marker"], [], [])
            entries[name] = current
            in_via = False
        elif current is not None and (digest := _HASH.match(line)):
            current.hashes.append(digest["digest"])
        elif current is not None and (via := _VIA.match(line)):
            in_via = via["single"] is None
            if via["single"]:
                current.via.append(via["single"].strip())
        elif current is not None and in_via and (source := _VIA_CONTINUED.match(line)):
            current.via.append(source["source"].strip())
        elif line.startswith("#"):
            continue
        else:
            raise LockError(f"{path}:{number}: not a pinned, hashed entry: {line!r}")
    return entries


def input_file(lock: Path) -> Path:
    """function/requirements.txt -> function/requirements.in (what `make lock` compiles it from)."""
    return lock.with_suffix(".in")


def direct_requirements(requirements: Path) -> dict[str, Requirement]:
    """The requirements a .in (or tools) file names itself; -r/-c lines and options are not followed."""
    found: dict[str, Requirement] = {}
    for line in requirements.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        requirement = Requirement(text)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def makefile_value(variable: str) -> str:
    """The value of the Makefile's `VARIABLE := value` line."""
    match = re.search(rf"^{variable} := (.+)$", MAKEFILE.read_text(), re.MULTILINE)
    if match is None:
        raise LockError(f"the Makefile has no {variable} := line")
    return match.group(1).strip()


def makefile_list(variable: str) -> list[Path]:
    """The files a `VARIABLE := a b c` line of the Makefile names, as paths in the repository."""
    return [REPOSITORY / name for name in makefile_value(variable).split()]


def installed_versions(python: Path) -> dict[str, str]:
    """Every distribution installed for that interpreter: canonical name -> version."""
    script = (
        "import importlib.metadata, json; print(json.dumps("
        "[[d.metadata['Name'], d.version] for d in importlib.metadata.distributions()]))"
    )
    completed = subprocess.run(
        [str(python), "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return {canonicalize_name(name): version for name, version in json.loads(completed.stdout)}
