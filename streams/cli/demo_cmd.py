"""``leadscore demo``: live, realistic traffic for trying leadscore out.

Most leads browse (blog, emails, the odd pricing visit); every few seconds one lead acts out the
buying story from the scoring README (a director at a mid-size SaaS company reads pricing, attends a
webinar, opens emails), so hot-lead alerts show up within seconds of starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import typer

from scoring.simulate import live_events
from streams.cli import app
from streams.kafka.publisher import Publisher, validate
from streams.kafka.topics import ensure_topics
from streams.settings import Settings


def buyer_story(lead_id: str, now: datetime) -> list[dict[str, Any]]:
    stamp = now.isoformat().replace("+00:00", "Z")
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "profile_updated",
            {
                "job_title": "Director of Operations",
                "company_size": 500,
                "industry": "SaaS",
                "email": f"{lead_id}@buyer.example",
            },
        ),
        ("page_view", {"path": "/pricing"}),
        ("email_opened", {"campaign": "launch"}),
        ("email_opened", {"campaign": "launch"}),
        ("email_opened", {"campaign": "launch"}),
        ("email_opened", {"campaign": "launch"}),
        ("page_view", {"path": "/pricing/enterprise"}),
        ("webinar_attended", {"webinar_id": "live-demo"}),
    ]
    return [
        {
            "event_id": f"{lead_id}-{n}",
            "lead_id": lead_id,
            "type": kind,
            "occurred_at": stamp,
            "properties": props,
        }
        for n, (kind, props) in enumerate(steps)
    ]


def _clock() -> Iterator[datetime]:
    while True:
        yield datetime.now(UTC)


@app.command()
def demo(
    rate: float = typer.Option(50.0, "--rate", help="Background events per second."),
    leads: int = typer.Option(500, "--leads", help="Background leads to cycle through."),
    buyer_every: float = typer.Option(5.0, "--buyer-every", help="Seconds between buyer stories."),
    seconds: float = typer.Option(
        0.0, "--seconds", help="Stop after this long (0: run until Ctrl-C)."
    ),
    seed: int = typer.Option(1, "--seed", help="Seed of the simulated world."),
) -> None:
    """Publish live demo traffic: browsing leads plus a buyer who turns hot every few seconds."""
    settings = Settings()
    run_id = format(int(time.time()), "x")

    async def run() -> None:
        await ensure_topics(settings)
        background = live_events(seed, leads, _clock())
        started = time.monotonic()
        next_buyer = started
        buyers = itertools.count(1)
        async with Publisher(settings) as publisher:
            while not seconds or time.monotonic() - started < seconds:
                tick = time.monotonic()
                batch = [next(background) for _ in range(max(1, int(rate / 10)))]
                if tick >= next_buyer:
                    batch += buyer_story(f"buyer-{run_id}-{next(buyers)}", datetime.now(UTC))
                    next_buyer = tick + buyer_every
                good, _ = validate((orjson.dumps(e) for e in batch), settings.max_event_bytes)
                await publisher.publish(good)
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a demo ends
        asyncio.run(run())
