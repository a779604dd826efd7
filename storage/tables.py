"""Imports every module that defines tables, so SQLModel.metadata knows them all."""

from storage import iapt  # noqa: F401
from storage import models  # noqa: F401
