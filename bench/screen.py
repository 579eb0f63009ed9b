"""`python -m bench.screen`: the time from choosing a photo to seeing its verdict on the upload screen.

    python -m bench.screen [--uploads 30] [--json build/bench/screen.json]

A real headless chromium (bench/browser.py) opens the upload screen of `make local`'s stack (the
real function, the real User-Service, Google's emulators) and chooses the two sample photos in turn,
one at a time, as a person would: each is uploaded, checked, labeled and shown. In the page, a
MutationObserver timestamps each state the card shows; the entry's own times (announced_at,
completed_at, from the API) split the total into:

- upload: choosing to announced (POST /api/uploads, the PUT to storage, POST .../done, which
  checks the object and publishes the announcement; the entry's announced_at);
- labeling: announced to completed, server side (push to the function, Vision, the result published,
  pushed to the User-Service and applied in a Firestore transaction);
- shown: completed to the verdict on screen (the screen reads the entry every 200 ms for 5 s after
  the announcement, then every 700 ms).

The same run measures the same flow on a second stack whose Vision is the stand-in (no model): the
floor, so the ratio and the difference in labeling are what the Vision emulator costs. The first
upload of each stack (cold clients everywhere) is reported apart and left out of p50/p99.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from bench.browser import CHROMIUM, MISSING, launch
from ops import ROOT
from ops.local import VISION_EMULATOR, VISION_STAND_IN, LocalStack, local_settings
from ops.processes import signals_ignored, stopped_on_signals

SAMPLES = ROOT / "ops" / "samples"
PHOTOS = ((SAMPLES / "bicycle.png", "accepted"), (SAMPLES / "house.png", "blocked"))
FINAL = ("accepted", "blocked", "review", "failed", "refused")
VERDICT_TIMEOUT_MS = 60_000
# Timestamps in the page's clock as epoch milliseconds (performance.timeOrigin + now), so they
# compare with the service's own times on the same machine. The listener captures on the document:
# it runs before the screen's own change listener starts the upload.
OBSERVE = """
() => {
  const clock = () => performance.timeOrigin + performance.now();
  window.__bench = { chosen: [], cards: [] };
  document.addEventListener("change", () => window.__bench.chosen.push(clock()), true);
  new MutationObserver((records) => {
    for (const record of records) {
      const card = record.target;
      if (!card.matches("article.upload")) continue;
      if (!card.__bench) {
        card.__bench = { states: {} };
        window.__bench.cards.push(card.__bench);
      }
      const state = card.dataset.state;
      card.__bench.id = card.dataset.id;
      if (!(state in card.__bench.states)) card.__bench.states[state] = clock();
    }
  }).observe(document.getElementById("uploads"), {
    attributes: true, subtree: true, attributeFilter: ["data-state", "data-id"],
  });
}
"""
FINISHED = """
([count, finals]) => window.__bench.cards.length >= count
  && Object.keys(window.__bench.cards[count - 1].states).some((state) => finals.includes(state))
"""


@dataclass(frozen=True)
class Upload:
    photo: str
    expected: str
    state: str
    total_ms: float
    upload_ms: float | None
    labeling_ms: float | None
    shown_ms: float | None


@dataclass
class Flavor:
    vision: str
    started_seconds: float = 0.0
    uploads: list[Upload] = field(default_factory=list)

    @property
    def steady(self) -> list[Upload]:
        return self.uploads[1:]

    def percentile(self, name: str, q: float) -> float | None:
        values: list[float] = sorted(
            value for upload in self.steady if (value := getattr(upload, name)) is not None
        )
        if not values:
            return None
        index = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
        return values[index]

    def wrong(self) -> list[Upload]:
        return [upload for upload in self.uploads if upload.state != upload.expected]


def _epoch_ms(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def one_upload(page: Page, index: int, photo: Path, expected: str) -> Upload:
    page.set_input_files("#file", str(photo))
    page.wait_for_function(FINISHED, arg=[index + 1, list(FINAL)], timeout=VERDICT_TIMEOUT_MS)
    marks = page.evaluate("(i) => [window.__bench.chosen[i], window.__bench.cards[i]]", index)
    chosen, card = marks[0], marks[1]
    states: dict[str, float] = card["states"]
    state = next(name for name in FINAL if name in states)
    entry: dict[str, Any] = page.evaluate(
        "async (id) => (await fetch(`/api/uploads/${id}`)).json()", card["id"]
    )
    announced, completed = (
        _epoch_ms(entry.get("announced_at")),
        _epoch_ms(entry.get("completed_at")),
    )
    return Upload(
        photo=photo.name,
        expected=expected,
        state=state,
        total_ms=states[state] - chosen,
        upload_ms=None if announced is None else announced - chosen,
        labeling_ms=None if announced is None or completed is None else completed - announced,
        shown_ms=None if completed is None else states[state] - completed,
    )


def measure(vision: str, uploads: int, profile: Path) -> Flavor:
    flavor = Flavor(vision)
    stack = LocalStack(local_settings(), vision).check()
    began = time.monotonic()
    try:
        stack.start()
        flavor.started_seconds = time.monotonic() - began
        with sync_playwright() as playwright:
            context = launch(playwright, profile)
            try:
                page = context.new_page()
                page.goto(stack.screen_url)
                page.evaluate(OBSERVE)
                for index in range(uploads + 1):  # the first one warms everything up
                    photo, expected = PHOTOS[index % len(PHOTOS)]
                    flavor.uploads.append(one_upload(page, index, photo, expected))
            finally:
                context.close()
    finally:
        with signals_ignored():
            stack.stop()
    return flavor


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def report(flavors: list[Flavor]) -> list[str]:
    lines = [
        "time from choosing a photo to its verdict on the upload screen "
        "(steady state; the first upload of each stack apart)",
        f"{'Vision':<10}{'n':>4}{'p50 ms':>9}{'p99 ms':>9}{'upload p50':>12}"
        f"{'labeling p50':>14}{'shown p50':>11}{'first ms':>10}{'start s':>9}",
    ]
    for flavor in flavors:
        lines.append(
            f"{flavor.vision:<10}{len(flavor.steady):>4}"
            f"{_ms(flavor.percentile('total_ms', 0.5)):>9}{_ms(flavor.percentile('total_ms', 0.99)):>9}"
            f"{_ms(flavor.percentile('upload_ms', 0.5)):>12}"
            f"{_ms(flavor.percentile('labeling_ms', 0.5)):>14}"
            f"{_ms(flavor.percentile('shown_ms', 0.5)):>11}"
            f"{_ms(flavor.uploads[0].total_ms if flavor.uploads else None):>10}"
            f"{flavor.started_seconds:>9.1f}"
        )
    by_vision = {flavor.vision: flavor for flavor in flavors}
    emulator, floor = by_vision.get(VISION_EMULATOR), by_vision.get(VISION_STAND_IN)
    if emulator and floor:
        ours, base = emulator.percentile("total_ms", 0.5), floor.percentile("total_ms", 0.5)
        labeling = emulator.percentile("labeling_ms", 0.5)
        floor_labeling = floor.percentile("labeling_ms", 0.5)
        if ours and base and labeling is not None and floor_labeling is not None:
            lines.append(
                f"p50 against the stand-in floor: {ours / base:.2f}x; the Vision emulator adds "
                f"{labeling - floor_labeling:.0f} ms of labeling at p50"
            )
    for flavor in flavors:
        for upload in flavor.wrong():
            lines.append(
                f"WRONG ({flavor.vision}) {upload.photo}: {upload.state}, expected {upload.expected}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.screen", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--uploads", type=int, default=30, help="measured uploads per stack")
    parser.add_argument(
        "--vision",
        choices=[VISION_EMULATOR, VISION_STAND_IN],
        action="append",
        help="only these stacks (default: both, the stand-in as the floor)",
    )
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    arguments = parser.parse_args(argv)
    if arguments.uploads < 1:
        parser.error("--uploads must be at least 1")
    if not CHROMIUM.exists():
        print(f"screen ERROR: {MISSING}", file=sys.stderr)
        return 2
    flavors = []
    with stopped_on_signals(), tempfile.TemporaryDirectory() as scratch:
        for vision in arguments.vision or [VISION_EMULATOR, VISION_STAND_IN]:
            flavors.append(measure(vision, arguments.uploads, Path(scratch) / vision))
    print("\n".join(report(flavors)))
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(
            json.dumps(
                [
                    {**asdict(flavor), "p50_ms": flavor.percentile("total_ms", 0.5)}
                    | {"p99_ms": flavor.percentile("total_ms", 0.99)}
                    for flavor in flavors
                ],
                indent=2,
            )
        )
    return 1 if any(flavor.wrong() for flavor in flavors) else 0


if __name__ == "__main__":
    raise SystemExit(main())
