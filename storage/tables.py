"""Imports every module that defines tables, so SQLModel.metadata knows them all."""

from storage import leases  # noqa: F401
from storage.broadcasts import deliveries  # noqa: F401  (also registers the alerts /mydata shows)
from storage.broadcasts import tables as broadcast_tables  # noqa: F401
from storage.events import events  # noqa: F401
from storage.iapt import tables  # noqa: F401
from storage.lists import models  # noqa: F401
