"""Imports every module that defines tables, so SQLModel.metadata knows them all."""

from storage import (
    broadcasts,  # noqa: F401
    events,  # noqa: F401
    iapt,  # noqa: F401
    leases,  # noqa: F401
    models,  # noqa: F401
)
