"""Debian's chromium (/usr/bin/chromium, `make chromium` installs it), driven by Playwright through its
system binary: never a browser that a tool downloads. Shared by the upload screen's tests and
`python -m bench.screen`."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without these, chromium's background connections fail on a closed network and slow or break the
# run (update checks, sync, QUIC probes).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium"


def launch(playwright: Playwright, profile: Path) -> BrowserContext:
    """A headless chromium with a fresh profile in `profile`."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
    )
