"""The /stats trend chart: a PNG drawn with matplotlib's Agg backend.

`render_trend_chart` is synchronous and CPU-bound (tens of milliseconds); the bot calls it in a
worker thread. It uses matplotlib's object API on a fresh Figure, never pyplot's global state,
so concurrent calls from several threads do not share anything.
"""

from __future__ import annotations

import io
import math
import textwrap

import matplotlib

matplotlib.use("Agg")  # no display; must come before anything imports pyplot

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter

from messages import environment
from storage.iapt.answers import TrendAnswer, WaitsAnswer

REFERRALS_COLOUR = "#005eb8"  # NHS blue
FINISHED_COLOUR = "#41b6e6"
RATE_COLOUR = "#da291c"
ENGLAND_COLOUR = "#425563"
FOOTER_WIDTH = 150  # characters a line under the chart


def _or_gap(value: float | None) -> float:
    """NaN for a suppressed or unpublished value: matplotlib draws nothing there, not a zero."""
    return math.nan if value is None else value


def _words(name: str, *args: object) -> str:
    """A chart label: the macro `name` of messages/stats_chart.txt."""
    return str(getattr(environment().get_template("stats_chart.txt").module, name)(*args)).strip()


def render_trend_chart(answer: TrendAnswer, *, dpi: int = 110) -> bytes:
    """Referrals and finished treatments as bars, recovery rates as lines; PNG bytes.

    Suppressed or unpublished values are left as gaps, never drawn as zero.
    """
    labels = [point.period.label for point in answer.points]
    positions = list(range(len(labels)))
    figure = MplFigure(figsize=(8, 4.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    counts = figure.add_subplot()
    width = 0.38
    referrals = [_or_gap(p.referrals.value) for p in answer.points]
    finished = [_or_gap(p.finished.value) for p in answer.points]
    counts.bar([x - width / 2 for x in positions], referrals, width, color=REFERRALS_COLOUR, label=_words("referrals"))
    counts.bar([x + width / 2 for x in positions], finished, width, color=FINISHED_COLOUR, label=_words("finished"))
    counts.set_ylabel(_words("counts_axis"))
    counts.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    counts.set_xticks(positions, labels)
    if len(labels) > 8:
        counts.tick_params(axis="x", labelrotation=45)
        for tick in counts.get_xticklabels():
            tick.set_horizontalalignment("right")
    counts.spines[["top"]].set_visible(False)

    rates = counts.twinx()
    rate_values = [p.recovery_rate.value for p in answer.points]
    rates.plot(positions, [_or_gap(v) for v in rate_values], color=RATE_COLOUR,
               marker="o", linewidth=2, label=_words("recovery_rate"))
    if not answer.area.is_england:
        england = [p.england_recovery_rate.value if p.england_recovery_rate else None for p in answer.points]
        rates.plot(positions, [_or_gap(v) for v in england], color=ENGLAND_COLOUR,
                   marker="s", linestyle="--", linewidth=1.5, label=_words("england_rate"))
    rates.set_ylim(0, 100)
    rates.set_ylabel(_words("rate_axis"))
    rates.spines[["top"]].set_visible(False)

    handles, names = [], []
    for axes in (counts, rates):
        more_handles, more_names = axes.get_legend_handles_labels()
        handles += more_handles
        names += more_names
    counts.legend(handles, names, loc="upper left", fontsize="small", frameon=False, ncols=2)
    tallest = max((v for v in referrals + finished if not math.isnan(v)), default=1.0)
    counts.set_ylim(0, tallest * 1.25)  # headroom for the legend
    figure.suptitle(_words("title", answer), fontsize="medium", fontweight="bold")
    # supxlabel, unlike a free text, is given room by the constrained layout.
    figure.supxlabel(textwrap.fill(_words("footer", answer), FOOTER_WIDTH), fontsize="x-small",
                     color=ENGLAND_COLOUR, horizontalalignment="left", x=0.01)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


SERVICE_COLOURS = ("#005eb8", "#da291c", "#009639", "#ed8b00", "#330072", "#00a499", "#ae2573", "#8a1538")


def _waits_words(name: str, *args: object) -> str:
    return str(getattr(environment().get_template("stats_waits_chart.txt").module, name)(*args)).strip()


def render_waits_chart(answer: WaitsAnswer, *, dpi: int = 110) -> bytes:
    """Twelve months of waiting times, one line per service (England dashed): the share started
    within 6 weeks (and 18, for one service), the median wait and the people still waiting; PNG bytes.

    Unpublished values and shares that cannot be calculated are gaps, never zeros.
    """
    services = answer.charted_services
    months = answer.months
    labels = [period.start_date.strftime("%b %y") for period in months]
    positions = list(range(len(labels)))
    figure = MplFigure(figsize=(8, 7.2), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    shares, medians, waiting = figure.subplots(3, 1, sharex=True)
    both = len(services) == 1
    series = [(s, SERVICE_COLOURS[i % len(SERVICE_COLOURS)], "-") for i, s in enumerate(services)]
    if answer.england is not None:
        series.append((answer.england, ENGLAND_COLOUR, "--"))
    for waits, colour, style in series:
        name = _waits_words("england") if waits.service.is_england else waits.service.name
        shares.plot(positions, [_or_gap(m.share_6_weeks.value) for m in waits.months], color=colour,
                    linestyle=style, marker="o", markersize=3, linewidth=1.6, label=textwrap.shorten(name, 40))
        if both or waits.service.is_england and len(series) <= 2:
            shares.plot(positions, [_or_gap(m.share_18_weeks.value) for m in waits.months], color=colour,
                        linestyle=":", linewidth=1.4)
        medians.plot(positions, [_or_gap(m.median_days.value) for m in waits.months], color=colour,
                     linestyle=style, marker="o", markersize=3, linewidth=1.6)
        if waits is not answer.england:
            waiting.plot(positions, [_or_gap(m.waiting.value) for m in waits.months], color=colour,
                         linestyle=style, marker="o", markersize=3, linewidth=1.6)
    shares.set_ylim(0, 105)
    shares.set_ylabel(_waits_words("share_axis_both" if both else "share_axis"), fontsize="small")
    medians.set_ylabel(_waits_words("median_axis"), fontsize="small")
    medians.set_ylim(bottom=0)
    waiting.set_ylabel(_waits_words("waiting_axis"), fontsize="small")
    waiting.set_ylim(bottom=0)
    waiting.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}"))
    waiting.set_xticks(positions, labels)
    waiting.tick_params(axis="x", labelrotation=45)
    for axes in (shares, medians, waiting):
        axes.spines[["top", "right"]].set_visible(False)
        axes.grid(axis="y", alpha=0.3)
    shares.legend(loc="lower left", fontsize="x-small", frameon=False, ncols=2)
    figure.suptitle(textwrap.shorten(_waits_words("title", answer), 90), fontsize="medium", fontweight="bold")
    figure.supxlabel(textwrap.fill(_waits_words("footer", answer), FOOTER_WIDTH), fontsize="x-small",
                     color=ENGLAND_COLOUR, horizontalalignment="left", x=0.01)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
