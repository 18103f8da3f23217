"""Work that may take only the CPU nobody else wants.

Some work is heavy and never urgent (password checks, reports) yet runs in a process whose
event loop routes crisis comments. Giving the thread or process that does it the lowest CPU
priority (nice 19) lets the scheduler serve routing, the broker and the database first; on an
idle machine it still runs at full speed. On Linux a nice value belongs to a thread, and
threads inherit their creator's.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

LOWEST_PRIORITY = 19


def lower_priority() -> None:
    """Give the calling thread (and the threads it will start) the lowest CPU priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: the work still runs
        log.warning("the normal CPU priority is kept: %s", exc)
