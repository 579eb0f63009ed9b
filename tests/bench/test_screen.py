"""`python -m bench.screen` still measures end to end (one upload after the warm-up): the upload screen
in headless chromium against `make local`'s stack with the real function, every card ending as the
photo says. Timings are never asserted here (a shared, noisy machine); only their consistency."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import screen


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("SKIP_EMULATOR_TESTS") == "1",
    reason="SKIP_EMULATOR_TESTS=1: needs the emulators",
)
def test_the_screen_benchmark_measures_each_upload_and_its_parts(tmp_path: Path) -> None:
    report = tmp_path / "screen.json"

    exit_code = screen.main(["--uploads", "1", "--vision", "stand-in", "--json", str(report)])

    assert exit_code == 0
    [flavor] = json.loads(report.read_text())
    assert flavor["vision"] == "stand-in"
    uploads = flavor["uploads"]
    assert [(upload["photo"], upload["state"]) for upload in uploads] == [
        ("bicycle.png", "accepted"),  # the warm-up
        ("house.png", "blocked"),
    ]
    for upload in uploads:
        parts = (upload["upload_ms"], upload["labeling_ms"], upload["shown_ms"])
        assert all(part is not None and part >= 0 for part in parts), upload
        # The parts follow each other from choosing to the verdict on screen (two clocks, the
        # page's and the service's, on one machine: a few ms apart at most).
        whole = upload["upload_ms"] + upload["labeling_ms"] + upload["shown_ms"]
        assert abs(whole - upload["total_ms"]) < 50, upload
    assert flavor["p50_ms"] == uploads[1]["total_ms"]
