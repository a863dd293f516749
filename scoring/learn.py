"""Learning rule points from outcomes, while keeping the model an ordinary, explainable file.

Each rule becomes one feature: a fit rule is 1 when it fires; an engagement rule is the points it
would give at one point per event, decayed and capped (so a cap of 20 on a 10-point rule counts at
most two events). Signals and profile values that no rule reads yet become candidate features too,
custom CRM fields included. A regularised logistic regression (scikit-learn) weighs the features
against the outcomes, and the weights are scaled to whole points: the result is a model file in the
usual format, with every point traceable to a rule, that ``score``, the worker and ``calibrate``
load as they load any other.

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
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import yaml
from numpy.typing import NDArray

from scoring.conditions import Condition
from scoring.decay import factor
from scoring.engagement import engagement_parts
from scoring.events import EventType
from scoring.fit import fit_parts, profile_view
from scoring.model import ANY_EVENT, Model
from scoring.rules import OWN_SIGNAL_PREFIX, PAGE_VIEW, compiled
from scoring.state import LeadState

Section = Literal["fit", "engagement"]
SIGNAL_COUNT_CAP = 3.0  # a proposed engagement rule counts at most three (decayed) events
MAX_LEVELS = 12  # a profile attribute with more common values than this is not proposed
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
    signal: str | None = None  # candidate engagement feature: the signal key it reads
    match: Callable[[Mapping[str, Any]], bool] | None = None  # candidate fit feature


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


def _attribute_features(
    views: Sequence[Mapping[str, Any]], model: Model, min_support: int, taken: set[str]
) -> list[Feature]:
    """Profile values no fit rule looks at, common enough to learn from."""
    used = {c.attribute for r in model.fit.rules for c in (*r.all_, *r.any_)}
    values: dict[str, list[Any]] = {}
    for view in views:
        for name, value in view.items():
            if name not in used and name != "email":
                values.setdefault(name, []).append(value)
    out: list[Feature] = []
    for name in sorted(values):
        seen = values[name]
        conditions: list[tuple[str, dict[str, Any]]] = []
        if all(isinstance(v, bool) for v in seen):
            conditions = [("true", {"equals": True})]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in seen):
            distinct = sorted(set(seen))
            if len(distinct) >= 4:
                cuts = sorted({float(np.quantile(seen, q)) for q in (0.25, 0.5, 0.75)})
                conditions = [(f"{c:g}_plus", {"range": {"min": c}}) for c in cuts[1:] or cuts]
            else:
                conditions = [(f"{v:g}", {"equals": v}) for v in distinct]
        elif all(isinstance(v, str) for v in seen):
            counts = Counter(v.strip().casefold() for v in seen)
            common = [(v, n) for v, n in counts.most_common() if n >= min_support]
            if not common or len(common) > MAX_LEVELS or sum(n for _, n in common) < len(seen) / 2:
                continue
            spelling = {v.strip().casefold(): v.strip() for v in seen}
            conditions = [(v, {"equals": spelling[v]}) for v, _ in common]
        for label, test in conditions:
            condition = {"attribute": name, **test}
            matcher = Condition.model_validate(condition).compile()
            support = sum(1 for view in views if matcher(view))
            if min_support <= support <= len(views) - min_support:
                rid = _unique(_slug(name, label), taken)
                out.append(Feature(rid, "fit", False, {"id": rid, **condition}, match=matcher))
    return out


def _signal_features(
    samples: Sequence[Sample], model: Model, min_support: int, taken: set[str]
) -> list[Feature]:
    """Signals (event types, page categories) that no engagement rule reads."""
    cm = compiled(model)
    counts: Counter[str] = Counter()
    for state, _ in samples:
        counts.update(k for k in state.signals if not k.startswith(OWN_SIGNAL_PREFIX))
    out = []
    for key in sorted(counts):
        if counts[key] < min_support or cm.rules_for_signal(key):
            continue
        event, _, category = key.partition(":")
        body: dict[str, Any] = {"event": event}
        if event == PAGE_VIEW:
            body["page_category"] = category
        rid = _unique(_slug(key.replace("page_view:", "page_")), taken)
        out.append(
            Feature(rid, "engagement", False, {"id": rid, **body}, SIGNAL_COUNT_CAP, signal=key)
        )
    return out


# Candidate rules about when and how much, which per-event decayed points cannot express:
# count bins, the same bins within the last week, and days since the latest event.
COUNT_BINS = ((1, 1), (2, 3), (4, None))
WINDOW_DAYS = 7.0
QUIET_BINS = ((None, 3.0), (3.0, 7.0), (7.0, 14.0), (14.0, None))


def _timing_rules(model: Model) -> list[dict[str, Any]]:
    """Candidate rule bodies (points left out) for every kind of engagement, and for any."""
    sources: list[tuple[str, dict[str, Any]]] = [("any", {"event": ANY_EVENT})]
    for event_type in EventType:
        if event_type is EventType.PROFILE_UPDATED:
            continue
        if event_type is EventType.PAGE_VIEW:
            for category in model.page_categories:
                body = {"event": event_type.value, "page_category": category.category}
                sources.append((f"page_{category.category}", body))
        else:
            sources.append((event_type.value, {"event": event_type.value}))
    rules: list[dict[str, Any]] = []
    for label, body in sources:
        for low, high in COUNT_BINS:
            span = f"{low}_{high}" if high else f"{low}_plus"
            counts = {"min_count": low, **({"max_count": high} if high else {})}
            if label == "any" and (low > 1 or high):  # volume of all kinds (1 needs a max)
                rules.append({"id": f"{label}_count_{span}", **body, **counts})
            rules.append(
                {"id": f"{label}_week_{span}", **body, **counts, "within_days": WINDOW_DAYS}
            )
    for since, until in QUIET_BINS:
        days = {k: v for k, v in (("min", since), ("max", until)) if v is not None}
        name = f"{since or 0:g}_{until:g}" if until else f"{since:g}_plus"
        rules.append({"id": f"quiet_{name}_days", "event": ANY_EVENT, "days_since_last": days})
    return rules


def learning_model(model: Model) -> Model:
    """``model`` with every timing candidate at 0 points: lead states built with it keep the
    event times the candidates need, and score exactly as under ``model``."""
    taken = {r.id for r in model.engagement.rules}
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["engagement"]["rules"] += [
        {**rule, "points": 0} for rule in _timing_rules(model) if rule["id"] not in taken
    ]
    return Model.model_validate(data)


def _timing_features(model: Model, taken: set[str]) -> list[Feature]:
    out = []
    for rule in _timing_rules(model):
        if rule["id"] not in taken:
            taken.add(rule["id"])
            out.append(Feature(rule["id"], "engagement", False, rule))
    return out


class Design:
    """The features of a model over some leads: existing rules first, then candidates.

    The samples' states must be built with :func:`learning_model` of ``model``, so they hold the
    event times that the timing candidates count.
    """

    def __init__(self, model: Model, samples: Sequence[Sample], min_support: int = 20) -> None:
        self.model = model
        self.unit = _unit_model(learning_model(model))
        taken = {r.id for r in model.fit.rules} | {r.id for r in model.engagement.rules}
        views = [profile_view(s.profile) for s, _ in samples]
        self.features = [
            *_existing(model),
            *_attribute_features(views, model, min_support, taken),
            *_signal_features(samples, model, min_support, taken),
        ]
        timing = _timing_features(model, taken)
        self.features += timing
        self.timing_ids = frozenset(f.id for f in timing)
        self.min_support = min_support

    def supported(self, x: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Columns to keep: existing rules, and candidates that fire for enough leads and for
        enough leads not (a rule true of nearly everyone only learns the base rate)."""
        fired = (x != 0).sum(axis=0)
        rows = x.shape[0]
        enough = (fired >= self.min_support) & (fired <= rows - self.min_support)
        existing = np.array([f.existing for f in self.features], dtype=bool)
        return np.asarray(existing | enough, dtype=np.bool_)

    def keep(self, mask: NDArray[np.bool_]) -> None:
        """Drop the columns ``mask`` leaves out (see :meth:`supported`)."""
        self.features = [f for f, kept in zip(self.features, mask, strict=True) if kept]

    def matrix(self, samples: Sequence[Sample]) -> NDArray[np.float64]:
        """One row per lead, one column per feature."""
        cm = compiled(self.unit)
        k = cm.decay_k
        column = {f.id: i for i, f in enumerate(self.features)}
        candidates_fit = [(i, f.match) for i, f in enumerate(self.features) if f.match]
        candidates_eng = [(i, f.signal) for i, f in enumerate(self.features) if f.signal]
        out = np.zeros((len(samples), len(self.features)))
        for row, (state, at) in enumerate(samples):
            view = profile_view(state.profile)
            for part in fit_parts(view, cm):
                out[row, column[part.rule]] = 1.0
            for part in engagement_parts(state.signals, cm, at, state.recent):
                i = column.get(part.rule)
                if i is not None:
                    out[row, i] = part.points
            for i, match in candidates_fit:
                out[row, i] = 1.0 if match(view) else 0.0
            for i, key in candidates_eng:
                entry = state.signals.get(key or "")
                if entry is not None:
                    out[row, i] = min(entry[1] * factor(k, at - entry[2]), SIGNAL_COUNT_CAP)
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


def _fold_auc(
    x: NDArray[np.float64],
    labels: NDArray[np.int_],
    columns: NDArray[np.bool_],
    penalty: Literal["l1", "l2"],
    strength: float,
    folds: int,
) -> float:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    aucs = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, labels):
        w = fit_weights(x[train][:, columns], [bool(v) for v in labels[train]], penalty, strength)
        aucs.append(float(roc_auc_score(labels[test], x[test][:, columns] @ w)))
    return float(np.mean(aucs))


@dataclass(frozen=True, slots=True)
class Fitted:
    """What :func:`fit` learned: the features kept, their matrix and weights, and its scale.

    ``timing`` holds the cross-validated AUC without and with the timing candidates, on the
    training leads only: the candidates are kept only when they help there.
    """

    design: Design
    x: NDArray[np.float64]
    weights: NDArray[np.float64]
    scale: Scale
    timing: tuple[float, float]

    @property
    def timing_kept(self) -> bool:
        return any(f.id in self.design.timing_ids for f in self.design.features)


def fit(
    model: Model,
    samples: Sequence[Sample],
    labels: Sequence[bool],
    penalty: Literal["l1", "l2"] = "l2",
    strength: float = 1.0,
    folds: int = 3,
) -> Fitted:
    """Learn points for ``model``'s rules and the candidates from leads and their outcomes.

    ``samples`` must be built with :func:`learning_model`. Candidates that fire for too few leads
    are dropped; the timing family as a whole is kept only if it raises the AUC of 3-fold
    cross-validation on these leads: on worlds where conversion does not follow recency, a hundred
    timing columns add only noise.
    """
    design = Design(model, samples)
    x = design.matrix(samples)
    kept = design.supported(x)
    design.keep(kept)
    x = x[:, kept]
    y = _both_outcomes(labels)
    timing = np.array([f.id in design.timing_ids for f in design.features], dtype=bool)
    without = with_ = 0.0
    if timing.any():
        without = _fold_auc(x, y, ~timing, penalty, strength, folds)
        with_ = _fold_auc(x, y, np.ones_like(timing), penalty, strength, folds)
        if with_ <= without:
            design.keep(~timing)
            x = x[:, ~timing]
    weights = fit_weights(x, labels, penalty, strength)
    return Fitted(design, x, weights, score_scale(x, weights), (without, with_))


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
