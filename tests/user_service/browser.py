"""A real headless browser for page tests: Debian's chromium (bench/browser.py: its system binary,
never a browser a tool downloads). A fresh profile per module. Use the `browser` fixture:
`page = browser.new_page()`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Locator, sync_playwright

from bench.browser import CHROMIUM, MISSING, launch


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():
        pytest.fail(f"{MISSING} (make test does)", pytrace=False)
    with sync_playwright() as playwright:
        context = launch(playwright, tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield context
        finally:
            context.close()


def placed(box: Locator, photo: Locator) -> dict[str, float]:
    """Where `box` is drawn over `photo`, as fractions of the photo as shown: a result's box."""
    drawn, shown = box.bounding_box(), photo.bounding_box()
    assert drawn is not None
    assert shown is not None
    return {
        "x": (drawn["x"] - shown["x"]) / shown["width"],
        "y": (drawn["y"] - shown["y"]) / shown["height"],
        "width": drawn["width"] / shown["width"],
        "height": drawn["height"] / shown["height"],
    }
