"""Commands that talk to Kafka and Redis: ``worker``, ``produce``, ``alerts``, ``lead``,
``account``."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.progress import Progress

from streams.cli import app
from streams.cli.reach import services
from streams.cli.setup import models_or_exit, settings_or_exit, shadow_or_exit
from streams.kafka.clients import kafka_consumer
from streams.kafka.publisher import Publisher, validate
from streams.kafka.topics import ensure_topics
from streams.observability.metrics import Metrics
from streams.settings import Settings
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import models_label
from streams.worker import identity
from streams.worker.accounts import account_view
from streams.worker.processor import Processor, score_now
from streams.worker.rescore import RescoreReport
from streams.worker.rescore import rescore as run_rescore

PUBLISH_CHUNK = 10_000  # events awaited at a time: bounds memory and drives the progress bar


@app.command()
def worker() -> None:
    """Run the stream worker: consume events, keep lead state in Redis, publish alerts."""
    settings = settings_or_exit()
    models = models_or_exit(settings)
    shadow = shadow_or_exit(settings, models)
    # Only start-up is checked: a running worker rides out Kafka and Redis outages by itself.
    with services(settings, "worker", kafka=True, redis=True):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(ensure_topics(settings))
        finally:
            loop.close()
    from faust.worker import Worker

    from streams.worker import shutdown
    from streams.worker.app import create_app

    class BoundedWorker(Worker):
        """Faust's worker, whose stop on a signal ends within the session timeout."""

        def _on_sigterm(self) -> None:
            shutdown.arm(settings.session_timeout)
            super()._on_sigterm()

        def _on_sigint(self) -> None:
            shutdown.arm(settings.session_timeout)
            super()._on_sigint()

    faust_app, _ = create_app(settings, models, shadow)
    tune_gc()
    BoundedWorker(
        faust_app, loglevel=settings.log_level.lower(), quiet=True
    ).execute_from_commandline()


def tune_gc() -> None:
    """Collect reference cycles far less often than CPython's default.

    A batch allocates many short-lived objects but almost no cycles (reference counting frees
    them), yet by default the collector walks the young objects every 700 allocations and, every
    so often, all of them, the lead cache included: a fifth of the worker's time. What start-up
    loaded lives as long as the process, so it is frozen out of the walks altogether.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@app.command()
def produce(
    source: str = typer.Argument(..., help="JSON-lines file of events, or - for standard input."),
) -> None:
    """Validate events and publish the valid ones to their topics, keyed by lead id.

    Rejected lines are reported on stderr as `line N: reason`; the exit status is 1 if any was.
    """
    settings = settings_or_exit()
    stream = sys.stdin.buffer if source == "-" else Path(source).open("rb")  # noqa: SIM115
    with stream:
        numbered = [(n, line.strip()) for n, line in enumerate(stream, start=1) if line.strip()]
    # the worker's rules, future-time limit included: a line refused here would be dead-lettered
    good, bad = validate(
        (line for _, line in numbered), settings.max_event_bytes, now=datetime.now(UTC)
    )
    for error in bad:
        typer.echo(f"line {numbered[error.index][0]}: {error.reason}", err=True)

    async def send() -> int:
        await ensure_topics(settings)
        sent = 0
        # a bar only for people: on a terminal, and for files worth waiting for
        with Progress(transient=True, disable=len(good) < 50_000 or not sys.stderr.isatty()) as bar:
            task = bar.add_task("publishing", total=len(good))
            async with Publisher(settings) as publisher:
                for start in range(0, len(good), PUBLISH_CHUNK):
                    sent += await publisher.publish(good[start : start + PUBLISH_CHUNK])
                    bar.update(task, completed=sent)
        return sent

    sent = 0
    if good:
        with services(settings, "produce", kafka=True):
            sent = asyncio.run(send())
    typer.echo(f"published {sent} events, rejected {len(bad)}", err=True)
    if bad:
        raise typer.Exit(1)


@app.command()
def alerts(
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="Start at the oldest alert."
    ),
    max_count: int = typer.Option(0, "--max", help="Stop after this many alerts (0: no limit)."),
    timeout: float = typer.Option(
        0.0, "--timeout", help="Stop after this many seconds (0: never)."
    ),
    text: bool = typer.Option(False, "--text", help="One readable line per alert instead of JSON."),
) -> None:
    """Print routing events (hot alerts and coolings) from the routing topic as JSON lines."""
    settings = settings_or_exit()

    async def follow() -> int:
        consumer = kafka_consumer(
            settings,
            settings.topics.hot,
            auto_offset_reset="earliest" if from_beginning else "latest",
            enable_auto_commit=False,
        )
        await consumer.start()
        printed = 0
        deadline = time.monotonic() + timeout if timeout else None
        try:
            while not max_count or printed < max_count:
                wait_ms = 500
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    wait_ms = int(min(left, 0.5) * 1000) or 1
                batches = await consumer.getmany(timeout_ms=wait_ms, max_records=100)
                for records in batches.values():
                    for record in records:
                        if record.value is None:
                            continue
                        line = _readable(record.value) if text else record.value.decode()
                        sys.stdout.write(line + "\n")
                        printed += 1
                        if max_count and printed >= max_count:
                            break
                sys.stdout.flush()
        finally:
            await consumer.stop()
        return printed

    with services(settings, "alerts", kafka=True):
        asyncio.run(follow())


def _readable(value: bytes) -> str:
    """`HOT  buyer-1  85 A1 -> senior_ae  pricing_page +20, webinar +20 (held back: cap -5)`

    The reasons are the largest positive contributions, what made the lead hot; penalties follow
    apart, so one never reads as a reason to call.
    """
    alert = orjson.loads(value)
    parts = sorted(alert.get("explanation", []), key=lambda c: -abs(c["points"]))
    why = ", ".join([f"{c['rule']} {c['points']:+d}" for c in parts if c["points"] > 0][:4])
    against = ", ".join([f"{c['rule']} {c['points']:+d}" for c in parts if c["points"] < 0][:2])
    held = f" (held back: {against})" if against else ""
    kind = "HOT " if alert["kind"] == "hot" else "COOL"
    route = f" -> {alert['route']}" if alert.get("route") else ""
    return f"{kind} {alert['lead_id']}  {alert['score']} {alert['grade']}{route}  {why}{held}"


def _print_stored(
    settings: Settings, kind: str, key: str, show: Callable[[], Coroutine[Any, Any, bytes | None]]
) -> None:
    """Print what ``show`` reads from Redis as JSON; a record Redis lacks is an error (exit 1)."""
    with services(settings, kind, redis=True):
        found = asyncio.run(show())
    if found is None:
        typer.echo(f"{kind} {key!r} is not in Redis", err=True)
        raise typer.Exit(1)
    typer.echo(found.decode())


@app.command()
def lead(
    lead_id: str = typer.Argument(..., help="The lead to show."),
    at: str | None = typer.Option(
        None, "--at", help="Score as of this RFC 3339 time (default now)."
    ),
) -> None:
    """Show a lead's state from Redis: score, grade, hot status and explanation per model."""
    settings = settings_or_exit()
    models = models_or_exit(settings)
    when = datetime.fromisoformat(at).astimezone(UTC) if at else datetime.now(UTC)

    async def show() -> bytes | None:
        client = connect(settings.redis_url, settings.redis_cluster)
        try:
            store = RedisLeadStore(
                client, Keys(settings.redis_prefix), settings.history_length, Metrics()
            )
            stored = (await store.load([lead_id]))[lead_id]
            if not stored.version:
                return None
            visitors = RedisLeadStore(client, store.keys.visitors, 0, Metrics())
            members = await visitors.load(identity.members(stored))
            scores = [s.to_dict() for s in score_now(stored, models, when, members)]
            for score, model in zip(scores, models, strict=True):
                score["hot_state"] = stored.state(model.name).hot
            return orjson.dumps({"lead_id": lead_id, "scores": scores})
        finally:
            await client.aclose()

    _print_stored(settings, "lead", lead_id, show)


@app.command()
def account(
    account_id: str = typer.Argument(..., help="The account to show."),
    at: str | None = typer.Option(
        None, "--at", help="Score as of this RFC 3339 time (default now)."
    ),
) -> None:
    """Show an account's state from Redis: score, engaged contacts, members and explanation per
    model with an accounts section, and its recent history."""
    settings = settings_or_exit()
    models = models_or_exit(settings)
    when = datetime.fromisoformat(at).astimezone(UTC) if at else datetime.now(UTC)

    async def show() -> bytes | None:
        client = connect(settings.redis_url, settings.redis_cluster)
        try:
            keys = Keys(settings.redis_prefix).accounts
            store = RedisLeadStore(client, keys, settings.history_length, Metrics())
            stored = (await store.load([account_id]))[account_id]
            if not stored.version:
                return None
            return orjson.dumps(account_view(stored, models, when))
        finally:
            await client.aclose()

    _print_stored(settings, "account", account_id, show)


@app.command()
def rebuild() -> None:
    """Rebuild every lead's state in Redis by replaying the retained input topics.

    Publishes nothing. Safe beside a running worker: applying an event twice changes nothing.
    """
    from streams.worker.rebuild import rebuild as run_rebuild

    settings = settings_or_exit()
    models = models_or_exit(settings)
    with services(settings, "rebuild", kafka=True, redis=True), Progress(transient=True) as bar:
        task = bar.add_task("replaying", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = asyncio.run(run_rebuild(settings, models, progress))
    typer.echo(
        f"rebuilt from {report.records} records on {report.partitions} partitions: "
        f"{report.events} events applied, {report.rejected} invalid records skipped"
    )


@app.command()
def rescore() -> None:
    """Re-evaluate every stored lead under the current models and publish what the change causes:
    leads a lowered threshold makes hot, leads a raised one cools.

    Safe beside running workers (compare-and-set, the same outbox and alert ids); running it again,
    or after an interruption, publishes nothing already published.
    """
    settings = settings_or_exit()
    models = models_or_exit(settings)
    shadow = shadow_or_exit(settings, models)

    async def run(progress: Callable[[int], None]) -> RescoreReport:
        metrics = Metrics()
        client = connect(settings.redis_url, settings.redis_cluster)
        keys = Keys(settings.redis_prefix)
        store = RedisLeadStore(client, keys, settings.history_length, metrics)
        processor = Processor(
            store,
            models,
            metrics,
            settings.max_event_bytes,
            dead_letter_limit=settings.dead_letter_max_bytes,
            # a lead scores with the anonymous visitors identified as it, as in the worker
            visitors=RedisLeadStore(client, keys.visitors, 0, metrics),
            identity_topic=settings.topics.identity,
            # and tells its account what changed, as in the worker
            accounts=RedisLeadStore(client, keys.accounts, settings.history_length, metrics),
            accounts_topic=settings.topics.accounts,
            shadow=shadow,
        )
        try:
            async with Publisher(settings) as publisher:
                report = await run_rescore(store, processor, publisher.send, progress=progress)
            await store.mark_scored_by(models_label(models))
            return report
        finally:
            await client.aclose()

    with Progress(transient=True) as bar:
        task = bar.add_task("rescoring", total=None)
        report = asyncio.run(run(lambda done: bar.update(task, completed=done)))
    typer.echo(f"rescored {report.leads} leads: {report.alerts} alerts published")


logging.getLogger("aiokafka").setLevel(logging.WARNING)
