"""Render the tablet's icons (assets/icons/tablet-{32,192,512}.png) from tablet.svg.

    .venv/bin/python -m dashboard.web.icons

Debian's Chromium rasterises the SVG (no image library needed); the PNGs are committed, so
this runs only when the drawing changes.
"""

from __future__ import annotations

import os

from dashboard.web.webapp import ICON_SIZES, ICONS

CHROMIUM = os.environ.get("ONEMAP_CHROMIUM", "/usr/bin/chromium")  # Debian's, as the tests use
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def render() -> list[str]:
    from playwright.sync_api import sync_playwright

    svg = (ICONS / "tablet.svg").read_text()
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for size in (32, *ICON_SIZES):  # 32: the page's favicon
                page = browser.new_page(viewport={"width": size, "height": size})
                sized = svg.replace(
                    'width="512" height="512"', f'width="{size}" height="{size}"', 1
                )
                page.set_content(f"<body style='margin:0'>{sized}</body>")
                target = ICONS / f"tablet-{size}.png"
                page.screenshot(path=str(target), omit_background=False)
                page.close()
                written.append(str(target))
        finally:
            browser.close()
    return written


if __name__ == "__main__":
    for path in render():
        print(path)
