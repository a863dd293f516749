"""``leadscore sink webhook``: deliver hot-lead alerts to Slack or any JSON webhook."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from streams.cli import app
from streams.cli.setup import settings_or_exit
from streams.observability.logs import setup
from streams.sinks.webhook import Format, SinkOptions, WebhookSink

sink_app = typer.Typer(help="Deliver alerts from the routing topic to other systems.")
app.add_typer(sink_app, name="sink")


@sink_app.command()
def webhook(
    url: str = typer.Option(..., "--url", help="Where to POST each alert."),
    fmt: str = typer.Option(
        "slack", "--format", help="slack (incoming-webhook message) or json (the alert as is)."
    ),
    group_id: str = typer.Option(
        "", "--group-id", help="Kafka consumer group (default: <LEADSCORE_APP_ID>-webhook)."
    ),
    max_attempts: int = typer.Option(5, "--max-attempts", min=1, help="Tries per alert."),
    backoff: float = typer.Option(
        0.5, "--backoff", min=0.0, help="Seconds before the first retry; doubles each time."
    ),
    include_cooled: bool = typer.Option(
        False, "--include-cooled", help="Also post coolings, not only hot alerts."
    ),
) -> None:
    """Post each hot-lead alert to a webhook; retried, deduplicated, committed after delivery.

    Alerts that cannot be delivered go to the dead-letter topic with the reason in a header.
    Stops cleanly on SIGINT or SIGTERM.
    """
    if fmt not in ("slack", "json"):
        raise typer.BadParameter("use slack or json", param_hint="--format")
    settings = settings_or_exit()
    setup(settings.log_format, settings.log_level)
    fmt_: Format = "slack" if fmt == "slack" else "json"
    options = SinkOptions(
        url=url,
        format=fmt_,
        group_id=group_id,
        max_attempts=max_attempts,
        backoff=backoff,
        include_cooled=include_cooled,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await WebhookSink(settings, options).run(stop)

    asyncio.run(main())
