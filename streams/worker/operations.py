"""What the worker adds for the people who run and use it, installed by one call in ``create_app``.

Kept apart from the scoring core so that logging, probes and the explorer can change without
touching the agent: JSON or text logs (``LEADSCORE_LOG_FORMAT``), the consumer-lag and Redis probe
(:mod:`streams.observability.lag`) and the lead explorer (:mod:`streams.http.explorer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams.http.explorer import register_explorer
from streams.observability.lag import register_monitor
from streams.observability.logs import dict_config

if TYPE_CHECKING:
    import faust

    from streams.worker.runtime import Runtime


def install_operations(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    # Faust's worker applies this when it starts, replacing its own coloured console handler.
    app.conf.logging_config = dict_config(settings.log_format, settings.log_level)
    register_monitor(app, runtime)
    register_explorer(app, runtime)
