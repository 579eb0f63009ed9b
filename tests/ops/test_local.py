"""`make local`: the seed scenario on the emulators and the real function, and nothing left running."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.cloud.storage import Client as StorageClient  # type: ignore[import-untyped]  # no py.typed

from ops import local
from ops.emulators import FIRESTORE_INSTALL_HINT, EmulatorError, emulator_environment
from ops.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "ops" / "samples"


def children_of(pid: int) -> dict[int, str]:
    """Every live descendant of pid (walking /proc), with its command line."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":  # exited, waiting to be reaped: not running
            continue
        parents[int(entry.name)] = int(fields[1])
        commands[int(entry.name)] = command
    found: dict[int, str] = {}
    pending = [pid]
    while pending:
        parent = pending.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = commands[child]
                pending.append(child)
    return found


def new_children(before: dict[int, str]) -> dict[int, str]:
    """This process's descendants that were not there `before` (the session's emulator was)."""
    return {pid: command for pid, command in children_of(os.getpid()).items() if pid not in before}


def alive(pids: Iterator[int] | list[int]) -> list[int]:
    living = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            living.append(pid)
    return living


def ports_in(output: str) -> set[int]:
    return {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", output)}


def assert_nothing_serves(ports: set[int]) -> None:
    assert len(ports) >= 4, f"expected the four addresses in the output, got {ports}"
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still serves {port}"
    leftovers = [
        command
        for pid, command in children_of(1).items()
        if any(re.search(rf"--port[= ]{port}\b", command) for port in ports)
    ]
    assert leftovers == []


def row(output: str, path: str) -> list[str]:
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 1 and cells[1] == path:
            return cells
    raise AssertionError(f"no table row for {path} in:\n{output}")


SEED_HEADER = ["id", "path", "state", "verdict", "top labels", "latency"]


def seed_rows(output: str) -> list[list[str]]:
    """The seed table's rows, in the manifest's order (bicycle, then house)."""
    lines = output.splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("id "))
    assert re.split(r"\s{2,}", lines[header].strip()) == SEED_HEADER, lines[header]
    rows = []
    for line in lines[header + 1 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if not re.fullmatch(r"[0-9a-f]{32}", cells[0]):
            break
        if len(cells) == len(SEED_HEADER) - 1:  # no top labels (none scored 0.5 or more)
            cells.insert(4, "")
        rows.append(cells)
    return rows


def assert_seed_passed(output: str) -> tuple[list[str], list[str]]:
    """Issue 18: the bicycle allowed and the house blocked, through the User-Service's API."""
    bicycle, house = seed_rows(output)
    for cells in (bicycle, house):
        assert cells[1] == f"uploads/{cells[0]}.png", "the service named the object"
        assert re.fullmatch(r"\d+ ms", cells[5]), cells
    assert bicycle[2:4] == ["accepted", "Allowed"]
    assert bicycle[4].startswith("Bicycle ")
    assert house[2:4] == ["blocked", "Blocked"]
    assert "Bicycle" not in house[4]
    assert "local PASS: 2/2 as expected (bicycle.png accepted, house.png blocked)" in output
    assert re.search(r"^upload screen: http://127\.0\.0\.1:\d+/$", output, re.MULTILINE)
    return bicycle, house


# Every kind of child make local starts (their command lines), the seven steps' parts.
CHILDREN = (
    "pubsub-emulator",
    "cloud_firestore_emulator",
    "gcp_storage_emulator",
    "functions_framework --target label_image",
    "user_service/function/main.py",
)


# -- the pass criterion ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_local_with_the_stand_in_answers_the_seed_correctly_and_leaves_nothing_running() -> (
    None
):
    completed = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.installed",
            "local",
            "VISION=stand-in",
            f"BIN={Path(sys.executable).parent}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert_seed_passed(output)
    assert "STAND-IN" in output
    assert "THREADS=80" in output
    assert "Google's Firestore emulator (real)" in output
    assert_nothing_serves(ports_in(output))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_local_by_default_runs_the_real_vision_emulator_and_answers_the_seed_correctly(
    tmp_path: Path,
) -> None:
    """Issue 10/13's pass criterion as a newcomer runs it: plain `make local`, the model's answers."""
    log = tmp_path / "local.log"
    seen: dict[int, str] = {}
    with log.open("wb") as sink:
        running = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "-o",
                ".venv/.installed",
                "local",
                f"BIN={Path(sys.executable).parent}",
            ],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 240
        while running.poll() is None:  # every process it starts, by pid, to check they all end
            seen.update(children_of(running.pid))
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()

    output = log.read_text()
    assert running.returncode == 0, output
    assert "local Vision emulator (python -m vision_emulator" in output
    assert "STAND-IN" not in output
    bicycle, _ = assert_seed_passed(output)
    assert bicycle[4].startswith("Bicycle 0.")
    commands = " ".join(seen.values())
    for part in (*CHILDREN, "vision_emulator"):
        assert part in commands, f"make local never started {part}"
    assert alive(list(seen)) == [], {pid: seen[pid] for pid in alive(list(seen))}
    assert_nothing_serves(ports_in(output))


@pytest.mark.slow
def test_the_seed_goes_through_the_user_service_and_only_the_allowed_photo_is_kept(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Steps 1 to 7 as stored: the service named the objects, the house was deleted when blocked."""
    before = children_of(os.getpid())
    stack = local.LocalStack(local.local_settings(), local.VISION_STAND_IN)
    try:
        stack.start()
        started = new_children(before)
        exit_code, journeys = local.run_seed(stack, timeout=60)
        with emulator_environment(pubsub=stack.pubsub_host, storage=stack.storage_url):
            storage = StorageClient(project=stack.project)
        stored = {
            blob.name: (blob.content_type, blob.download_as_bytes())
            for blob in storage.list_blobs(stack.bucket)
        }
    finally:
        stack.stop()

    assert exit_code == local.PASS, capsys.readouterr().out
    bicycle, house = journeys
    assert (bicycle.image.file.name, house.image.file.name) == ("bicycle.png", "house.png")
    assert (bicycle.state, house.state) == ("accepted", "blocked")
    assert sorted(stored) == [f"uploads/{bicycle.upload_id}.png"], "the blocked house is deleted"
    content_type, data = stored[f"uploads/{bicycle.upload_id}.png"]
    assert content_type == "image/png", "the type the screen declared, bound into the signed URL"
    assert data == (SAMPLES / "bicycle.png").read_bytes()
    commands = " ".join(started.values())
    for part in (*CHILDREN, "ops.vision_stand_in"):
        assert part in commands
    assert alive(list(started)) == [], "every process stack.start() began is gone after stop()"
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", stack.gateway_port)) != 0, "the gateway is closed"


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_mode_plays_with_your_own_image_and_stops_everything_on_a_signal(
    stop_signal: signal.Signals, tmp_path: Path
) -> None:
    environment = {**os.environ, local.STATE_VARIABLE: str(tmp_path / "stack.json")}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        serving = subprocess.Popen(
            [sys.executable, "-m", "ops.local", "--vision", "stand-in", "--serve"],
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops everything." not in log.read_text() and serving.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert serving.poll() is None, log.read_text()
        started = children_of(serving.pid)
        assert all(part in " ".join(started.values()) for part in CHILDREN), started
        [screen] = re.findall(r"Upload screen: (http://127\.0\.0\.1:\d+/)", log.read_text())
        page = requests.get(screen, timeout=10)
        assert page.status_code == 200
        assert "Add a photo of your bike" in page.text
        if stop_signal == signal.SIGINT:
            mine = tmp_path / "my bike.png"  # a name the printed command must quote
            shutil.copy(SAMPLES / "bicycle.png", mine)
            commands = [["upload", str(mine)], ["publish", "3", "my bike.png"]]
            outputs = [
                subprocess.run(
                    [sys.executable, "-m", "ops.local", *command],
                    cwd=ROOT,
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                for command in commands
            ]
            assert [completed.returncode for completed in outputs] == [0, 0], outputs
            assert "gs://ai-service-local-ai-service-images/my bike.png (image/png)" in (
                outputs[0].stdout
            )
            assert f"now: {local.python_command()} -m ops.local publish <id> 'my bike.png'" in (
                outputs[0].stdout
            )
            assert row(outputs[1].stdout, "my bike.png")[:4] == [
                "3",
                "my bike.png",
                "labeled",
                "accepted",
            ]
        serving.send_signal(stop_signal)
        returncode = serving.wait(timeout=60)
    finally:
        if serving.poll() is None:
            serving.kill()
            serving.wait()

    output = log.read_text()
    assert returncode == 128 + stop_signal, output  # as a shell reports a stop by that signal
    assert "stopped:" in output
    assert alive(list(started)) == [], {pid: started[pid] for pid in alive(list(started))}
    assert not (tmp_path / "stack.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "delay"),
    [
        ("make local:", 0.0),
        ("pubsub-emulator", 0.0),
        ("pubsub-emulator", 0.4),
        ("cloud_firestore_emulator", 0.3),
        ("gcp_storage", 0.8),
        ("user_service/function/main.py", 0.5),
    ],
)
def test_a_ctrl_c_during_start_up_stops_every_child_already_begun(
    moment: str, delay: float, tmp_path: Path
) -> None:
    """Issue 10: nothing is left on Ctrl-C, even mid start-up (the Pub/Sub emulator's java was)."""
    log = tmp_path / "local.log"
    seen: dict[int, str] = {}
    with log.open("wb") as sink:
        starting = subprocess.Popen(
            [sys.executable, "-m", "ops.local", "--vision", "stand-in"],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        # The signal goes `delay` s after `moment` (the banner, or a child's command line seen),
        # while the emulator is still starting (1-15 s). Every descendant seen before is recorded
        # by pid: children run in sessions of their own, so an orphan would be adopted by PID 1
        # and vanish from this tree, not from /proc.
        deadline = time.monotonic() + 60
        while starting.poll() is None:
            seen.update(children_of(starting.pid))
            if moment in log.read_text() or moment in " ".join(seen.values()):
                break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        interrupt_at = time.monotonic() + delay
        while time.monotonic() < interrupt_at and starting.poll() is None:
            seen.update(children_of(starting.pid))
            time.sleep(0.02)
        assert starting.poll() is None, log.read_text()
        seen.update(children_of(starting.pid))
        starting.send_signal(signal.SIGINT)
        returncode = starting.wait(timeout=60)
    finally:
        if starting.poll() is None:
            starting.kill()
            starting.wait()

    output = log.read_text()
    assert returncode == 128 + signal.SIGINT, output
    assert "started in" not in output, "interrupted during the start-up"
    assert seen or moment == "make local:", "the start-up had begun some child by then"
    assert alive(list(seen)) == [], {pid: seen[pid] for pid in alive(list(seen))}


# -- bad input: one line, exit 2 ---------------------------------------------------------------


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_without_the_vision_emulator_the_default_says_how_to_run_with_the_stand_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(local, "vision_emulator_installed", lambda: False)
    before = children_of(os.getpid())

    assert local.main([]) == local.USAGE_ERROR
    line = error_line(capsys)
    assert line.startswith("local ERROR: the local Vision emulator")
    assert "--vision stand-in" in line
    assert "make local VISION=stand-in" in line
    assert "make install" in line
    assert new_children(before) == {}, "nothing was started"


def test_no_pubsub_emulator_installed_is_a_usage_error_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no gcloud

    assert local.main(["--vision", "stand-in"]) == local.USAGE_ERROR
    line = error_line(capsys)
    assert "gcloud is not on PATH" in line
    assert "google-cloud-cli-pubsub-emulator" in line


def test_no_firestore_emulator_installed_is_a_usage_error_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(_host: str, _port: int) -> list[str]:
        raise EmulatorError(f"no cloud-firestore-emulator component. {FIRESTORE_INSTALL_HINT}")

    monkeypatch.setattr(local, "firestore_emulator_command", missing)
    before = children_of(os.getpid())

    assert local.main(["--vision", "stand-in"]) == local.USAGE_ERROR
    line = error_line(capsys)
    assert "google-cloud-cli-firestore-emulator" in line
    assert new_children(before) == {}, "nothing was started"


@pytest.mark.slow
def test_a_vision_that_does_not_start_stops_everything_else_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(local.VISION_MODULES, local.VISION_STAND_IN, "tests.ops.failing_vision")
    before = children_of(os.getpid())

    assert local.main(["--vision", "stand-in"]) == local.USAGE_ERROR
    line = error_line(capsys)
    assert "Vision stand-in exited with status 2 before serving" in line
    assert "model file not found" in line
    assert new_children(before) == {}, "the emulators and the function were stopped"


@pytest.mark.parametrize(
    ("assignment", "found"),
    [
        ("visionFeatures", "--config takes KEY=VALUE"),
        ("nope=1", "unknown config keys ['nope']"),
        ("minScore=2", "ai-service:minScore must be"),
    ],
)
def test_a_wrong_config_setting_is_a_usage_error_before_anything_starts(
    assignment: str, found: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = children_of(os.getpid())
    assert local.main(["--vision", "stand-in", "--config", assignment]) == local.USAGE_ERROR
    assert found in error_line(capsys)
    assert new_children(before) == {}


def test_config_settings_reach_what_the_stack_deploys() -> None:
    settings = local.config_settings(
        ["visionFeatures=LABEL_DETECTION,OBJECT_LOCALIZATION", "functionConcurrency=4"]
    )
    environment = local.function_environment(settings, "127.0.0.1:1", "127.0.0.1:2")
    assert environment["VISION_FEATURES"] == "LABEL_DETECTION,OBJECT_LOCALIZATION"
    assert environment["THREADS"] == "4"


def test_uploading_a_missing_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert local.main(["upload", str(tmp_path / "nope.jpg")]) == local.USAGE_ERROR
    assert error_line(capsys) == f"local ERROR: image not found: {tmp_path / 'nope.jpg'}"


def test_uploading_a_folder_says_it_is_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert local.main(["upload", str(tmp_path)]) == local.USAGE_ERROR
    assert error_line(capsys) == f"local ERROR: {tmp_path} is a folder: give one image file"


def test_publish_help_describes_every_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        local.main(["publish", "--help"])

    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for argument in ("id", "path", "--timeout"):
        [line] = [line for line in shown.splitlines() if line.strip().startswith(argument)]
        assert len(line.split()) > 1 + (argument == "--timeout"), f"{argument} has no description"


def test_publishing_without_a_serving_stack_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(local.STATE_VARIABLE, str(tmp_path / "none.json"))

    assert local.main(["publish", "3", "bike.jpg"]) == local.USAGE_ERROR
    assert "start one with `make local SERVE=1`" in error_line(capsys)


def write_state(path: Path, **changes: object) -> None:
    state = {
        "pid": os.getpid(),  # alive, as a SIGKILLed run's pid may be (reused) or not
        "project": local.LOCAL_PROJECT,
        "bucket": "ai-service-local-ai-service-images",
        "pubsub_host": f"127.0.0.1:{free_port()}",  # nothing listens
        "storage_url": f"http://127.0.0.1:{free_port()}",
        "new_image_topic": "user-service-new-image",
        "results_subscription": "user-service-image-labeled",
        **changes,
    }
    path.write_text(json.dumps({k: v for k, v in state.items() if v is not None}))


@pytest.mark.parametrize(
    "command", [["publish", "3", "bike.jpg", "--timeout", "60"], ["upload", "IMAGE"]]
)
def test_a_stale_state_file_is_one_line_and_exit_2_at_once(
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A SERVE run killed with SIGKILL leaves its state behind: say so, never wait on dead ports."""
    state = tmp_path / "stack.json"
    write_state(state)
    monkeypatch.setenv(local.STATE_VARIABLE, str(state))
    image = SAMPLES / "bicycle.png"
    started = time.monotonic()

    exit_code = local.main([str(image) if part == "IMAGE" else part for part in command])

    assert exit_code == local.USAGE_ERROR
    line = error_line(capsys)
    assert line.startswith(f"local ERROR: the local stack recorded in {state} does not answer")
    assert "Pub/Sub emulator" in line
    assert "start one with `make local SERVE=1`" in line
    assert time.monotonic() - started < 5


def test_a_state_file_missing_keys_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "stack.json"
    write_state(state, bucket=None, results_subscription=None)
    monkeypatch.setenv(local.STATE_VARIABLE, str(state))

    assert local.main(["publish", "3", "bike.jpg"]) == local.USAGE_ERROR
    assert error_line(capsys) == (
        f"local ERROR: {state} is not a local stack's state (no bucket, results_subscription): "
        "delete it and start one with `make local SERVE=1`"
    )


def test_the_commands_printed_for_you_run_the_projects_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`upload` and `--serve` print the same interpreter: .venv/bin/python, not a bare python."""
    monkeypatch.setattr(sys, "executable", str(ROOT / ".venv" / "bin" / "python"))
    assert local.python_command() == ".venv/bin/python"
    monkeypatch.setattr(sys, "executable", "/opt/other/python3")
    assert local.python_command() == "/opt/other/python3"
