"""`make help` lists every command the Makefile documents, and a bare `make` does only that (issue 10):
a newcomer typing `make` must not start the several-minute suite by surprise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = (ROOT / "Makefile").read_text()
DOCUMENTED = re.compile(r"^## ([A-Za-z0-9_.-]+): (.+)$", re.MULTILINE)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAKE")}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def listed(output: str) -> dict[str, str]:
    """`  name   text` lines of `make help`, in order."""
    entries = {}
    for line in output.splitlines()[1:]:
        name, _, text = line.strip().partition(" ")
        entries[name] = text.strip()
    return entries


def test_make_help_lists_every_documented_command_with_its_text() -> None:
    shown = make("help")

    assert shown.returncode == 0, shown.stderr
    documented = dict(DOCUMENTED.findall(MAKEFILE))
    assert listed(shown.stdout) == documented
    assert {"help", "test", "deploy", "bench", "smoke"} <= set(documented)
    if re.search(r"^local:", MAKEFILE, re.MULTILINE):
        assert "local" in documented, "make local exists but make help does not list it"


def test_every_command_make_help_lists_is_a_real_target() -> None:
    for name in listed(make("help").stdout):
        dry_run = make("-n", name)
        assert dry_run.returncode == 0, (
            f"make help lists {name}, which make cannot run: {dry_run.stderr}"
        )


def test_a_bare_make_prints_the_help_and_runs_nothing_else() -> None:
    bare = make()
    dry_run = make("-n")

    assert bare.returncode == 0, bare.stderr
    assert bare.stdout == make("help").stdout
    for tool in ("pytest", "ruff", "mypy", "pip", "pulumi"):
        assert tool not in dry_run.stdout, f"a bare make would run {tool}:\n{dry_run.stdout}"
