"""`campaign-bot stats …`: load the published IAPT figures, build the embedded default, and ask
the same questions as /stats from the terminal."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.support import load_settings, with_database
from messages import render
from storage.db import Database
from storage.iapt.answers import TrendAnswer, View, WaitsAnswer
from storage.iapt.bundle import BUNDLE_PATH, build_bundle
from storage.iapt.loading import ensure_iapt_figures
from storage.iapt.records import IaptImportError
from storage.iapt.report import StatsDesk, parse_stats_request
from storage.iapt.writing import import_iapt_directory

stats_app = typer.Typer(help="Published NHS Talking Therapies (IAPT) figures.", no_args_is_help=True)


def _rejected(error: IaptImportError) -> typer.Exit:
    typer.echo(render("stats_import_rejected.txt", error=error), err=True)
    return typer.Exit(code=1)


@stats_app.command("import")
def import_figures(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The folder of published files.")],
) -> None:
    """Load the files of DIRECTORY (the layout of tests/data/iapt, unpacked). A malformed file: nothing changes."""
    try:
        summary = asyncio.run(with_database(load_settings(), lambda db: import_iapt_directory(db, directory)))
    except IaptImportError as error:
        raise _rejected(error) from None
    typer.echo(render("stats_import_done.txt", summary=summary, source=str(directory)))


@stats_app.command("build-bundle")
def build_bundle_command(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="The folder of published files.")],
    out: Annotated[Path, typer.Argument(help="Where to write the bundle.")] = BUNDLE_PATH,
) -> None:
    """Write the compact embedded default (gzip JSON) from the published files."""
    try:
        data = build_bundle(directory, out)
    except IaptImportError as error:
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
    waits: Annotated[bool, typer.Option("--waits", help="Waiting times of its services, 12 months.")] = False,
    chart: Annotated[Path | None, typer.Option(help="With --trend or --waits: also write the chart to this PNG "
                                                    "file.")] = None,
) -> None:
    """Print the answer /stats would give ("tower hamlets waits" as in Telegram, or with the options).
    Loads the embedded figures first if none are loaded."""
    request = parse_stats_request(" ".join([*(area or []), year or ""]))
    if ethnicity or trend or waits:
        request = dataclasses.replace(request, view=View.WAITS if waits else View.TREND if trend else View.ETHNICITY)

    async def answer(db: Database):
        await ensure_iapt_figures(db)
        return await StatsDesk(db).answer_request(request)

    result = asyncio.run(with_database(load_settings(), answer))
    typer.echo(render(result.text_template, answer=result))
    if chart is not None and isinstance(result, TrendAnswer | WaitsAnswer):
        from messages.charts import render_trend_chart, render_waits_chart

        draw = render_trend_chart if isinstance(result, TrendAnswer) else render_waits_chart
        chart.write_bytes(draw(result))
