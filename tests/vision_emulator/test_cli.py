"""`python -m vision_emulator` as `make local` starts it: one readiness line, a clean stop on SIGTERM, and
exit code 2 with a one-line error naming the install step when the model is missing, or naming
STORAGE_EMULATOR_HOST when that is unset (it never falls back to real Cloud Storage, nor does the
stand-in); the install step itself refuses anything but the pinned package."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ops import ROOT
from ops.emulators import VISION_READY, VisionEmulator
from vision_emulator import install
from vision_emulator.artifact import DEFAULT_MODEL_DIR, DETECTOR_FILE, LABEL_MAP_FILE, TARBALL_NAME

TARBALL = ROOT / ".cache" / "vision-model" / TARBALL_NAME
# A storage emulator address that these tests never read from (port 9 is "discard").
UNUSED_STORAGE = "http://127.0.0.1:9"


def run_module(
    module: str, *args: str, storage_host: str | None = UNUSED_STORAGE
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "STORAGE_EMULATOR_HOST"}
    if storage_host is not None:
        env["STORAGE_EMULATOR_HOST"] = storage_host
    return subprocess.run(
        [sys.executable, "-m", module, "--host", "127.0.0.1", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_emulator(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("vision_emulator", "--port", "0", *args)


def test_it_prints_one_readiness_line_serves_and_stops_cleanly_on_sigterm() -> None:
    emulator = VisionEmulator(UNUSED_STORAGE).start()
    try:
        assert VISION_READY.fullmatch(emulator.ready_line)
        assert emulator.ready_line == f"Vision emulator listening on 127.0.0.1:{emulator.port}"
        with socket.create_connection(("127.0.0.1", emulator.port), timeout=5):
            pass
    finally:
        code = emulator.stop()
    assert code == 0
    assert emulator.process is not None
    assert '"message": "serving"' in emulator.output()
    assert '"message": "stopped"' in emulator.output()


def test_a_missing_model_exits_2_with_one_line_naming_the_install_step(tmp_path: Path) -> None:
    result = run_emulator("--model-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: the Vision emulator's model is not installed: run make vision-model"
    ]


def test_a_model_file_that_is_not_the_pinned_one_exits_2(tmp_path: Path) -> None:
    for packed in (LABEL_MAP_FILE, DETECTOR_FILE):
        (tmp_path / packed.file_name).write_bytes(
            (DEFAULT_MODEL_DIR / packed.file_name).read_bytes()
        )
    detector = tmp_path / DETECTOR_FILE.file_name
    damaged = bytearray(detector.read_bytes())
    damaged[1000] ^= 0xFF
    detector.write_bytes(bytes(damaged))
    result = run_emulator("--model-dir", str(tmp_path))
    assert result.returncode == 2
    assert "run make vision-model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line_and_exit_2_before_the_model_loads(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # No model there: the port is checked first, so its error is the one reported.
        result = run_module(
            "vision_emulator", "--port", str(port), "--model-dir", str(tmp_path / "no-model")
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: the Vision emulator cannot listen on 127.0.0.1:{port}: port {port} is taken: "
        "choose another, or --port 0 for a free one"
    ]


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("vision_emulator", "error: STORAGE_EMULATOR_HOST is not set"),
        ("ops.vision_stand_in", "vision stand-in ERROR: STORAGE_EMULATOR_HOST is not set"),
    ],
)
@pytest.mark.parametrize("storage_host", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_without_storage_emulator_host_it_refuses_to_start_in_one_line_exit_2(
    module: str, expected: str, storage_host: str | None
) -> None:
    """Never real Cloud Storage with the developer's own credentials (issue 17, finding 11)."""
    result = run_module(module, "--port", "0", storage_host=storage_host)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected)
    assert "never from Cloud Storage" in lines[0]


def test_install_writes_the_pinned_files_from_the_pinned_tarball(tmp_path: Path) -> None:
    if not TARBALL.is_file():
        pytest.fail(f"{TARBALL} is missing: run make vision-model", pytrace=False)
    written = install.install(TARBALL, tmp_path)
    assert sorted(path.name for path in written) == sorted(
        (LABEL_MAP_FILE.file_name, DETECTOR_FILE.file_name)
    )
    for packed in (LABEL_MAP_FILE, DETECTOR_FILE):
        data = (tmp_path / packed.file_name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == packed.sha256
        assert data == (DEFAULT_MODEL_DIR / packed.file_name).read_bytes()


def test_install_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    fake = tmp_path / TARBALL_NAME
    payload = b"not the model"
    with tarfile.open(fake, "w:gz") as archive:
        entry = tarfile.TarInfo("package/objectron_solution_packed_assets.data")
        entry.size = len(payload)
        archive.addfile(entry, io.BytesIO(payload))
    target = tmp_path / "model"
    assert install.main(["--tarball", str(fake), "--model-dir", str(target)]) == 1
    assert not target.exists()
