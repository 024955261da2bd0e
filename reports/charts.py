"""The report's charts as PNG images (matplotlib, no display needed): the same picture
in the PDF and on the therapist's page."""

from __future__ import annotations

import io

import matplotlib.dates as mdates
from matplotlib.figure import Figure

from reports.sections import Chart

# Calm, distinguishable colours (colour-blind safe, Okabe-Ito).
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def chart_png(chart: Chart, *, width: float = 7.0, height: float = 2.8, dpi: int = 150) -> bytes:
    # A Figure of its own (not pyplot): no display, nothing global, safe in a threaded
    # server.
    figure = Figure(figsize=(width, height), dpi=dpi)
    axes = figure.add_subplot()
    many = len(chart.series) > 1
    for index, series in enumerate(chart.series):
        if not series.points:
            continue
        days = [day for day, _v in series.points]
        values = [value for _d, value in series.points]
        colour = COLOURS[index % len(COLOURS)]
        if chart.kind == "bar":
            axes.bar(days, values, width=20, color=colour, label=series.name)
        else:
            axes.plot(
                days,
                values,
                marker="o",
                markersize=3,
                linewidth=1.6,
                color=colour,
                label=series.name,
            )
    axes.set_ylim(*chart.y_range)
    axes.set_ylabel(chart.y_label)
    axes.set_title(chart.title, fontsize=10, loc="left")
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    axes.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if many:
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.autofmt_xdate()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
