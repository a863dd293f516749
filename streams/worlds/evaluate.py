"""How well each model ranks the leads of a world it was not written for.

Reads a world directory (``events.jsonl`` and ``outcomes.csv``, as ``streams.worlds.leadforge``
writes them), holds out a fixed set of leads chosen by a seed, and scores the held-out leads with:

* ``default`` — the packaged default model, each lead evaluated at its own ``scored_at`` as
  ``leadscore score`` would (``scoring.offline.replay`` over the lead's events up to that moment);
* ``fitted`` — what ``leadscore calibrate --fit`` learns (``scoring.learn``: the default model's
  rules plus optbinning's monotone bands of every trait, a scorecard regression, whole points),
  trained on the other leads only;
* ``logreg_counts`` — a plain logistic regression on per-signal event counts (event type; for a
  page view its path) and a one-hot profile, the same features for every lead;
* ``boosting_counts`` — scikit-learn's histogram gradient boosting on the same features;
* ``boosting_timing`` — the same with when things happened as well (days since the latest event,
  events in the first and the last week, active days): a diagnostic of how much the timing of
  engagement carries that per-event decayed points cannot express;
* ``ebm_traits`` (with ``--ebm``) — interpret's Explainable Boosting Machine without interactions
  on the traits the fitted model bins (``scoring.binning``): the other explainable learner
  ``calibrate --fit`` could have been built on, measured on the same split.

Every figure is computed on the held-out leads only, with the tie rules of ``leadscore calibrate``
(equal scores share a band, ties count half in AUC), so the rows compare like for like and the
default row matches what ``calibrate`` prints for the same leads. The split does not depend on the
model, so all rows rank the same leads.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from scoring.binning import measure, variables
from scoring.calibrate import lift, quantile_bands, ranked_rows, roc_auc
from scoring.engine import evaluate
from scoring.history import History
from scoring.learn import build_model, fit, learning_model
from scoring.model import DAY, Model, default_model, parse_model
from scoring.offline import replay
from scoring.training import Labelled
from streams.cli.calibrate_cmd import read_events

PROFILE_UPDATED = "profile_updated"
# a profile attribute with more values than this among the training leads is an identifier (an
# email address, a contact name), and one-hot columns of it would only memorise the training leads
MAX_LEVELS = 50


@dataclass(frozen=True, slots=True)
class Result:
    """One model's figures over the held-out leads (tie shares are for 0..100 scores only)."""

    model: str
    auc: float | None
    lift: float | None
    tied_at_0: float | None
    tied_at_100: float | None
    seconds: float


# --- metrics ------------------------------------------------------------------------------------


_rows = ranked_rows


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """ROC AUC: the chance a converted lead outscores one that did not (ties count half)."""
    return roc_auc(_rows(scores, labels))


def quintile_lift(scores: Sequence[float], labels: Sequence[bool], bands: int = 5) -> float | None:
    """Conversion rate of the top score band over the bottom band (quintiles by default).

    Equal scores are never split between bands, as in ``leadscore calibrate``: a model that gives
    40% of the leads the same score has a bottom band of 40%, and its lift says so.
    """
    return lift(quantile_bands(_rows(scores, labels), bands))


def tied_share(scores: Sequence[float], value: float) -> float:
    return sum(1 for s in scores if s == value) / len(scores) if scores else 0.0


# --- reading a world ----------------------------------------------------------------------------


def read_world(directory: Path) -> tuple[History, list[Labelled]]:
    """The events and outcomes of a world directory; a bad line is an error, not a skip, because
    an adapter that writes one has a bug that would bias every figure."""
    history, rejected = read_events(directory / "events.jsonl")
    if rejected:
        number, reason = rejected[0]
        raise ValueError(f"events.jsonl line {number}: {reason}")
    outcomes: list[Labelled] = []
    with (directory / "outcomes.csv").open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            lead = record["lead_id"]
            if lead not in history.by_lead:
                raise ValueError(f"outcomes.csv: lead {lead!r} has no events")
            at = datetime.fromisoformat(record["scored_at"]).astimezone(UTC)
            outcomes.append((lead, record["converted"].strip().lower() == "true", at))
    return history, outcomes


def split(lead_ids: Sequence[str], holdout: int, seed: int) -> tuple[list[str], list[str]]:
    """(train, held out), ``holdout`` leads held out; the same ids and seed, the same split."""
    if not 0 < holdout < len(lead_ids):
        raise ValueError(f"the held-out count must be between 1 and {len(lead_ids) - 1}")
    ordered = sorted(lead_ids)
    random.Random(seed).shuffle(ordered)
    return sorted(ordered[holdout:]), sorted(ordered[:holdout])


# --- the models ---------------------------------------------------------------------------------


def _records_until(history: History, lead: str, at: datetime) -> list[Any]:
    cut = at.timestamp()
    return [r for r in history.by_lead[lead] if r[0] <= cut]


def model_scores(history: History, outcomes: Sequence[Labelled], model: Model) -> list[int]:
    """Each lead's 0..100 score under ``model`` at its own moment, as ``leadscore score`` has."""
    history.last_event(outcomes[0][0])  # sorts every lead's records once
    out = []
    for lead, _, at in outcomes:
        state = replay(lead, _records_until(history, lead, at), model)
        out.append(evaluate(state, model, at).score)
    return out


def fit_model(history: History, train: Sequence[Labelled], base: Model) -> Model:
    """The model ``leadscore calibrate --fit`` would write, learned from ``train`` only."""
    probe = learning_model(base)
    samples = [(history.state(lead, probe, at), at.timestamp()) for lead, _, at in train]
    learned = fit(base, samples, [converted for _, converted, _ in train])
    text, _ = build_model(
        base,
        learned.design.features,
        learned.weights,
        learned.scale,
        f"{base.name}-fitted",
        base.version,
        "evaluation",
    )
    return parse_model(text, source="fitted")


def signal_key(event_type: str, props: Mapping[str, Any]) -> str:
    """What a plain count counts: the event type, and for page views the path as well."""
    if event_type == "page_view":
        return f"page_view:{props.get('path') or props.get('url') or ''}"
    return event_type


def lead_features(history: History, lead: str, at: datetime, timing: bool) -> dict[str, float]:
    """Counts per signal before ``at``, the profile one-hot, and with ``timing`` when it all was."""
    records = history.by_lead[lead]
    features: dict[str, float] = {}
    profile: dict[str, Any] = {}
    cut = at.timestamp()
    start = records[0][0]  # the lead's creation: its first profile update
    last = None
    days: set[int] = set()
    first_week = last_week = 0
    for t, _, event_type, props in records:
        if t > cut:
            break
        if event_type == PROFILE_UPDATED:
            profile.update(props)
            continue
        key = f"n:{signal_key(event_type, props)}"
        features[key] = features.get(key, 0.0) + 1.0
        last = t
        days.add(int(t // DAY))
        first_week += t - start <= 7 * DAY
        last_week += cut - t <= 7 * DAY
    for name, value in profile.items():
        if value is not None:
            features[f"p:{name}={value}"] = 1.0
    if timing:
        features["t:days_since_last"] = (cut - (start if last is None else last)) / DAY
        features["t:active_days"] = float(len(days))
        features["t:events_first_week"] = float(first_week)
        features["t:events_last_week"] = float(last_week)
    return features


def _matrix(rows: Sequence[dict[str, float]], columns: Mapping[str, int]) -> NDArray[np.float64]:
    out = np.zeros((len(rows), len(columns)))
    for i, row in enumerate(rows):
        for name, value in row.items():
            j = columns.get(name)
            if j is not None:
                out[i, j] = value
    return out


def classifier_scores(
    history: History,
    train: Sequence[Labelled],
    test: Sequence[Labelled],
    make: Callable[[], Any],
    timing: bool = False,
) -> list[float]:
    """Held-out probabilities of a scikit-learn classifier fitted on the training leads."""
    train_rows = [lead_features(history, lead, at, timing) for lead, _, at in train]
    test_rows = [lead_features(history, lead, at, timing) for lead, _, at in test]
    levels: dict[str, set[str]] = {}
    for row in train_rows:
        for name in row:
            if name.startswith("p:"):
                attribute, _, value = name.partition("=")
                levels.setdefault(attribute, set()).add(value)
    names = {
        k for r in train_rows for k in r if len(levels.get(k.partition("=")[0], ())) <= MAX_LEVELS
    }
    columns = {name: j for j, name in enumerate(sorted(names))}
    clf = make()
    clf.fit(_matrix(train_rows, columns), np.asarray([y for _, y, _ in train], dtype=int))
    return [float(p) for p in clf.predict_proba(_matrix(test_rows, columns))[:, 1]]


def _logreg(seed: int) -> Callable[[], Any]:
    def make() -> Any:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))

    return make


def _boosting(seed: int) -> Callable[[], Any]:
    def make() -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(random_state=seed)

    return make


def ebm_scores(
    history: History, train: Sequence[Labelled], test: Sequence[Labelled], seed: int
) -> list[float]:
    """Held-out scores of an Explainable Boosting Machine (no interactions) on the same traits
    the fitted model's bands are cut from."""
    import pandas as pd
    from interpret.glassbox import ExplainableBoostingClassifier

    probe = learning_model(default_model())

    def sample(o: Labelled) -> tuple[Any, float]:
        return history.state(o[0], probe, o[2]), o[2].timestamp()

    train_samples = [sample(o) for o in train]
    chosen = variables(default_model(), train_samples, 20)

    def frame(samples: Sequence[tuple[Any, float]]) -> Any:
        rows = [measure(s, at, chosen) for s, at in samples]
        table = pd.DataFrame(rows, columns=[v.name for v in chosen])
        for v in chosen:
            table[v.name] = table[v.name].astype(object if v.kind == "category" else float)
        return table

    ebm = ExplainableBoostingClassifier(interactions=0, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it notes that its charts leave missing values out
        ebm.fit(frame(train_samples), np.asarray([y for _, y, _ in train], dtype=int))
    return [float(p) for p in ebm.decision_function(frame([sample(o) for o in test]))]


def _result(
    name: str, scores: Sequence[float], labels: Sequence[bool], start: float, bounded: bool
) -> Result:
    return Result(
        name,
        auc(scores, labels),
        quintile_lift(scores, labels),
        tied_share(scores, 0) if bounded else None,
        tied_share(scores, 100) if bounded else None,
        time.perf_counter() - start,
    )


def run(
    history: History, outcomes: Sequence[Labelled], holdout: int, seed: int, ebm: bool = False
) -> dict[str, Any]:
    """Every model's figures on one split of ``outcomes``."""
    by_lead = {o[0]: o for o in outcomes}
    train_ids, test_ids = split(list(by_lead), holdout, seed)
    train = [by_lead[lead] for lead in train_ids]
    test = [by_lead[lead] for lead in test_ids]
    labels = [y for _, y, _ in test]
    base = default_model()
    results = []

    start = time.perf_counter()
    results.append(_result("default", model_scores(history, test, base), labels, start, True))

    start = time.perf_counter()
    fitted = fit_model(history, train, base)
    fit_seconds = time.perf_counter() - start
    results.append(_result("fitted", model_scores(history, test, fitted), labels, start, True))

    for name, make, timing in (
        ("logreg_counts", _logreg(seed), False),
        ("boosting_counts", _boosting(seed), False),
        ("boosting_timing", _boosting(seed), True),
    ):
        start = time.perf_counter()
        scores = classifier_scores(history, train, test, make, timing)
        results.append(_result(name, scores, labels, start, False))
    if ebm:
        start = time.perf_counter()
        results.append(
            _result("ebm_traits", ebm_scores(history, train, test, seed), labels, start, False)
        )
    return {
        "leads": len(outcomes),
        "train": len(train),
        "held_out": len(test),
        "held_out_conversions": sum(labels),
        "seed": seed,
        "fit_seconds": round(fit_seconds, 3),
        "fitted_rules": len(fitted.fit.rules) + len(fitted.engagement.rules),
        "models": [asdict(r) for r in results],
    }


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def format_table(report: Mapping[str, Any]) -> str:
    lines = [
        f"{report['held_out']} held-out leads ({report['held_out_conversions']} converted), "
        f"trained on {report['train']}, split seed {report['seed']}",
        "",
        f"{'model':<18}{'AUC':>8}{'lift':>9}{'tied 0':>9}{'tied 100':>10}{'seconds':>9}",
    ]
    for m in report["models"]:
        tied0 = None if m["tied_at_0"] is None else 100 * m["tied_at_0"]
        tied100 = None if m["tied_at_100"] is None else 100 * m["tied_at_100"]
        lines.append(
            f"{m['model']:<18}{_fmt(m['auc'], '.3f'):>8}{_fmt(m['lift'], '.2f', 'x'):>9}"
            f"{_fmt(tied0, '.1f', '%'):>9}{_fmt(tied100, '.1f', '%'):>10}{m['seconds']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.worlds.evaluate",
        description="Score held-out leads of a world with every model and compare the rankings.",
    )
    parser.add_argument("--world", type=Path, required=True, help="events.jsonl + outcomes.csv")
    parser.add_argument("--holdout", type=int, default=3000, help="held-out leads")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    parser.add_argument(
        "--ebm", action="store_true", help="add interpret's Explainable Boosting Machine"
    )
    parser.add_argument(
        "--json", type=Path, help="where to write the figures (default: in --world)"
    )
    args = parser.parse_args(argv)
    history, outcomes = read_world(args.world)
    report = run(history, outcomes, args.holdout, args.seed, args.ebm)
    meta = args.world / "world.json"
    if meta.exists():
        report["world"] = orjson.loads(meta.read_bytes())
    print(format_table(report))
    target = args.json or args.world / f"evaluation-seed{args.seed}.json"
    target.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
