"""Rendered height of each HTML report, measured in headless Chromium (a reader's scroll length).

    python scripts/report_heights.py [results/] [--width 1400]

Each report is drawn at the given width into a tall screenshot; its height is the last row that is not page
background. Needs Chromium (Debian: apt-get install chromium); prints one line per report. Not part of the tests
(they run without a browser); the issue notes quote what it printed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CANVAS_HEIGHT = 30000
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--virtual-time-budget=10000")  # fmt: skip


def rendered_height(report: Path, width: int, browser: str) -> int:
    """Pixels from the top of the page to its last non-background row."""
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "page.png"
        subprocess.run(
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp}/profile",
                f"--window-size={width},{CANVAS_HEIGHT}",
                f"--screenshot={shot}",
                report.resolve().as_uri(),
            ],  # fmt: skip
            check=True,
            capture_output=True,
            timeout=120,
        )
        pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    background = pixels[-1, 0]
    rows = np.nonzero((np.abs(pixels - background).sum(axis=2) > 12).any(axis=1))[0]
    return int(rows[-1]) + 1 if len(rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="?", default=Path("results"))
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("report_heights.py: no Chromium found (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    for report in sorted(args.results.glob("*.html")):
        height = rendered_height(report, args.width, browser)
        note = f" (at least: the canvas is {CANVAS_HEIGHT} px)" if height >= CANVAS_HEIGHT else ""
        print(f"{report.name:<36} {height:>6} px at {args.width} px wide{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
