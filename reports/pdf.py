"""The report as a PDF (fpdf2): DejaVu Sans embedded (the copy matplotlib ships, so the
same font draws the charts and the text, and any name or typed word prints as typed),
charts as images, tables that repeat their headings across pages."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from reports.charts import chart_png
from reports.content import Report
from reports.sections import Chart, Paragraph, Table

FONT = "DejaVu"
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
INK = (43, 43, 43)
ACCENT = (122, 92, 79)


def title_of(report: Report) -> str:
    return "Relationship check-ins: " + " and ".join(report.partners)


def period_of(report: Report) -> str:
    if report.first_checkin is None or report.last_checkin is None:
        return "No check-in answered by both partners yet."
    return (
        f"Check-ins from {report.first_checkin:%-d %B %Y} to {report.last_checkin:%-d %B %Y}; "
        f"made on {report.generated_on:%-d %B %Y}."
    )


ABOUT = (
    "Both partners chose what this report holds and consented to sharing it with you. "
    "Their private answers and the safety questions Tend asks each of them alone are never "
    "part of it."
)


class _ReportPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(130, 130, 130)
        self.cell(
            0, 6, f"Tend · shared with both partners' consent · page {self.page_no()}", align="C"
        )


def report_pdf(report: Report) -> bytes:
    pdf = _ReportPDF(format="A4")
    for style, name in FONT_FILES.items():
        pdf.add_font(FONT, style, str(_FONT_DIR / name))
    pdf.set_title(title_of(report))
    pdf.set_author("Tend")
    # Dated by the report's day, not the moment it was drawn: the same report is the same file.
    pdf.set_creation_date(dt.datetime.combine(report.generated_on, dt.time(), dt.UTC))
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_text_color(*ACCENT)
    pdf.set_font(FONT, "B", 17)
    pdf.multi_cell(0, 9, title_of(report), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(0, 5.5, period_of(report), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(FONT, "I", 9)
    pdf.multi_cell(0, 5, ABOUT, new_x="LMARGIN", new_y="NEXT")
    if report.shown_free_text:
        pdf.multi_cell(
            0,
            5,
            "Words they wrote themselves, included because both chose so: "
            + "; ".join(report.shown_free_text)
            + ".",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    for section in report.sections:
        pdf.ln(4)
        if pdf.get_y() > pdf.h - 60:
            pdf.add_page()
        pdf.set_text_color(*ACCENT)
        pdf.set_font(FONT, "B", 13)
        pdf.multi_cell(0, 7, section.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(*INK)
        for block in section.blocks:
            _block(pdf, block)
    return bytes(pdf.output())


def _block(pdf: FPDF, block: Paragraph | Table | Chart) -> None:
    if isinstance(block, Paragraph):
        pdf.set_font(FONT, "", 9.5)
        pdf.multi_cell(0, 5, block.text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    elif isinstance(block, Chart):
        height = pdf.epw * 0.4
        if pdf.get_y() + height > pdf.h - 16:
            pdf.add_page()
        pdf.image(io.BytesIO(chart_png(block)), w=pdf.epw, h=height)
        pdf.ln(1)
    else:
        pdf.set_font(FONT, "", 8.5)
        heading = FontFace(emphasis="BOLD", fill_color=(240, 234, 230))
        with pdf.table(
            headings_style=heading,
            line_height=4.6,
            padding=1.2,
            text_align="LEFT",
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            for row in (block.headers, *block.rows):
                cells = table.row()
                for value in row:
                    cells.cell(value)
        pdf.ln(2)
