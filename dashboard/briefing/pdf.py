"""The briefing's page printed to PDF by Debian's chromium, headless: the fonts the system has
(``fonts-noto-cjk``) render the Chinese, and nothing is downloaded.

One short-lived browser per page, with its own profile directory, so two prints (two
replicas, the CLI beside the server) never share a profile lock.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("ONEMAP_CHROMIUM", "/usr/bin/chromium")
TIMEOUT_S = 90.0
# Debian's Chromium on a server with no display and no internet, as the tests drive it too
# (tests/live.py): no sandbox, no GPU, nothing fetched in the background.
BROWSER_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
FLAGS = (
    "--headless",
    *BROWSER_ARGS,
    "--disable-extensions",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)


class PrintFailed(RuntimeError):
    pass


def print_pdf(html: str, chromium: str = CHROMIUM) -> bytes:
    with tempfile.TemporaryDirectory(prefix="onemap-briefing-") as folder:
        page, out = Path(folder) / "briefing.html", Path(folder) / "briefing.pdf"
        page.write_text(html, encoding="utf-8")
        command = [
            chromium,
            *FLAGS,
            f"--user-data-dir={Path(folder) / 'profile'}",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=TIMEOUT_S, check=False, cwd=folder
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PrintFailed(f"{chromium}: {exc}") from exc
        if not out.is_file() or out.stat().st_size == 0:
            said = done.stderr.decode(errors="replace")[-500:]
            raise PrintFailed(f"{chromium} printed nothing (exit {done.returncode}): {said}")
        return out.read_bytes()
