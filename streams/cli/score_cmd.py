"""``leadscore score`` (offline scoring of a JSON-lines file) and ``leadscore model check``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import typer

from scoring.analytics import event_lines, track_table
from scoring.errors import ModelError
from scoring.offline import score_account_lines
from streams import parallel_score
from streams.cli import app
from streams.cli.setup import settings_or_exit
from streams.modelfile import load_model, load_models

model_app = typer.Typer(help="Work with model files.", no_args_is_help=True)
app.add_typer(model_app, name="model")


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("must be RFC 3339, e.g. 2026-03-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("must include a time zone, e.g. Z or +02:00")
    return parsed.astimezone(UTC)


# The size from which `leadscore score` splits the work over the CPUs (tests lower it).
PARALLEL_MIN_BYTES = parallel_score.PARALLEL_MIN_BYTES


@app.command("score")
def score(
    events: str = typer.Argument(..., help="JSON-lines file of events, or - for stdin."),
    model: list[Path] | None = typer.Option(
        None, "--model", "-m", help="Model file (repeat for several); default: built-in model."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Score as of this RFC 3339 time (default: now)."
    ),
    accounts: bool = typer.Option(
        False,
        "--accounts",
        help="One JSON line per account (and model with an accounts section) instead.",
    ),
    analytics: bool = typer.Option(
        False,
        "--analytics",
        help="The file holds analytics-spec calls (page, track, identify, group), one per line, "
        "mapped to events as POST /v1/batch maps them.",
    ),
) -> None:
    """Score a file of events and print one JSON line per lead (and model), sorted by lead id.

    Invalid lines are reported on stderr as ``line N: reason``; the rest are still scored and the
    exit status is 1 when any line was rejected.
    """
    when = _parse_at(at)
    try:
        models = load_models(model)
    except ModelError as err:
        for problem in err.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None
    source: str | list[bytes]
    try:
        if events == "-":
            source = sys.stdin.buffer.readlines()
        else:
            with open(events, "rb") as handle:  # fail early and clearly on unreadable files
                handle.read(1)
            source = events
    except OSError as exc:
        typer.echo(f"error: cannot read {events}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    refused: list[tuple[int, str]] = []
    if analytics:
        table = track_table(models, settings_or_exit().track_overrides)
        calls = source if isinstance(source, list) else _lines(source)
        now = datetime.now(UTC)
        source, refused = event_lines(calls, table, now, now)
        typer.echo(f"{len(source)} events from {len(calls) - len(refused)} calls", err=True)
    out = sys.stdout.buffer
    if accounts:
        lines = source if isinstance(source, list) else _lines(source)
        found, rejected = score_account_lines(lines, models, when, datetime.now(UTC))
        out.write(b"".join(orjson.dumps(a.to_dict()) + b"\n" for a in found))
    else:
        rows, rejected = parallel_score.score_source(
            source, models, when, datetime.now(UTC), PARALLEL_MIN_BYTES
        )
        out.write(b"".join(row[2] + b"\n" for row in rows))
    out.flush()
    for number, reason in refused:  # lines of the calls file
        typer.echo(f"line {number}: {reason}", err=True)
    where = "mapped event" if analytics else "line"  # mapped events were checked once already
    for number, reason in rejected:
        typer.echo(f"{where} {number}: {reason}", err=True)
    if rejected or refused:
        raise typer.Exit(1)


def _lines(path: str) -> list[bytes]:
    with open(path, "rb") as handle:
        return handle.readlines()


@model_app.command("check")
def check(file: Path = typer.Argument(..., help="The model file to validate.")) -> None:
    """Validate a model file and report every problem with its location."""
    try:
        loaded = load_model(file)
    except ModelError as err:
        for problem in err.problems:
            if problem.location == str(file):
                typer.echo(f"{file}: {problem.reason}")
            else:
                typer.echo(f"{file}:{problem.location}: {problem.reason}")
        raise typer.Exit(1) from None
    typer.echo(
        f"{file}: ok (model {loaded.name} v{loaded.version}, {len(loaded.fit.rules)} fit rules, "
        f"{len(loaded.engagement.rules)} engagement rules)"
    )
