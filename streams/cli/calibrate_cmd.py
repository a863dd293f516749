"""``leadscore calibrate`` (do scores predict conversions? learn better points) and ``simulate``.

The figures themselves are computed by the pure modules ``scoring.calibrate``, ``scoring.learn``
and ``scoring.report``; this module reads the files, shows progress on large inputs and writes the
results. Bad input is reported line by line and never dropped silently.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import orjson
import typer
import yaml
from rich.console import Console
from rich.progress import Progress

from scoring.calibrate import (
    DEFAULT_CATCH_SHARE,
    Row,
    Summary,
    format_comparison,
    format_text,
    lift,
    quantile_bands,
    ranked_rows,
    roc_auc,
)
from scoring.calibrate import summarize as summarize_rows
from scoring.engine import evaluate
from scoring.errors import EventValidationError, ModelError
from scoring.events import line_fields
from scoring.history import History
from scoring.learn import (
    Change,
    boosting_reference,
    build_model,
    calibration_table,
    holdout,
    learning_model,
    matching_threshold,
    share_threshold,
)
from scoring.learn import fit as learn_points
from scoring.model import Model, parse_model
from scoring.report import render
from scoring.simulate import iter_world
from scoring.state import LeadState
from streams.cli import app
from streams.modelfile import load_model

DEFAULT_END = "2026-01-01T00:00:00Z"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}

Outcome = tuple[str, bool, datetime]
err_console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@contextmanager
def _progress() -> Iterator[Progress]:
    """A rich progress bar on stderr, shown only on a terminal so pipes and logs stay clean."""
    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        yield bar


def _load(path: Path | None) -> Model:
    try:
        return load_model(path)
    except ModelError as err:
        for problem in err.problems:
            typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(2) from None


def read_events(path: Path) -> tuple[History, list[tuple[int, str]]]:
    """Every valid event of a JSON-lines file, and ``(line, reason)`` for the others."""
    history = History()
    rejected: list[tuple[int, str]] = []
    now = datetime.now(UTC)
    now_s = now.timestamp()
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle, _progress() as bar:
        task = bar.add_task("reading events", total=size)
        done = 0
        for number, line in enumerate(handle, start=1):
            done += len(line)
            if number % 20_000 == 0:
                bar.update(task, completed=done)
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                data = None
            try:
                fields = line_fields(line, data, now, now_s)
            except EventValidationError as err:
                rejected.append((number, str(err)))
                continue
            if fields is not None:
                history.add(*fields)
    return history, rejected


def _parse_converted(value: str) -> bool | None:
    cleaned = value.strip().lower()
    return True if cleaned in _TRUE else False if cleaned in _FALSE else None


def read_outcomes(path: Path, history: History) -> tuple[list[Outcome], list[tuple[int, str]], int]:
    """The usable outcome rows, ``(line, reason)`` for the others, and the number of rows read."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None
    used: list[Outcome] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    total = 0
    with handle:
        reader = csv.DictReader(handle)
        missing = {"lead_id", "converted"} - set(reader.fieldnames or [])
        if missing:
            raise _fail(f"{path}: the header needs the column(s) {', '.join(sorted(missing))}")
        for record in reader:
            total += 1
            line = reader.line_num
            lead = (record.get("lead_id") or "").strip()
            converted = _parse_converted(record.get("converted") or "")
            stamp = (record.get("scored_at") or "").strip()
            if not lead:
                problems.append((line, "lead_id is empty"))
            elif lead not in history.by_lead:
                problems.append((line, f"unknown lead {lead!r} (no valid events for it)"))
            elif lead in first_line:
                problems.append(
                    (line, f"lead {lead!r} is already listed on line {first_line[lead]}")
                )
            elif converted is None:
                problems.append(
                    (
                        line,
                        f"converted: cannot read {record.get('converted')!r} "
                        "(use true/false or 1/0)",
                    )
                )
            else:
                at = _parse_time(stamp) if stamp else history.last_event(lead)
                if at is None:
                    problems.append(
                        (line, f"scored_at: {stamp!r} is not RFC 3339 with a time zone")
                    )
                    continue
                first_line[lead] = line
                used.append((lead, converted, at))
    return used, problems, total


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def score_rows(history: History, outcomes: Sequence[Outcome], model: Model) -> list[Row]:
    """Each lead's score (and fired rules) under ``model`` as of its own moment."""
    rows = []
    with _progress() as bar:
        task = bar.add_task(f"scoring with {model.name}", total=len(outcomes))
        for n, (lead, converted, at) in enumerate(outcomes, start=1):
            result = history.score(lead, model, at)
            fired = frozenset(c.rule for c in result.explanation if c.kind in ("fit", "engagement"))
            rows.append(Row(lead, result.score, converted, fired))
            if n % 5000 == 0:
                bar.update(task, completed=n)
    return rows


def rule_points(model: Model) -> dict[str, float]:
    """Each rule id and its points, fit rules first, in model order."""
    return {
        **{r.id: r.points for r in model.fit.rules},
        **{r.id: r.points for r in model.engagement.rules},
    }


def summarize(rows: Sequence[Row], model: Model, bands: int, share: float) -> Summary:
    expected = None if model.calibration is None else model.calibration.rate_at
    return summarize_rows(
        rows,
        model.name,
        model.version,
        model.thresholds.hot,
        rule_points(model),
        bands,
        share,
        expected,
    )


def _report_problems(events: list[tuple[int, str]], outcomes: list[tuple[int, str]]) -> None:
    for number, reason in events:
        typer.echo(f"events line {number}: {reason}", err=True)
    for number, reason in outcomes:
        typer.echo(f"line {number}: {reason}", err=True)


@app.command("calibrate")
def calibrate(
    events: Path = typer.Option(..., "--events", help="JSON-lines file of events."),
    outcomes: Path = typer.Option(
        ..., "--outcomes", help="CSV with lead_id, converted and optional scored_at."
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model file (default: built-in)."
    ),
    compare: Path | None = typer.Option(None, "--compare", help="A second model to compare."),
    bands: int = typer.Option(5, "--bands", min=2, max=20, help="Number of score bands."),
    catch: float = typer.Option(
        DEFAULT_CATCH_SHARE, "--catch", min=0.01, max=1.0, help="Share of conversions to catch."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
    fit: bool = typer.Option(False, "--fit", help="Learn new points from the outcomes."),
    out: Path | None = typer.Option(None, "--out", help="With --fit: where to write the model."),
    holdout_share: float = typer.Option(
        0.3, "--holdout", min=0.05, max=0.9, help="With --fit: share of leads held out."
    ),
    seed: int = typer.Option(0, "--seed", help="With --fit: seed of the held-out split."),
    hot_share: float | None = typer.Option(
        None,
        "--hot-share",
        min=0.0001,
        max=0.9999,
        help="With --fit: the hot threshold makes at most this share of leads hot (default: as "
        "many as the old model).",
    ),
    penalty: str = typer.Option("l2", "--penalty", help="With --fit: l2 or l1 regularisation."),
    strength: float = typer.Option(
        1.0,
        "--strength",
        min=1e-6,
        help="With --fit: inverse regularisation strength (C).",
    ),
) -> None:
    """Check that scores predict conversions (lift, AUC, bands), or learn new points with --fit.

    Rejected event lines and outcome rows are reported on stderr as ``line N: reason``; the rest
    are still used and the exit status is 1. Unreadable files or models exit with 2.
    """
    if fit and out is None:
        raise _fail("--fit needs --out FILE for the fitted model")
    if penalty not in ("l1", "l2"):
        raise _fail("--penalty must be l1 or l2")
    base = _load(model)
    other = _load(compare) if compare is not None else None
    history, bad_events = read_events(events)
    used, bad_rows, total = read_outcomes(outcomes, history)
    _report_problems(bad_events, bad_rows)
    typer.echo(f"used {len(used)} of {total} outcome rows", err=True)
    if not used:
        raise _fail("no usable outcome rows")
    if fit:
        assert out is not None
        norm: Literal["l1", "l2"] = "l1" if penalty == "l1" else "l2"
        _fit(history, used, base, out, holdout_share, seed, norm, strength, bands, catch, hot_share)
    else:
        first = summarize(score_rows(history, used, base), base, bands, catch)
        second = summarize(score_rows(history, used, other), other, bands, catch) if other else None
        _print(first, second, as_json)
        if report is not None:
            report.write_text(render(first, second), encoding="utf-8")
            typer.echo(f"wrote {report}", err=True)
    if bad_events or bad_rows:
        raise typer.Exit(1)


def _print(first: Summary, second: Summary | None, as_json: bool) -> None:
    if as_json:
        data = first.to_dict()
        if second is not None:
            data["compare"] = second.to_dict()
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()
        return
    typer.echo(format_text(first))
    if second is not None:
        typer.echo("\n" + format_text(second))
        typer.echo("\n" + format_comparison(first, second))


def _fit(
    history: History,
    used: Sequence[Outcome],
    model: Model,
    out: Path,
    share: float,
    seed: int,
    penalty: Literal["l1", "l2"],
    strength: float,
    bands: int,
    catch: float,
    hot_share: float | None = None,
) -> None:
    """Fit on part of the leads, judge old and new model on the rest, write the new model."""
    train_ids, test_ids = holdout([lead for lead, _, _ in used], share, seed)
    by_lead = {lead: (converted, at) for lead, converted, at in used}
    samples: dict[str, tuple[LeadState, float]] = {}
    probe = learning_model(model)  # states that also hold what the window variables count
    with _progress() as bar:
        task = bar.add_task("building lead states", total=len(used))
        for n, (lead, _, at) in enumerate(used, start=1):
            samples[lead] = (history.state(lead, probe, at), at.timestamp())
            if n % 5000 == 0:
                bar.update(task, completed=n)
    train = [samples[lead] for lead in train_ids]
    train_labels = [by_lead[lead][0] for lead in train_ids]
    try:
        learned = learn_points(model, train, train_labels, penalty, strength)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    design, weights, scale = learned.design, learned.weights, learned.scale
    name = f"{model.name}-fitted"
    about = f"{model.name} with points learned from {len(train_ids)} leads' outcomes."

    def make(hot: int | None) -> tuple[str, list[Change], Model]:
        text, changes = build_model(
            model, design.features, weights, scale, name, model.version, about, hot
        )
        return text, changes, parse_model(text, source=str(out))  # must load like any other

    _, _, first = make(None)
    fitted_scores = [evaluate(s, first, _at(t), explained=False).score for s, t in train]
    if hot_share is None:
        old_scores = [evaluate(s, model, _at(t), explained=False).score for s, t in train]
        hot = matching_threshold(old_scores, fitted_scores, model.thresholds.hot)
        why = f"makes as many training leads hot as {model.thresholds.hot} did under {model.label}"
    else:
        hot = share_threshold(fitted_scores, hot_share)
        why = f"makes at most {hot_share:.1%} of the training leads hot (--hot-share)"
    text, changes, fitted = make(hot)
    header = (
        f"# Fitted by `leadscore calibrate --fit` from {model.label}: {len(train_ids)} leads for "
        f"training, {len(test_ids)} held out (seed {seed}).\n"
        f"# {penalty.upper()}-regularised logistic regression (C={strength:g}); "
        "rules that rounded to 0 points are left out.\n"
        f"# base {scale.base:.1f}, {scale.points_to_double_odds:.1f} points to double the odds "
        "(the 1st and 99th percentile training leads at 5 and 95).\n"
        f"# The hot threshold {hot} {why}.\n"
        f"# Bands (optbinning, monotone) of {len(design.binned)} variables: "
        f"{', '.join(b.variable.name for b in design.binned[:8])}"
        f"{', ...' if len(design.binned) > 8 else ''}.\n"
    )

    def held_out(m: Model) -> list[Row]:
        rows = []
        for lead in test_ids:
            state, _ = samples[lead]
            converted, at = by_lead[lead]
            rows.append(Row(lead, evaluate(state, m, at, explained=False).score, converted))
        return rows

    fitted_rows = held_out(fitted)
    old = summarize(held_out(model), model, bands, catch)
    new = summarize(fitted_rows, fitted, bands, catch)
    data = yaml.safe_load(text)
    data["calibration"] = calibration_table([(r.score, r.converted) for r in fitted_rows], bands)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    parse_model(text, source=str(out))  # the table too must load like any other model part
    header += (
        f"# calibration: conversion per score band observed on the {len(test_ids)} held-out "
        "leads (rates pooled where a higher band converted less).\n"
    )
    out.write_text(header + text, encoding="utf-8")
    typer.echo(f"held-out leads: {len(test_ids)} ({new.conversions} converted)")
    typer.echo(format_comparison(old, new))
    test = [samples[lead] for lead in test_ids]
    labels = [by_lead[lead][0] for lead in test_ids]
    reference = ranked_rows(
        boosting_reference(learned.x, train_labels, design.matrix(test), seed),
        labels,
    )
    ref_auc, ref_lift = roc_auc(reference), lift(quantile_bands(reference, bands))
    typer.echo(
        "gradient boosting on the same features (the black-box reference): "
        f"ROC AUC {_figure(ref_auc, '.3f')}, lift {_figure(ref_lift, '.2f')}x"
    )
    typer.echo(f"\n{'rule':<30}{'old points':>12}{'new points':>12}")
    for change in changes:
        before = "-" if change.old is None else f"{change.old:g}"
        after = "-" if change.new is None else str(change.new)
        typer.echo(f"{change.rule:<30}{before:>12}{after:>12}")
    typer.echo(f"\nwrote {out} (check it with `leadscore model check {out}`)")


def _figure(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


@app.command("simulate")
def simulate_cmd(
    leads: int = typer.Option(1000, "--leads", min=1, help="Number of leads."),
    days: float = typer.Option(30.0, "--days", min=0.01, help="Days of activity."),
    seed: int = typer.Option(1, "--seed", help="The same seed gives the same world."),
    out: Path = typer.Option(..., "--out", help="Directory for events.jsonl and outcomes.csv."),
    end: str = typer.Option(DEFAULT_END, "--end", help="When the simulated world ends (RFC 3339)."),
) -> None:
    """Write a synthetic world: events.jsonl and outcomes.csv, where conversion depends on hidden
    fit and intent. Deterministic: the same options give byte-identical files."""
    end_at = _parse_time(end)
    if end_at is None:
        raise _fail("--end must be RFC 3339 with a time zone, e.g. 2026-01-01T00:00:00Z")
    try:
        out.mkdir(parents=True, exist_ok=True)
        events_file = (out / "events.jsonl").open("wb")
        outcomes_file = (out / "outcomes.csv").open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write to {out}: {exc.strerror or exc}") from None
    count = converted = 0
    with events_file, outcomes_file, _progress() as bar:
        task = bar.add_task("simulating", total=leads)
        writer = csv.writer(outcomes_file, lineterminator="\n")
        writer.writerow(["lead_id", "converted", "scored_at"])
        for n, (lead_events, outcome) in enumerate(iter_world(leads, days, seed, end_at), 1):
            events_file.write(b"".join(orjson.dumps(e) + b"\n" for e in lead_events))
            stamp = outcome.scored_at.isoformat().replace("+00:00", "Z")
            writer.writerow([outcome.lead_id, "true" if outcome.converted else "false", stamp])
            count += len(lead_events)
            converted += outcome.converted
            if n % 1000 == 0:
                bar.update(task, completed=n)
    typer.echo(
        f"wrote {count} events for {leads} leads ({converted} converted) to "
        f"{out / 'events.jsonl'} and {out / 'outcomes.csv'}",
        err=True,
    )
