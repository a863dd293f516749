"""Training a model on closed-won outcomes, end to end, as ``leadscore calibrate --fit`` does it.

Split the leads, learn points on one part (:mod:`scoring.learn`), choose the hot threshold, then
judge the old and the new model on the leads held out, beside gradient boosting on the same
features, and store the held-out conversion per score band in the new model. The command line only
reads the files and prints; everything that decides a figure is here, so the evaluation harness of
outside worlds and the tests run exactly what users run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import yaml

from scoring.calibrate import Row, Summary, lift, quantile_bands, ranked_rows, roc_auc, summarize
from scoring.engine import evaluate
from scoring.history import History
from scoring.learn import (
    Change,
    boosting_reference,
    build_model,
    calibration_table,
    fit,
    holdout,
    learning_model,
    matching_threshold,
    share_threshold,
)
from scoring.model import Model, parse_model
from scoring.state import LeadState

# a lead with its outcome: (lead id, converted, the moment it is judged at)
Labelled = tuple[str, bool, datetime]


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """How to train: the held-out share and its seed, the regression, and how to judge."""

    holdout: float = 0.3
    seed: int = 0
    penalty: Literal["l1", "l2"] = "l2"
    strength: float = 1.0  # scikit-learn's C
    bands: int = 5
    catch: float = 0.8
    hot_share: float | None = None  # None: as many hot leads as the old model


@dataclass(frozen=True, slots=True)
class Trained:
    """A trained model and how it did on the held-out leads against the old one."""

    text: str  # the model file, with a header saying how it was made
    model: Model
    changes: list[Change]
    trained_on: int
    old: Summary  # the old model on the held-out leads
    new: Summary  # the new model on the same leads
    reference_auc: float | None  # gradient boosting on the same features and leads
    reference_lift: float | None


def rule_points(model: Model) -> dict[str, float]:
    """Each rule id and its points, fit rules first, in model order."""
    return {
        **{r.id: r.points for r in model.fit.rules},
        **{r.id: r.points for r in model.engagement.rules},
    }


def model_summary(rows: Sequence[Row], model: Model, bands: int, share: float) -> Summary:
    """The calibration figures of ``model`` over scored leads, with its calibration table's
    expected conversion when it has one."""
    expected = None if model.calibration is None else model.calibration.rate_at
    return summarize(
        rows,
        model.name,
        model.version,
        model.thresholds.hot,
        rule_points(model),
        bands,
        share,
        expected,
    )


def account_summary(rows: Sequence[Row], model: Model, bands: int, share: float) -> Summary:
    """The calibration figures of ``model``'s accounts section over scored accounts: the hot
    split at its account threshold (100 when it has none), rules read as its account fit rules."""
    section = model.accounts
    if section is None:
        raise ValueError(f"model {model.label} has no accounts section")
    hot = section.thresholds.hot if section.thresholds.hot is not None else 100
    points = {r.id: r.points for r in section.fit.rules}
    found = summarize(rows, model.name, model.version, hot, points, bands, share)
    return replace(found, subject="accounts")


def _at(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def train(
    history: History,
    labelled: Sequence[Labelled],
    model: Model,
    options: TrainingOptions,
    source: str = "fitted",
    progress: Callable[[int, int], None] | None = None,
) -> Trained:
    """Learn points for ``model`` from ``labelled`` leads and judge them on held-out ones.

    ``progress(done, total)`` is called while lead states are built, the longest step.
    ``source`` names the file the model will be written to, for the errors of loading it.
    Raises ValueError when the outcomes cannot teach anything (e.g. no lead converted).
    """
    train_ids, test_ids = holdout([lead for lead, _, _ in labelled], options.holdout, options.seed)
    by_lead = {lead: (converted, at) for lead, converted, at in labelled}
    probe = learning_model(model)  # states that also hold what the window variables count
    samples: dict[str, tuple[LeadState, float]] = {}
    for n, (lead, _, at) in enumerate(labelled, start=1):
        samples[lead] = (history.state(lead, probe, at), at.timestamp())
        if progress is not None and n % 5000 == 0:
            progress(n, len(labelled))
    train_samples = [samples[lead] for lead in train_ids]
    train_labels = [by_lead[lead][0] for lead in train_ids]
    learned = fit(model, train_samples, train_labels, options.penalty, options.strength)
    design, scale = learned.design, learned.scale
    name = f"{model.name}-fitted"
    about = f"{model.name} with points learned from {len(train_ids)} leads' outcomes."

    def make(hot: int | None) -> tuple[str, list[Change], Model]:
        text, changes = build_model(
            model, design.features, learned.weights, scale, name, model.version, about, hot
        )
        return text, changes, parse_model(text, source=source)  # must load like any other

    _, _, first = make(None)
    fitted_scores = [evaluate(s, first, _at(t), explained=False).score for s, t in train_samples]
    if options.hot_share is None:
        old_scores = [evaluate(s, model, _at(t), explained=False).score for s, t in train_samples]
        hot = matching_threshold(old_scores, fitted_scores, model.thresholds.hot)
        why = f"makes as many training leads hot as {model.thresholds.hot} did under {model.label}"
    else:
        hot = share_threshold(fitted_scores, options.hot_share)
        why = f"makes at most {options.hot_share:.1%} of the training leads hot (--hot-share)"
    text, changes, fitted = make(hot)
    shown = ", ".join(b.variable.name for b in design.binned[:8])
    header = (
        f"# Fitted by `leadscore calibrate --fit` from {model.label}: {len(train_ids)} leads for "
        f"training, {len(test_ids)} held out (seed {options.seed}).\n"
        f"# {options.penalty.upper()}-regularised logistic regression "
        f"(C={options.strength:g}); rules that rounded to 0 points are left out.\n"
        f"# base {scale.base:.1f}, {scale.points_to_double_odds:.1f} points to double the odds "
        "(the 1st and 99th percentile training leads at 5 and 95).\n"
        f"# The hot threshold {hot} {why}.\n"
        f"# Bands (optbinning, monotone) of {len(design.binned)} variables: {shown}"
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
    old = model_summary(held_out(model), model, options.bands, options.catch)
    new = model_summary(fitted_rows, fitted, options.bands, options.catch)
    data = yaml.safe_load(text)
    data["calibration"] = calibration_table(
        [(r.score, r.converted) for r in fitted_rows], options.bands
    )
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    calibrated = parse_model(text, source=source)  # the table too must load like any other part
    header += (
        f"# calibration: conversion per score band observed on the {len(test_ids)} held-out "
        "leads (rates pooled where a higher band converted less).\n"
    )
    test = [samples[lead] for lead in test_ids]
    labels = [by_lead[lead][0] for lead in test_ids]
    reference = ranked_rows(
        boosting_reference(learned.x, train_labels, design.matrix(test), options.seed), labels
    )
    return Trained(
        header + text,
        calibrated,
        changes,
        len(train_ids),
        old,
        new,
        roc_auc(reference),
        lift(quantile_bands(reference, options.bands)),
    )
