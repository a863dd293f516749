"""``leadscore bench``: throughput, latency, offline speed and memory, each beside its baseline."""

from __future__ import annotations

import asyncio
import logging
import sys

import orjson
import typer
from rich.console import Console

from streams.cli import app


@app.command()
def bench(
    events: int = typer.Option(200_000, "--events", min=1, help="Backlog size for catch-up."),
    leads: int = typer.Option(20_000, "--leads", min=1, help="Leads the events are spread over."),
    rate: float = typer.Option(2_000.0, "--rate", min=1, help="Events/s for the latency phase."),
    seconds: float = typer.Option(15.0, "--seconds", min=1, help="Length of the latency phase."),
    timeout: float = typer.Option(900.0, "--timeout", min=10, help="Seconds allowed per phase."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes in one consumer group for the catch-up."
    ),
) -> None:
    """Benchmark the pipeline against the configured Kafka and Redis, on private topics and keys.

    Measures a bare aiokafka consumer and a bare Faust agent (the ceilings), the worker catching
    up on a backlog, latency at a fixed rate beside a bare round trip, offline scoring, and Redis
    memory per lead; then deletes everything it created. With --json the table goes to stderr.
    With --workers N, N workers share the catch-up and the latency phase (keep the input topics'
    partitions, LEADSCORE_TOPIC_PARTITIONS, at N or more).
    """
    from streams.bench.report import show
    from streams.bench.run import Bench, Options
    from streams.cli.reach import services
    from streams.cli.setup import settings_or_exit

    # aiokafka warns about every retried send while new topics elect leaders; that is expected.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    console = Console(stderr=as_json)
    settings = settings_or_exit()
    runner = Bench(Options(events, leads, rate, seconds, timeout, workers), settings, console)
    try:
        with services(settings, "bench", kafka=True, redis=True):
            result = asyncio.run(runner.run())
    except KeyboardInterrupt:
        console.print("interrupted; everything the benchmark created was removed")
        raise typer.Exit(130) from None
    show(result, console)
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
