"""The README's screenshots are re-creatable with one command, and the script fails if any
page it photographs shows a Streamlit exception or an error box."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent


def test_screenshot_script_photographs_every_main_page_without_errors(tmp_path) -> None:
    from tests.browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import screenshots
    finally:
        sys.path.pop(0)
    out = tmp_path / "shots"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in [*screenshots.PAGES, *screenshots.PHONE]:
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 20_000, name  # a drawn page, not a blank one
