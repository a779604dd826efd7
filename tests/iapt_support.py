"""Shared by the tests/test_iapt_* modules: where the published data is, and loaded databases.

The published files ship with the tests, gzipped, in tests/data/iapt (see its README.md); they
are unpacked once per test run into a temporary directory. IAPT_DATA_DIR points the tests at
another copy of the same layout instead (newer figures, say).

Loading a million figures takes seconds, so on SQLite the first loaded database of the test run
is kept as a template file and later ones are copies of it. On PostgreSQL (TEST_DATABASE_URL)
each loaded database is a fresh schema, loaded for real.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from storage.db import Database
from storage.iapt.reading import read_iapt_directory
from storage.iapt.records import IaptData
from storage.iapt.writing import write_iapt_data
from tests.builders import fresh_database

SHIPPED_DATA = Path(__file__).resolve().parent / "data" / "iapt"


def _find_data_dir() -> Path:
    """IAPT_DATA_DIR if set; else the shipped files, unpacked into a directory of this run's."""
    if os.environ.get("IAPT_DATA_DIR"):
        return Path(os.environ["IAPT_DATA_DIR"])
    directory = Path(tempfile.mkdtemp(prefix="iapt-published-"))
    atexit.register(shutil.rmtree, directory, True)
    for packed in SHIPPED_DATA.glob("*.csv.gz"):
        with gzip.open(packed, "rb") as source, open(directory / packed.name.removesuffix(".gz"), "wb") as target:
            shutil.copyfileobj(source, target)
    return directory


DATA_DIR = _find_data_dir()
# The IAPT tests need the published files; they ship with the tests, so a missing file is a
# failure to report, not a reason to skip.
requires_data = pytest.mark.iapt_data


@functools.cache
def published_data() -> IaptData:
    return read_iapt_directory(DATA_DIR)


_sqlite_template: Path | None = None


async def _sqlite_template_file() -> Path:
    global _sqlite_template
    if _sqlite_template is None:
        directory = Path(tempfile.mkdtemp(prefix="iapt-template-"))
        atexit.register(shutil.rmtree, directory, True)
        db = Database.from_url(f"sqlite+aiosqlite:///{directory}/iapt.db")
        await db.upgrade()
        async with db.transaction() as session:
            await write_iapt_data(session, published_data())
        await db.dispose()  # the last connection to close folds the WAL back into the file
        _sqlite_template = directory / "iapt.db"
    return _sqlite_template


@asynccontextmanager
async def loaded_database(directory: Path) -> AsyncIterator[Database]:
    """An upgraded database holding every published figure, the test's own to change."""
    on_sqlite = os.environ.get("TEST_DATABASE_URL") is None
    if on_sqlite:
        # A copy of the loaded template: fresh_database finds its schema up to date.
        shutil.copyfile(await _sqlite_template_file(), directory / "iapt.db")
    async with fresh_database(directory, filename="iapt.db") as db:
        if not on_sqlite:
            async with db.transaction() as session:
                await write_iapt_data(session, published_data())
        yield db
