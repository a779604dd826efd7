"""Imports every module that defines tables, so SQLModel.metadata knows them all."""

from storage import models  # noqa: F401
