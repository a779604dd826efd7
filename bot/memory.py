"""What the bot's process asks of the C allocator, so that its memory stays near what it uses.

Two things, both on glibc only (elsewhere they do nothing):

- `limit_malloc_arenas`: glibc gives each thread that allocates its own arena, up to eight per
  core, and memory freed in one arena is never used by another. The bot's threads (one per
  SQLite connection, asyncio's worker threads) each kept a few megabytes that way. Two arenas
  are plenty for threads that mostly wait; this is `MALLOC_ARENA_MAX=2`, set by the process
  itself (`mallopt`) before it starts any thread, so it holds however the bot is started.
- `return_freed_memory`: after a burst of short-lived objects (start-up, loading the statistics
  index) the freed memory stays in the process until something asks for it again, which for an
  idle bot is never. `malloc_trim(0)` hands the free pages back to the system.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

# glibc's name for the arena limit in mallopt (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


@functools.cache
def _glibc() -> Any:
    """glibc through ctypes, or None. Imported here: ctypes costs a megabyte the idle bot would keep."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018  (musl has neither: then nothing is done)
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """At most `arenas` malloc arenas for the whole process; call before starting threads."""
    libc = _glibc()
    if libc is not None and not libc.mallopt(_M_ARENA_MAX, arenas):
        logger.warning("the C library refused to limit its malloc arenas to %d", arenas)


def return_freed_memory() -> None:
    """Collect garbage, then give the C allocator's free pages back to the system."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
