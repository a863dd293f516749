"""``leadscore calibrate`` (do scores predict conversions? learn better points) and ``simulate``.

The figures themselves are computed by the pure modules ``scoring.calibrate``,
``scoring.training`` (with ``scoring.learn``) and ``scoring.report``; this module reads the files,
shows progress on large inputs and writes the results. Bad input is reported line by line and
never dropped silently.
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
from rich.console import Console
from rich.progress import Progress

from scoring.calibrate import DEFAULT_CATCH_SHARE, Row, Summary, format_comparison, format_text
from scoring.errors import EventValidationError, ModelError
from scoring.events import line_fields
from scoring.history import History
from scoring.model import Model
from scoring.report import render
from scoring.simulate import ANONYMOUS_SHARE, iter_accounts
from scoring.training import Labelled, TrainingOptions, account_summary, model_summary, train
from streams.cli import app
from streams.modelfile import load_model

DEFAULT_END = "2026-01-01T00:00:00Z"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}

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


def read_outcomes(
    path: Path, history: History
) -> tuple[list[Labelled], list[tuple[int, str]], int, str]:
    """The usable outcome rows, ``(line, reason)`` for the others, the number of rows read, and
    what the rows are about: ``lead`` (a ``lead_id`` column) or ``account`` (``account_id``)."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None
    used: list[Labelled] = []
    problems: list[tuple[int, str]] = []
    first_line: dict[str, int] = {}
    total = 0
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if {"lead_id", "account_id"} <= columns:
            raise _fail(f"{path}: the header has both lead_id and account_id; give one of them")
        column = "account_id" if "account_id" in columns else "lead_id"
        subject = column.removesuffix("_id")
        missing = {column, "converted"} - columns
        if missing:
            raise _fail(
                f"{path}: the header needs the column(s) {', '.join(sorted(missing))} "
                "(lead_id or account_id, converted and optionally scored_at)"
            )
        known = history.by_account if subject == "account" else history.by_lead
        last = history.account_last_event if subject == "account" else history.last_event
        for record in reader:
            total += 1
            line = reader.line_num
            key = (record.get(column) or "").strip()
            converted = _parse_converted(record.get("converted") or "")
            stamp = (record.get("scored_at") or "").strip()
            if not key:
                problems.append((line, f"{column} is empty"))
            elif key not in known:
                problems.append(
                    (line, f"{column}: unknown {subject} {key!r} (no valid events for it)")
                )
            elif key in first_line:
                problems.append(
                    (
                        line,
                        f"{column}: {subject} {key!r} is already listed on line {first_line[key]}",
                    )
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
                at = _parse_time(stamp) if stamp else last(key)
                if at is None:
                    problems.append(
                        (line, f"scored_at: {stamp!r} is not RFC 3339 with a time zone")
                    )
                    continue
                if subject == "account" and not _has_leads(history, key, at):
                    problems.append((line, f"scored_at: account {key!r} had no leads by then"))
                    continue
                first_line[key] = line
                used.append((key, converted, at))
    return used, problems, total, subject


def _has_leads(history: History, account: str, at: datetime) -> bool:
    at_s = at.timestamp()
    return any(history.account_at(lead, at_s) == account for lead in history.by_account[account])


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def score_rows(history: History, outcomes: Sequence[Labelled], model: Model) -> list[Row]:
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


def account_rows(history: History, outcomes: Sequence[Labelled], model: Model) -> list[Row]:
    """Each account's score (and fired account fit rules) under ``model`` as of its own moment,
    from its leads as they stood then (``scoring.accounts``)."""
    rows = []
    with _progress() as bar:
        task = bar.add_task(f"scoring accounts with {model.name}", total=len(outcomes))
        for n, (account, converted, at) in enumerate(outcomes, start=1):
            result = history.account_score(account, model, at)
            fired = frozenset(c.rule for c in result.explanation if c.kind == "fit")
            rows.append(Row(account, result.score, converted, fired))
            if n % 1000 == 0:
                bar.update(task, completed=n)
    return rows


def _summaries(
    history: History,
    used: Sequence[Labelled],
    models: Sequence[Model],
    subject: str,
    bands: int,
    catch: float,
) -> list[Summary]:
    """The figures of each model over the outcome rows, for leads or for accounts."""
    if subject == "lead":
        return [model_summary(score_rows(history, used, m), m, bands, catch) for m in models]
    for m in models:
        if m.accounts is None:
            raise _fail(f"model {m.label} has no accounts section to score accounts with")
    return [account_summary(account_rows(history, used, m), m, bands, catch) for m in models]


def _report_problems(events: list[tuple[int, str]], outcomes: list[tuple[int, str]]) -> None:
    for number, reason in events:
        typer.echo(f"events line {number}: {reason}", err=True)
    for number, reason in outcomes:
        typer.echo(f"line {number}: {reason}", err=True)


@app.command("calibrate")
def calibrate(
    events: Path = typer.Option(..., "--events", help="JSON-lines file of events."),
    outcomes: Path = typer.Option(
        ...,
        "--outcomes",
        help="CSV with lead_id (or account_id), converted and optional scored_at.",
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
    used, bad_rows, total, subject = read_outcomes(outcomes, history)
    _report_problems(bad_events, bad_rows)
    typer.echo(f"used {len(used)} of {total} outcome rows", err=True)
    if not used:
        raise _fail("no usable outcome rows")
    if fit and subject == "account":
        raise _fail("--fit learns lead points; it takes lead outcomes, not account outcomes")
    if fit:
        assert out is not None
        norm: Literal["l1", "l2"] = "l1" if penalty == "l1" else "l2"
        options = TrainingOptions(holdout_share, seed, norm, strength, bands, catch, hot_share)
        _fit(history, used, base, out, options)
    else:
        found = _summaries(
            history, used, [base, *([other] if other else [])], subject, bands, catch
        )
        first, second = found[0], (found[1] if len(found) > 1 else None)
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
    history: History, used: Sequence[Labelled], model: Model, out: Path, options: TrainingOptions
) -> None:
    """Train on part of the leads (``scoring.training``), print how old and new did on the rest,
    write the new model."""
    with _progress() as bar:
        task = bar.add_task("building lead states", total=len(used))
        try:
            trained = train(
                history,
                used,
                model,
                options,
                str(out),
                lambda done, _: bar.update(task, completed=done),
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
    out.write_text(trained.text, encoding="utf-8")
    typer.echo(f"held-out leads: {trained.new.leads} ({trained.new.conversions} converted)")
    typer.echo(format_comparison(trained.old, trained.new))
    typer.echo(
        "gradient boosting on the same features (the black-box reference): "
        f"ROC AUC {_figure(trained.reference_auc, '.3f')}, "
        f"lift {_figure(trained.reference_lift, '.2f')}x"
    )
    typer.echo(f"\n{'rule':<30}{'old points':>12}{'new points':>12}")
    for change in trained.changes:
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
    out: Path = typer.Option(
        ..., "--out", help="Directory for events.jsonl, outcomes.csv and accounts.csv."
    ),
    end: str = typer.Option(DEFAULT_END, "--end", help="When the simulated world ends (RFC 3339)."),
    anonymous_share: float = typer.Option(
        ANONYMOUS_SHARE,
        "--anonymous-share",
        min=0.0,
        max=1.0,
        help="Share of leads who browse anonymously before they are identified.",
    ),
) -> None:
    """Write a synthetic world: events.jsonl, outcomes.csv (per lead) and accounts.csv (per
    account), where conversion depends on hidden fit, intent and buying groups. Deterministic:
    the same options give byte-identical files."""
    end_at = _parse_time(end)
    if end_at is None:
        raise _fail("--end must be RFC 3339 with a time zone, e.g. 2026-01-01T00:00:00Z")
    try:
        out.mkdir(parents=True, exist_ok=True)
        events_file = (out / "events.jsonl").open("wb")
        outcomes_file = (out / "outcomes.csv").open("w", newline="", encoding="utf-8")
        accounts_file = (out / "accounts.csv").open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot write to {out}: {exc.strerror or exc}") from None
    count = converted = n = accounts = 0
    with events_file, outcomes_file, accounts_file, _progress() as bar:
        task = bar.add_task("simulating", total=leads)
        writer = csv.writer(outcomes_file, lineterminator="\n")
        writer.writerow(["lead_id", "converted", "scored_at"])
        account_writer = csv.writer(accounts_file, lineterminator="\n")
        account_writer.writerow(["account_id", "converted", "scored_at"])
        world = iter_accounts(leads, days, seed, end_at, anonymous_share)
        for group, account in world:
            for lead_events, outcome in group:
                events_file.write(b"".join(orjson.dumps(e) + b"\n" for e in lead_events))
                stamp = _stamp(outcome.scored_at)
                writer.writerow([outcome.lead_id, _flag(outcome.converted), stamp])
                count += len(lead_events)
                converted += outcome.converted
                n += 1
                if n % 1000 == 0:
                    bar.update(task, completed=n)
            if account is not None:
                account_writer.writerow(
                    [account.account_id, _flag(account.converted), _stamp(account.scored_at)]
                )
                accounts += 1
    typer.echo(
        f"wrote {count} events for {leads} leads ({converted} converted) of {accounts} accounts "
        f"to {out / 'events.jsonl'}, {out / 'outcomes.csv'} and {out / 'accounts.csv'}",
        err=True,
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
