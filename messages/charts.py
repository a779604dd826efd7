"""The /stats charts, PNGs drawn with matplotlib's Agg backend: the trend, and the rank among peers.

matplotlib (with numpy) is imported only when the first chart is drawn: it costs about 100 MB
and a second of start-up, which a bot that only sends, and the command line, never need. Every
chart goes through `new_figure` (a fresh Figure on the Agg canvas, importing matplotlib the
first time) and `png_bytes`; anything else a chart takes from matplotlib it imports inside its
own function, after `new_figure`, when it is already loaded.

A chart function is synchronous and CPU-bound (tens of milliseconds); the bot calls it in a
worker thread. It uses matplotlib's object API on a fresh Figure, never pyplot's global state,
so concurrent calls from several threads do not share anything.
"""

from __future__ import annotations

import io
import math
import textwrap
import threading
from typing import TYPE_CHECKING

from messages import environment, i18n

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from storage.iapt.answers import RankAnswer, TrendAnswer, WaitsAnswer

REFERRALS_COLOUR = "#005eb8"  # NHS blue
FINISHED_COLOUR = "#41b6e6"
RATE_COLOUR = "#da291c"
ENGLAND_COLOUR = "#425563"
FOOTER_WIDTH = 150  # characters a line under the chart


_first_import = threading.Lock()


def new_figure(**options: object) -> Figure:
    """A fresh matplotlib Figure drawn by the Agg canvas (no display, no pyplot); `options` are
    Figure's own (figsize, dpi, layout...). Imports matplotlib the first time."""
    with _first_import:  # two first charts at once: one selects the backend, both then find it loaded
        import matplotlib

        matplotlib.use("Agg")  # no display; must come before anything imports pyplot
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    figure = Figure(**options)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _or_gap(value: float | None) -> float:
    """NaN for a suppressed or unpublished value: matplotlib draws nothing there, not a zero."""
    return math.nan if value is None else value


def _words(name: str, *args: object) -> str:
    """A chart label: the macro `name` of messages/stats_chart.txt, always in English: matplotlib
    has no Bengali font or text shaping here (docs/languages.md)."""
    with i18n.speaking(i18n.SOURCE_LANGUAGE):
        return str(getattr(environment().get_template("stats_chart.txt").module, name)(*args)).strip()


def render_trend_chart(answer: TrendAnswer, *, dpi: int = 110) -> bytes:
    """Referrals and finished treatments as bars, recovery rates as lines; PNG bytes.

    Suppressed or unpublished values are left as gaps, never drawn as zero.
    """
    figure = new_figure(figsize=(8, 4.8), dpi=dpi, layout="constrained")
    from matplotlib.ticker import FuncFormatter

    labels = [point.period.label for point in answer.points]
    positions = list(range(len(labels)))
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

    return png_bytes(figure)


def _spread(count: int) -> list[float]:
    """Vertical offsets for a strip of dots: fixed (the golden-ratio sequence), so a chart drawn
    twice is the same picture, and spread enough that equal values do not hide each other."""
    return [((i * 0.6180339887) % 1.0 - 0.5) * 0.6 for i in range(count)]


def render_rank_chart(answer: RankAnswer, *, dpi: int = 110) -> bytes:
    """Every area of the kind as a dot on each ranked measure, this one highlighted, England a
    dashed line; PNG bytes. A value far beyond the rest is drawn at the edge, as a triangle."""
    ranks = answer.ranking.shown if answer.ranking else ()
    figure = new_figure(figsize=(8, 1.0 + 1.35 * max(len(ranks), 1)), dpi=dpi, layout="constrained")
    from matplotlib.ticker import FuncFormatter  # loaded by new_figure already

    axes = figure.add_subplot()
    edge_note = False
    for row, rank in enumerate(reversed(ranks)):
        values = [peer.value for peer in rank.ranked]
        limit = min(max(values), max(100.0, rank.value or 0.0, rank.england or 0.0))
        # One scatter call a strip (and one for the values beyond the scale): a call per dot is
        # seconds for the hundreds of services.
        spread = _spread(len(values))
        inside = [(value, row + offset) for offset, value in zip(spread, values, strict=True) if value <= limit]
        beyond = [(limit, row + offset) for offset, value in zip(spread, values, strict=True) if value > limit]
        edge_note |= bool(beyond)
        for points, marker, size in ((inside, "o", 14), (beyond, ">", 40)):
            if points:
                axes.scatter([x for x, _ in points], [y for _, y in points], s=size, marker=marker,
                             color=FINISHED_COLOUR, alpha=0.7, linewidths=0)
        if rank.england is not None:
            axes.plot([rank.england] * 2, [row - 0.4, row + 0.4], color=ENGLAND_COLOUR, linestyle="--", linewidth=1.5,
                      label=_words("rank_england") if row == 0 else None)
        axes.scatter(min(rank.value, limit), row, s=90, color=RATE_COLOUR, edgecolors="white", zorder=3,
                     label=_words("rank_this", answer) if row == 0 else None)
        axes.annotate(_words("rank_position", rank), (min(rank.value, limit), row + 0.42), fontsize="x-small",
                      color=RATE_COLOUR, horizontalalignment="center")
    axes.set_yticks(range(len(ranks)), [_words("rank_label", rank) for rank in reversed(ranks)])
    axes.set_ylim(-0.6, len(ranks) - 0.4)
    axes.set_xlabel(_words("rank_axis"))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.0f}%"))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 / max(len(ranks), 1) - 0.12), fontsize="small",
                frameon=False, ncols=2)
    figure.suptitle(textwrap.fill(_words("rank_title", answer), 80), fontsize="medium", fontweight="bold")
    figure.supxlabel(textwrap.fill(_words("rank_footer", answer, edge_note), FOOTER_WIDTH), fontsize="x-small",
                     color=ENGLAND_COLOUR, horizontalalignment="left", x=0.01)
    return png_bytes(figure)


SERVICE_COLOURS = ("#005eb8", "#da291c", "#009639", "#ed8b00", "#330072", "#00a499", "#ae2573", "#8a1538")


def _waits_words(name: str, *args: object) -> str:
    with i18n.speaking(i18n.SOURCE_LANGUAGE):  # in English, as `_words`
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
    figure = new_figure(figsize=(8, 7.2), dpi=dpi, layout="constrained")
    from matplotlib.ticker import FuncFormatter  # loaded by new_figure already

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
    return png_bytes(figure)
