"""A bound on how long the worker may take to stop.

A graceful stop commits what was applied and closes the Kafka clients, and any of those steps may
wait on a broker that does not answer. Delivery is at least once and every write idempotent, so
cutting a stop short loses nothing: the next owner of the partitions reads again from the last
commit. Past the bound, the process therefore ends itself rather than hold its partitions (and
its orchestrator's patience) hostage.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("leadscore.worker")

EXIT_STATUS = 3  # a stop that had to be cut short, told apart from a crash (1) or misuse (2)


def _cut_short(seconds: float) -> None:
    log.error(
        "stopping took longer than %gs; exiting now (the work in flight is read again)", seconds
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_STATUS)


def arm(seconds: float) -> threading.Timer:
    """End the process ``seconds`` from now unless it ended by itself first."""
    timer = threading.Timer(seconds, _cut_short, args=(seconds,))
    timer.daemon = True  # a process that stopped in time does not wait for the timer
    timer.start()
    return timer
