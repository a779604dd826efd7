"""`campaign-bot stats …`: load the published IAPT figures, build the embedded default, and ask
the same questions as /stats from the terminal."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from storage.import_problems import ImportRefused

# Each command imports what it needs when it runs (see bot/cli/main.py).

stats_app = typer.Typer(help="Published NHS Talking Therapies (IAPT) figures.", no_args_is_help=True)


def _rejected(error: ImportRefused) -> typer.Exit:
    from messages import render

    typer.echo(render("stats_import_rejected.txt", error=error), err=True)
    return typer.Exit(code=1)


@stats_app.command("import")
def import_figures(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The folder of published files.")],
) -> None:
    """Load the files of DIRECTORY (the layout of tests/data/iapt, unpacked). A malformed file: nothing changes."""
    from bot.cli.support import load_settings, with_database
    from messages import render
    from storage.iapt.writing import import_iapt_directory
    from storage.import_problems import ImportRefused

    try:
        summary = asyncio.run(with_database(load_settings(), lambda db: import_iapt_directory(db, directory)))
    except ImportRefused as error:
        raise _rejected(error) from None
    typer.echo(render("stats_import_done.txt", summary=summary, source=str(directory)))


@stats_app.command("build-bundle")
def build_bundle_command(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The folder of published files.")],
    out: Annotated[Path | None, typer.Argument(
        help="Where to write the bundle. Default: the shipped one, storage/iapt/data/iapt_figures.json.gz.",
        show_default=False)] = None,
) -> None:
    """Write the compact embedded default (gzip JSON) from the published files."""
    from messages import render
    from storage.iapt.bundle import BUNDLE_PATH, build_bundle
    from storage.import_problems import ImportRefused

    out = out or BUNDLE_PATH
    try:
        data = build_bundle(directory, out)
    except ImportRefused as error:
        raise _rejected(error) from None
    figures = sum(table.figure_count() for table in data.tables)
    typer.echo(render("stats_bundle_built.txt", path=str(out), size=out.stat().st_size, figures=figures,
                      source=str(directory)))


@stats_app.command("show")
def show(
    area: Annotated[list[str] | None, typer.Argument(help="Area name, code or shorthand; none for England.")] = None,
    year: Annotated[str | None, typer.Option(help="Financial year, e.g. 2018-19.")] = None,
    ethnicity: Annotated[bool, typer.Option("--ethnicity", help="Figures by ethnic group.")] = False,
    trend: Annotated[bool, typer.Option("--trend", help="Every year the area has.")] = False,
    rank: Annotated[bool, typer.Option("--rank", help="Where it stands among the areas of its kind.")] = False,
    waits: Annotated[bool, typer.Option("--waits", help="Waiting times of its services, 12 months.")] = False,
    vs: Annotated[str | None, typer.Option("--vs", help="Another area, to compare side by side.")] = None,
    chart: Annotated[Path | None, typer.Option(help="With --trend, --rank or --waits: also write the chart to this "
                                                    "PNG file.")] = None,
) -> None:
    """Print the answer /stats would give ("AREA vs AREA" compares two; "tower hamlets waits" as in
    Telegram, or with the options). Loads the embedded figures first if none are loaded."""
    from bot.cli.support import load_settings, with_database
    from messages import render
    from storage.iapt.answers import RankAnswer, TrendAnswer, View, WaitsAnswer
    from storage.iapt.loading import ensure_iapt_figures
    from storage.iapt.report import StatsDesk, parse_stats_request

    words = [*(area or []), *(["vs", vs] if vs else []), year or ""]
    request = parse_stats_request(" ".join(words))
    if ethnicity or trend or rank or waits:
        view = View.WAITS if waits else View.TREND if trend else View.RANK if rank else View.ETHNICITY
        request = dataclasses.replace(request, view=view)

    async def answer(db):
        await ensure_iapt_figures(db)
        return await StatsDesk(db).answer_request(request)

    result = asyncio.run(with_database(load_settings(), answer))
    typer.echo(render(result.text_template, answer=result))
    if chart is not None and isinstance(result, TrendAnswer | WaitsAnswer):
        from messages.charts import render_trend_chart, render_waits_chart

        draw = render_trend_chart if isinstance(result, TrendAnswer) else render_waits_chart
        chart.write_bytes(draw(result))
    if chart is not None and isinstance(result, RankAnswer) and result.ranking:
        from messages.charts import render_rank_chart

        chart.write_bytes(render_rank_chart(result))
