"""Where browser tests put their screenshots.

Failures go to var/browser-failures/ (git-ignored). `screenshot(page, name)` is the helper the
README's pictures come from: it writes var/screenshots/<name>.png, and with
RELANCE_DOCS_SCREENSHOTS=1 also docs/screenshots/<name>.png (the committed copies).
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FAILURES = ROOT / "var" / "browser-failures"
SCREENSHOTS = ROOT / "var" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=False)
    if os.environ.get("RELANCE_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=DOCS / f"{name}.png", full_page=False)
    return path
