"""Imports every module that defines tables, so SQLModel.metadata knows them all."""

from storage import leases  # noqa: F401
from storage.broadcasts import tables as broadcast_tables  # noqa: F401
from storage.events import tables as event_tables  # noqa: F401
from storage.iapt import tables as iapt_tables  # noqa: F401
from storage.lists import models  # noqa: F401
