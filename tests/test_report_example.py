"""The demo couple's report in docs/ (scripts/report_example.py): its pages rendered to
PNG with pypdfium2 and looked at (text present, charts drawn, fonts embedded), and the
file is what the code makes today."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image

from infra.settings import get_settings
from reports.charts import COLOURS
from scripts.report_example import OUT, example_pdf, page_pngs
from tests import privacy_scenario

DATA = OUT.read_bytes()


def _texts(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    return [document[i].get_textpage().get_text_range() for i in range(len(document))]


def _pixels_near(image: Image.Image, colour: str, tolerance: int = 40) -> int:
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(image.convert("RGB"), dtype=int)
    return int((np.abs(pixels - target) <= tolerance).all(axis=-1).sum())


def test_the_example_has_its_text_on_every_page() -> None:
    texts = _texts(DATA)
    assert len(texts) >= 3
    assert all(text.strip() for text in texts)
    whole = "\n".join(texts)
    assert texts[0].startswith("Relationship check-ins: Alex and Sam")
    for heading in (
        "Satisfaction and certainty over time",
        "How well each agreement was kept",
        "Early warnings, current and past",
        "Recurring topics and their history",
        "Cooldowns",
        "Therapy sessions logged",
        "What went well, in their own words",
    ):
        assert heading in whole
    # The demo's rough patch around month 7 shows in the past warnings.
    assert "satisfaction dropped" in whole
    for canary in privacy_scenario.NEVER_FOR_B:
        assert canary not in whole


def test_the_pages_render_and_the_charts_are_not_empty(tmp_path: Path) -> None:
    pngs = page_pngs(DATA)
    for number, png in enumerate(pngs, start=1):
        (tmp_path / f"page-{number}.png").write_bytes(png)
    first = Image.open(io.BytesIO(pngs[0]))
    assert first.width > 800 and first.height > 1100
    # Page 1 draws both partners' satisfaction lines (the first two series colours):
    # a chart with no data would leave only axes and grey grid lines.
    assert _pixels_near(first, COLOURS[0]) > 400
    assert _pixels_near(first, COLOURS[1]) > 400
    # Every chart page has drawn ink well beyond its text.
    for png in pngs:
        ink = np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 200
        assert int(ink.sum()) > 2000


def test_the_fonts_are_embedded() -> None:
    assert b"/FontFile2" in DATA
    assert b"DejaVuSans" in DATA


def test_the_example_is_what_the_code_makes_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("TEND_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TEND_DATABASE_URL", f"sqlite:///{tmp_path}/example.sqlite3")
    monkeypatch.setenv("TEND_MAIL_DIR", str(tmp_path / "mail"))
    get_settings.cache_clear()
    try:
        fresh = example_pdf()
    finally:
        get_settings.cache_clear()
    assert _texts(fresh) == _texts(DATA), "run `python scripts/report_example.py` again"
