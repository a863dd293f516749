"""Learning rule points from outcomes, while keeping the model an ordinary, explainable file.

The model's own rules are features as they are: a fit rule is 1 when it fires; an engagement rule
is the points it would give at one point per event, decayed and capped (so a cap of 20 on a
10-point rule counts at most two events). Beside them, every trait of a lead that the data shows
(counts of each signal in the last 7 and 30 days, days since the latest engagement, how many kinds
of engagement, profile attributes no fit rule reads, custom CRM fields included) is cut into
monotone bands by :mod:`scoring.binning`, and each band is a candidate rule. A regularised logistic
regression (scikit-learn) weighs the rules and the bands' weights of evidence against the outcomes,
as a credit scorecard does, and the weights are scaled to whole points: the result is a model file
in the usual format, with every point traceable to a rule, that ``score``, the worker and
``calibrate`` load as they load any other.

The scale is shared by all rules (points must add up). Learned points are log-odds relative to an
average lead, so a fitted model also gets a ``base`` that every lead starts from: together they map
the training leads' log-odds onto 0-100 (the 1st percentile at 5, the 99th at 95), as credit
scorecards map odds onto points. Without the base most learned points are negative, most leads
clamp at 0, and the ties destroy the ranking. The fit and engagement clamps are widened so that
they never cut a learned sum. Groups are dropped from a fitted model: the regression already
accounts for signals that overlap, and the per-rule caps keep their meaning.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray

from scoring.binning import (
    COUNT_CAP,
    WINDOWS,
    Binned,
    bin_variables,
    measure,
    variables,
    woe_columns,
)
from scoring.compiled import PAGE_VIEW, compiled
from scoring.engagement import engagement_parts
from scoring.fit import fit_parts, profile_view
from scoring.model import ANY_EVENT, Model
from scoring.state import LeadState

Section = Literal["fit", "engagement"]
SCORE_LOW, SCORE_HIGH = 5.0, 95.0  # where the 1st and the 99th percentile lead land
SECTION_LIMIT = 100.0  # a fitted model's fit and engagement clamps: wide enough never to bind
MIN_PROPOSED_POINTS = 3  # a proposed rule worth less is more likely noise than signal
_SLUG = re.compile(r"[^a-z0-9_.-]+")

# a lead as the learner sees it: its state and the moment (epoch seconds) it is judged at
Sample = tuple[LeadState, float]


@dataclass(frozen=True, slots=True)
class Feature:
    """One column of the design matrix, and the rule it becomes in the fitted model."""

    id: str
    section: Section
    existing: bool
    rule: dict[str, Any]  # the rule's YAML body without points and cap
    count_cap: float | None = None  # engagement: most (decayed) events the rule counts
    old_points: float | None = None


def _unit_model(model: Model) -> Model:
    """The model with every rule worth one point (per event), caps in events, and no groups."""
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    for rule in data["fit"]["rules"]:
        rule["points"] = 1
    for rule, original in zip(data["engagement"]["rules"], model.engagement.rules, strict=True):
        rule["points"] = 1
        rule.pop("group", None)
        if original.cap is not None and original.points:
            rule["cap"] = original.cap / abs(original.points)
        else:
            rule.pop("cap", None)
    data["engagement"]["groups"] = {}
    return Model.model_validate(data)


def _slug(*parts: object) -> str:
    return _SLUG.sub("_", "_".join(str(p) for p in parts).lower()).strip("_") or "rule"


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def _existing(model: Model) -> list[Feature]:
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    out = []
    for raw, rule in zip(dumped["fit"]["rules"], model.fit.rules, strict=True):
        body = {k: v for k, v in raw.items() if k != "points"}
        out.append(Feature(rule.id, "fit", True, body, old_points=rule.points))
    for raw, erule in zip(dumped["engagement"]["rules"], model.engagement.rules, strict=True):
        body = {k: v for k, v in raw.items() if k not in {"points", "cap", "group"}}
        cap = erule.cap / abs(erule.points) if erule.cap is not None and erule.points else None
        out.append(Feature(erule.id, "engagement", True, body, cap, old_points=erule.points))
    return out


def _band_id(binned: Binned, rule: Mapping[str, Any], taken: set[str]) -> str:
    """A rule id that says which band it is: ``pricing_7d_2_3``, ``quiet_0_2d``, ``industry_1``."""
    v = binned.variable
    if v.kind == "window":
        low, high = rule["min_count"], rule.get("max_count")
        signal = (v.signal or "").replace(f"{PAGE_VIEW}:", "page_")
        label = _slug(signal, f"{v.days:g}d", low, high if high is not None else "plus")
    elif v.kind == "distinct":
        band = rule["distinct_signals"]
        days = "" if v.days is None else f"{v.days:g}d"
        label = _slug("kinds", days, band["min"], band.get("max", "plus"))
    elif v.kind == "quiet":
        days = rule["days_since_last"]
        label = _slug("quiet", f"{days.get('min', 0):g}", f"{days['max']:g}d" if "max" in days
                      else "plus_d")  # fmt: skip
    elif v.kind == "number":
        span = rule["range"]
        low, high = span.get("min"), span.get("max")
        label = _slug(v.attribute, f"{low:g}" if low is not None else "under",
                      f"{high:g}" if high is not None else "plus")  # fmt: skip
    else:
        label = _slug(v.attribute, "band")
    return _unique(label, taken)


def learning_model(model: Model) -> Model:
    """``model`` with one 0-point window rule that makes lead states keep the latest
    ``LEARN_DEPTH`` event times of every signal, which the window and breadth variables count.
    States built with it score exactly as under ``model``."""
    taken = {r.id for r in model.engagement.rules}
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    probe = {"event": ANY_EVENT, "within_days": max(WINDOWS), "min_count": COUNT_CAP, "points": 0}
    data["engagement"]["rules"].append({"id": _unique("learning_depth", taken), **probe})
    return Model.model_validate(data)


class Design:
    """The features of a model over some leads: its own rules first, then the bands of every
    variable (see :mod:`scoring.binning`), each a rule at one point.

    The bands are learned from ``labels``. Samples must be built with :func:`learning_model` of
    ``model``, so their states hold the event times the window variables count.
    """

    def __init__(
        self,
        model: Model,
        samples: Sequence[Sample],
        labels: Sequence[bool],
        min_support: int = 20,
    ) -> None:
        self.model = model
        taken = {r.id for r in model.fit.rules} | {r.id for r in model.engagement.rules}
        existing = _existing(model)
        chosen = variables(model, samples, min_support)
        rows = [measure(s, at, chosen) for s, at in samples]
        self.binned = bin_variables(chosen, rows, labels)
        self.measured = [b.variable for b in self.binned]
        self.features = list(existing)
        self.linear = len(existing)  # rules weighed as they are, before the bands
        self.spans: list[tuple[int, NDArray[np.float64]]] = []
        for binned in self.binned:
            self.spans.append((len(self.features), np.array([b.woe for b in binned.bands])))
            for band in binned.bands:
                rid = _band_id(binned, band.rule, taken)
                self.features.append(Feature(rid, band.section, False, {"id": rid, **band.rule}))
        self.own = _unit_model(model)
        data = self.own.model_dump(mode="json", by_alias=True, exclude_none=True)
        for f in self.features[self.linear :]:
            data[f.section]["rules"].append({**f.rule, "points": 1})
        self.unit = Model.model_validate(data)  # every feature a rule at one point
        where = {v.name: i for i, v in enumerate(chosen)}
        kept = [where[v.name] for v in self.measured]
        self.training = self.matrix(samples, [[row[i] for i in kept] for row in rows])

    def matrix(
        self, samples: Sequence[Sample], values: Sequence[Sequence[Any]] | None = None
    ) -> NDArray[np.float64]:
        """One row per lead, one column per feature: what each rule gives at one point.

        The model's own rules are evaluated by the engine; the bands from the measured values,
        all leads at once, which gives what the engine would (a test holds them to it) in a
        fraction of the time.
        """
        cm = compiled(self.own)
        column = {f.id: i for i, f in enumerate(self.features[: self.linear])}
        out = np.zeros((len(samples), len(self.features)))
        for row, (state, at) in enumerate(samples):
            for part in fit_parts(profile_view(state.profile), cm):
                out[row, column[part.rule]] = 1.0
            for part in engagement_parts(state.signals, cm, at, state.recent):
                i = column.get(part.rule)
                if i is not None:
                    out[row, i] = part.points
        if self.binned:
            if values is None:  # else already measured, one row per sample
                values = [measure(s, at, self.measured) for s, at in samples]
            for j, binned in enumerate(self.binned):
                start = self.spans[j][0]
                column_j = [row[j] for row in values]
                for k, band in enumerate(binned.bands):
                    out[:, start + k] = band.holds(column_j)
        return out

    def inputs(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """What the regression sees: the model's own rules as they are, and one weight-of-evidence
        column per binned variable, so each variable's points rise or fall with its bands."""
        return np.hstack([x[:, : self.linear], woe_columns(x, self.spans)])

    def rule_weights(self, coefficients: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log-odds per feature from the regression's coefficients over :meth:`inputs`."""
        out = np.zeros(len(self.features))
        out[: self.linear] = coefficients[: self.linear]
        for j, (start, woe) in enumerate(self.spans):
            out[start : start + len(woe)] = coefficients[self.linear + j] * woe
        return out


def _both_outcomes(y: Sequence[bool]) -> NDArray[np.int_]:
    """The outcomes as 0/1; a regression needs both kinds to learn anything."""
    labels = np.asarray(y, dtype=int)
    if labels.min() == labels.max():
        raise ValueError("the outcomes need both converted and not converted leads")
    return labels


def fit_weights(
    x: NDArray[np.float64],
    y: Sequence[bool],
    penalty: Literal["l1", "l2"] = "l2",
    strength: float = 1.0,
) -> NDArray[np.float64]:
    """Log-odds per unit of each feature, from a regularised logistic regression.

    ``strength`` is scikit-learn's ``C`` (smaller regularises harder). L1 sets weak features to
    exactly zero, which keeps a fitted model short.
    """
    from sklearn.linear_model import LogisticRegression

    labels = _both_outcomes(y)
    l1 = penalty == "l1"
    solver = "liblinear" if l1 else "lbfgs"
    if "penalty" in LogisticRegression().get_params() and (
        LogisticRegression().get_params()["penalty"] != "deprecated"
    ):  # scikit-learn before 1.8 chooses the norm with `penalty`
        clf = LogisticRegression(C=strength, penalty=penalty, solver=solver, max_iter=5000)
    else:
        clf = LogisticRegression(
            C=strength, l1_ratio=1.0 if l1 else 0.0, solver=solver, max_iter=5000
        )
    clf.fit(x, labels)
    return np.asarray(clf.coef_[0], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Fitted:
    """What :func:`fit` learned: the features, their matrix over the training leads, the
    log-odds per feature, and the scale that turns log-odds into points."""

    design: Design
    x: NDArray[np.float64]
    weights: NDArray[np.float64]
    scale: Scale


def fit(
    model: Model,
    samples: Sequence[Sample],
    labels: Sequence[bool],
    penalty: Literal["l1", "l2"] = "l2",
    strength: float = 1.0,
) -> Fitted:
    """Learn points for ``model``'s rules and for the bands of every variable from leads and
    their outcomes. ``samples`` must be built with :func:`learning_model`."""
    _both_outcomes(labels)
    design = Design(model, samples, labels)
    x = design.training
    coefficients = fit_weights(design.inputs(x), labels, penalty, strength)
    weights = design.rule_weights(coefficients)
    return Fitted(design, x, weights, score_scale(x, weights))


@dataclass(frozen=True, slots=True)
class Scale:
    """How learned log-odds become points: ``points`` per unit of log-odds, from ``base``."""

    points: float
    base: float

    @property
    def points_to_double_odds(self) -> float:
        return self.points * math.log(2)


def score_scale(x: NDArray[np.float64], w: NDArray[np.float64]) -> Scale:
    """The scale that puts the 1st percentile of the leads' log-odds at 5 points and the 99th at
    95: scores use the whole 0-100 range, and few leads tie at either end."""
    logits = x @ w
    if not logits.size:
        return Scale(1.0, 50.0)
    low, high = float(np.quantile(logits, 0.01)), float(np.quantile(logits, 0.99))
    if high - low <= 1e-9:
        return Scale(1.0, 50.0 - low)
    points = (SCORE_HIGH - SCORE_LOW) / (high - low)
    return Scale(points, SCORE_LOW - points * low)


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to one rule: its old and new points (None: absent)."""

    rule: str
    section: Section
    old: float | None
    new: int | None


def _ordered(rule: dict[str, Any]) -> dict[str, Any]:
    """Rule keys in reading order, a single ``all`` condition written inline, no empty keys."""
    rule = {k: v for k, v in rule.items() if v not in ("", [], {})}
    if len(rule.get("all", [])) == 1 and not rule.get("any"):
        rule.update(rule.pop("all")[0])
    first = ["id", "description", "points", "event", "page_category", "path_pattern"]
    keys = [k for k in first if k in rule] + [k for k in rule if k not in first]
    return {k: rule[k] for k in keys}


def _tidy(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


def build_model(
    model: Model,
    features: Sequence[Feature],
    weights: NDArray[np.float64],
    scale: Scale,
    name: str,
    version: str | int,
    description: str,
    hot: int | None = None,
) -> tuple[str, list[Change]]:
    """The fitted model as YAML text, and the per-rule changes.

    Rules that round to zero points are left out, and so are proposed rules worth less than
    ``MIN_PROPOSED_POINTS``. ``hot`` replaces the hot threshold (the re-arm gap is kept).
    """
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.update(name=name, version=version, description=description, base=round(scale.base, 1))
    for section in ("fit", "engagement"):
        data[section].update(min=-SECTION_LIMIT, max=SECTION_LIMIT)
    if hot is not None:
        gap = model.thresholds.hot - model.thresholds.rearm
        data["thresholds"] = {"hot": hot, "rearm": max(0, hot - gap)}
    rules: dict[Section, list[dict[str, Any]]] = {"fit": [], "engagement": []}
    changes = []
    for feature, weight in zip(features, weights, strict=True):
        points = round(float(weight) * scale.points)
        if not feature.existing and abs(points) < MIN_PROPOSED_POINTS:
            points = 0
        changes.append(Change(feature.id, feature.section, feature.old_points, points or None))
        if points == 0:
            continue
        rule = {**feature.rule, "points": points}
        capped = feature.section == "engagement" and feature.count_cap is not None
        if capped and not feature.rule.get("min_count"):
            assert feature.count_cap is not None
            rule["cap"] = max(abs(points), round(abs(points) * feature.count_cap))
        rules[feature.section].append(_ordered(rule))
    data["fit"]["rules"] = rules["fit"]
    data["engagement"]["rules"] = rules["engagement"]
    data["engagement"]["groups"] = {}
    text = yaml.safe_dump(_tidy(data), sort_keys=False, default_flow_style=None, width=100)
    return text, [c for c in changes if c.old is not None or c.new is not None]


def holdout(lead_ids: Sequence[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """Split leads into (train, test) with ``share`` held out; the same seed, the same split."""
    if not 0 < share < 1:
        raise ValueError("the held-out share must be between 0 and 1")
    ordered = sorted(lead_ids)
    random.Random(seed).shuffle(ordered)
    cut = round(len(ordered) * share)
    return sorted(ordered[cut:]), sorted(ordered[:cut])


def matching_threshold(old_scores: Sequence[int], new_scores: Sequence[int], old_hot: int) -> int:
    """The hot threshold that makes about as many leads hot under the new scores as the old.

    The lowest threshold (1..100) whose share of hot leads does not exceed the old share: sales
    gets the same number of alerts, and a better model makes them better alerts.
    """
    if not old_scores or not new_scores:
        return old_hot
    share = sum(s >= old_hot for s in old_scores) / len(old_scores)
    for t in range(1, 101):
        if sum(s >= t for s in new_scores) / len(new_scores) <= share:
            return t
    return 100


def share_threshold(scores: Sequence[int], share: float) -> int:
    """The hot threshold that makes at most ``share`` of these leads hot: what sales can call.

    The lowest threshold (1..100) whose share of hot leads does not exceed ``share``.
    """
    if not 0 < share < 1:
        raise ValueError("the hot share must be between 0 and 1")
    for t in range(1, 101):
        if sum(s >= t for s in scores) <= share * len(scores):
            return t
    return 100


def boosting_reference(
    x_train: NDArray[np.float64],
    labels: Sequence[bool],
    x_test: NDArray[np.float64],
    seed: int = 0,
) -> list[float]:
    """Held-out conversion probabilities from gradient boosting (scikit-learn's
    HistGradientBoosting) on the very features the points model was fitted on: the black box a
    points model is measured against, so the price of explainability is shown, not guessed."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=seed)
    model.fit(x_train, np.asarray(labels, dtype=int))
    return [float(p) for p in model.predict_proba(x_test)[:, 1]]


def calibration_table(rows: Sequence[tuple[int, bool]], bands: int = 5) -> dict[str, Any]:
    """The model file's ``calibration`` section from held-out (score, converted) pairs.

    Scores are cut into ``bands`` bands of about equal size (ties kept together), and each band's
    conversion rate is observed. Where a higher band converted less than a lower one, the two are
    pooled into their common rate (pool-adjacent-violators), so the table never promises less
    for a higher score.
    """
    from scoring.calibrate import Row, quantile_bands

    if not rows:
        raise ValueError("a calibration table needs leads")
    found = quantile_bands([Row(str(i), s, c) for i, (s, c) in enumerate(rows)], bands)
    blocks = [[b.low, b.conversions, b.leads] for b in found]  # [lowest score, won, leads]
    merged: list[list[int]] = []
    for block in blocks:
        merged.append(block)
        while len(merged) > 1 and merged[-2][1] * merged[-1][2] > merged[-1][1] * merged[-2][2]:
            _, won, leads = merged.pop()
            merged[-1][1] += won
            merged[-1][2] += leads
    table = [{"min": 0 if i == 0 else low, "rate": round(won / leads, 4)}
             for i, (low, won, leads) in enumerate(merged)]  # fmt: skip
    converted = sum(c for _, c in rows)
    return {"base_rate": round(converted / len(rows), 4), "leads": len(rows), "bands": table}
