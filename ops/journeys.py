"""The seed scenario as a person plays it: each sample photo through the User-Service's HTTP API.

`make local` (ops/local.py) runs it against the stack it started: for each image of
ops/samples/manifest.json, the three calls the upload screen makes (POST /api/uploads, the PUT to the
signed URL, POST /api/uploads/<id>/done: steps 1 and 2), then the entry is read until it is final
(the AI-Service's steps 3 to 6 and the User-Service's 7). A sample passes when its entry ends as the
manifest expects: `expect_match: true` accepted, `false` blocked.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import requests

from ops import ROOT, scenario
from ops.common import FAIL, PASS
from user_service.local.client import ApiRefused, UploadsClient

COLUMNS = ("id", "path", "state", "verdict", "top labels", "latency")
# What the upload screen shows for each state (user_uploads/static/upload.js VERDICTS).
SCREEN_VERDICTS = {
    "uploading": "Uploading...",
    "pending": "Checking...",
    "delayed": "Still checking",
    "accepted": "Allowed",
    "blocked": "Blocked",
    "review": "In review",
    "failed": "Not checked",
}
ACCEPTED, BLOCKED = "accepted", "blocked"


@dataclass
class Journey:
    """One sample's way through the system, as the API showed it."""

    image: scenario.SampleImage
    upload_id: str = ""
    path: str = ""  # the object the service named (from its signed URL)
    entry: dict[str, Any] = field(default_factory=dict)
    final: bool = False
    error: str = ""  # the step that refused it, and why
    started: float = 0.0  # time.monotonic() before its POST /api/uploads
    seconds: float | None = None  # from then until its entry read final

    @property
    def expected(self) -> str | None:
        match = self.image.expect_match
        return None if match is None else (ACCEPTED if match else BLOCKED)

    @property
    def state(self) -> str:
        return str(self.entry.get("state") or ("refused" if self.error else "-"))

    @property
    def passed(self) -> bool:
        if self.error or not self.final:
            return False
        return self.state == self.expected if self.expected else self.state != "failed"


def object_name(signed_url: str) -> str:
    """The object a signed URL names: its path is /BUCKET/OBJECT (GCS's XML API)."""
    return unquote(urlsplit(signed_url).path).lstrip("/").partition("/")[2]


def top_labels(entry: dict[str, Any]) -> str:
    labels = entry.get("labels") or []
    return ", ".join(
        f"{label.get('description')} {float(label.get('score') or 0):.2f}"
        for label in labels[: scenario.TOP_LABELS]
        if isinstance(label, dict)
    )


def failure(entry: dict[str, Any]) -> str:
    error = entry.get("error")
    return f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict) else ""


def row(journey: Journey) -> tuple[str, ...]:
    return (
        journey.upload_id or "-",
        journey.path or "-",
        journey.state,
        SCREEN_VERDICTS.get(journey.state, "-"),
        top_labels(journey.entry) or journey.error or failure(journey.entry),
        "-" if journey.seconds is None else f"{journey.seconds * 1000:.0f} ms",
    )


def start(client: UploadsClient, journey: Journey) -> None:
    """Steps 1 and 2: the entry, the PUT straight to the bucket, then "done" (check, announce)."""
    journey.started = time.monotonic()
    data = journey.image.file.read_bytes()
    try:
        created = client.create(scenario.content_type(journey.image.file), len(data))
        journey.upload_id = str(created["id"])
        journey.entry = created["entry"]
        journey.path = object_name(str(created["upload"]["url"]))
        client.put(created["upload"], data)
        journey.entry = client.done(journey.upload_id)
    except (ApiRefused, requests.RequestException) as error:
        journey.error = str(error)
        return
    journey.final = bool(journey.entry.get("final"))
    if journey.final:
        journey.seconds = time.monotonic() - journey.started


def follow(
    client: UploadsClient, journeys: Sequence[Journey], timeout: float, interval: float
) -> None:
    """Step 7 as the screen sees it: read every open entry until it is final or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [journey for journey in journeys if not journey.final and not journey.error]
        if not waiting or time.monotonic() >= deadline:
            return
        for journey in waiting:
            try:
                journey.entry = client.read(journey.upload_id)
            except (ApiRefused, requests.RequestException) as error:
                journey.error = str(error)
                continue
            if journey.entry.get("final"):
                journey.final = True
                journey.seconds = time.monotonic() - journey.started
        time.sleep(interval)


def summary(journeys: Sequence[Journey], timeout: float, seconds: float) -> tuple[bool, list[str]]:
    lines = []
    for journey in journeys:
        name = journey.image.file.name
        if journey.error:
            lines.append(f"FAILED  {name}: {journey.error}")
        elif not journey.final:
            lines.append(
                f"TIMEOUT {name} ({journey.upload_id}): {journey.state} after {timeout:g} s"
            )
        elif not journey.passed:
            why = f" ({failure(journey.entry)})" if failure(journey.entry) else ""
            lines.append(
                f"MISMATCH {name}: {journey.state}{why}, expected {journey.expected or 'not failed'}"
            )
    passed = all(journey.passed for journey in journeys)
    outcomes = ", ".join(f"{journey.image.file.name} {journey.state}" for journey in journeys)
    lines.append(
        f"local {'PASS' if passed else 'FAIL'}: "
        f"{sum(journey.passed for journey in journeys)}/{len(journeys)} as expected "
        f"({outcomes}) in {seconds:.1f} s"
    )
    return passed, lines


def run(
    base_url: str,
    images: Sequence[scenario.SampleImage],
    timeout: float,
    out: TextIO | None = None,
    poll_interval: float = 0.05,
) -> tuple[int, list[Journey]]:
    """Every image through the API (started one after the other, then followed together)."""
    out = out or sys.stdout
    started = time.monotonic()
    client = UploadsClient(base_url)
    journeys = [Journey(image) for image in images]
    try:
        for journey in journeys:
            print(
                f"  {journey.image.file.relative_to(ROOT) if journey.image.file.is_relative_to(ROOT) else journey.image.file}"
                " -> POST /api/uploads, PUT to its signed URL, POST /api/uploads/<id>/done",
                file=out,
                flush=True,
            )
            start(client, journey)
        follow(client, journeys, timeout, poll_interval)
    finally:
        client.close()
    passed, lines = summary(journeys, timeout, time.monotonic() - started)
    print(scenario.table(COLUMNS, [row(journey) for journey in journeys]), file=out)
    print("\n".join(lines), file=out, flush=True)
    return (PASS if passed else FAIL), journeys


def seed_images(manifest: Path = scenario.DEFAULT_MANIFEST) -> list[scenario.SampleImage]:
    """The samples, checked (a missing one is bad input, before anything starts)."""
    images, _ = scenario.load_manifest(manifest)
    scenario.check_images(images)
    return images
