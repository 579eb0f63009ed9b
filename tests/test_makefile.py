"""`make help` lists every command the Makefile documents, and a bare `make` does only that (issue 10):
a newcomer typing `make` must not start the several-minute suite by surprise."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fakes.stack_cli import PULUMI_VERSION

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


def test_every_help_text_is_one_whole_line() -> None:
    """`make help` prints the `## name: text` line only: a text continued on a second `##` line
    would be cut mid-sentence."""
    help_lines = [line for line in MAKEFILE.splitlines() if line.startswith("##")]
    assert [line for line in help_lines if not DOCUMENTED.fullmatch(line)] == []
    assert [line for line in help_lines if line.rstrip().endswith((":", ","))] == []


def fake_tools(directory: Path, gcloud_exit: int) -> list[str]:
    """A `pulumi` that answers every command, and a `gcloud` that exits `gcloud_exit`."""
    directory.mkdir()
    (directory / "pulumi").write_text(
        f'#!/bin/sh\n[ "$1" = version ] && echo {PULUMI_VERSION}\nexit 0\n'
    )
    (directory / "gcloud").write_text(f"#!/bin/sh\nexit {gcloud_exit}\n")
    for tool in ("pulumi", "gcloud"):
        (directory / tool).chmod(0o755)
    return [f"PULUMI={directory / 'pulumi'}", f"GCLOUD={directory / 'gcloud'}"]


@pytest.mark.parametrize(
    ("credentials", "gcloud_exit", "found"),
    [
        ("unset", 1, False),  # no variable, no well-known file, gcloud finds nothing
        ("unset", 0, True),  # gcloud finds some (a metadata server)
        ("unreadable", 0, False),  # the variable wins, even over gcloud: Google's libraries read it
        ("file", 1, True),
        ("well-known file", 1, True),
    ],
)
@pytest.mark.parametrize("target", ["deploy", "preview", "destroy"])
def test_deploy_preview_and_destroy_check_application_default_credentials_with_the_rest(
    tmp_path: Path, target: str, credentials: str, gcloud_exit: int, found: bool
) -> None:
    home = tmp_path / "home"
    (home / ".config" / "gcloud").mkdir(parents=True)
    credentials_file = tmp_path / "credentials.json"
    credentials_file.write_text("{}")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MAKE", "PULUMI_", "CLOUDSDK_", "GOOGLE_APPLICATION_CREDENTIALS"))
    }
    env["HOME"] = str(home)
    if credentials == "file":
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(credentials_file)
    elif credentials == "unreadable":
        env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "no-such-key.json")
    elif credentials == "well-known file":
        (home / ".config" / "gcloud" / "application_default_credentials.json").write_text("{}")
    tools = fake_tools(tmp_path / "bin", gcloud_exit)

    # No passphrase either: both are named at once, or only the passphrase.
    completed = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", target, *tools],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode != 0
    assert f"error: make {target} needs:" in completed.stderr
    assert "PULUMI_CONFIG_PASSPHRASE" in completed.stderr
    named = "application-default credentials: gcloud auth application-default login"
    assert (named in completed.stderr) is not found, completed.stderr
