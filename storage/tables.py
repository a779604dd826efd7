"""Imports every module that defines tables, so SQLModel.metadata knows them all, and every module
that registers what it keeps about a chat for /mydata (`chats.CHAT_DATA_SECTIONS`)."""

from storage import leases  # noqa: F401
from storage.broadcasts import deliveries  # noqa: F401  (also registers the alerts /mydata shows)
from storage.broadcasts import tables as broadcast_tables  # noqa: F401
from storage.events import rsvps  # noqa: F401  (also registers the events /mydata shows)
from storage.events import tables as event_tables  # noqa: F401
from storage.iapt import tables as iapt_tables  # noqa: F401
from storage.lists import (
    models,  # noqa: F401
    organisers,  # noqa: F401  (registers the organisers' command menu /mydata shows)
)
