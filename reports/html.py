"""The report as the page the therapist's link opens: the same sections as the PDF,
drawn by a Jinja2 template with autoescaping on (whatever a partner typed shows as
typed), the charts as inline PNG images (the page loads nothing from anywhere)."""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reports.charts import chart_png
from reports.content import Report
from reports.pdf import ABOUT, period_of, title_of
from reports.sections import Chart

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(enabled_extensions=("html",)),
    undefined=StrictUndefined,
)


def report_html(report: Report, *, expires_on: str) -> str:
    charts = {
        f"{index}-{section.key}": base64.b64encode(chart_png(block)).decode("ascii")
        for section in report.sections
        for index, block in enumerate(section.blocks)
        if isinstance(block, Chart)
    }
    return _env.get_template("report.html").render(
        report=report,
        title=title_of(report),
        period=period_of(report),
        about=ABOUT,
        charts=charts,
        expires_on=expires_on,
    )
