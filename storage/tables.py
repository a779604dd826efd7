"""Imports every module that defines tables, so SQLModel.metadata knows them all."""

from storage import broadcasts  # noqa: F401
from storage import events  # noqa: F401
from storage import iapt  # noqa: F401
from storage import models  # noqa: F401
from storage import leases  # noqa: F401
