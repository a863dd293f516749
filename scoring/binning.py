"""Candidate rules from optimal monotonic binning of what leads did and what they are.

A scorecard turns each measurable trait of a lead (how often it viewed pricing in the last week,
how many days it has been quiet, its company size) into a few bands, and gives each band points.
The bands come from optbinning, a library made for exactly this: it searches the cut points that
separate converted from lost leads best, under the constraint that the conversion rate rises (or
falls) steadily from band to band, and that every band holds enough leads to trust. Monotone bands
are what make the points explainable: one more pricing view never lowers a score.

Every band is a rule of the model file, so the engine, not this module, decides whether it fires:

* counts of a signal in the last 7 or 30 days -> ``within_days`` count bins;
* days since the latest engagement -> ``days_since_last`` bands;
* how many kinds of engagement, ever or in the last 7 days -> ``distinct_signals`` bands;
* a numeric profile attribute -> a ``range`` condition; a text attribute -> an ``in`` condition.

The band a lead falls in when no such rule fires (no events in the window, never engaged, the
attribute missing) is the reference: it earns nothing, and the base absorbs its weight.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from scoring.compiled import OWN_SIGNAL_PREFIX, PAGE_VIEW
from scoring.fit import profile_view
from scoring.model import ANY_EVENT, DAY, Model
from scoring.state import LeadState

LEARN_DEPTH = 6  # event times per signal the learning states keep: window counts exact to 5
COUNT_CAP = LEARN_DEPTH - 1  # a window count is binned up to this; the top band is open
WINDOWS = (7.0, 30.0)  # days of the window count variables
MAX_BINS = 5
MIN_BIN_SHARE = 0.01  # of the training leads, in every band
MAX_LEVELS = 50  # a text attribute with more values is an identifier, not a trait

Kind = Literal["window", "quiet", "distinct", "number", "category"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One trait of a lead, measured at the moment it is judged."""

    name: str
    kind: Kind
    signal: str | None = None  # window: the signal counted
    days: float | None = None  # window, distinct: the window (None: ever)
    attribute: str | None = None  # number, category: the profile attribute
    levels: Mapping[str, Any] = field(default_factory=dict)  # category: label -> value


@dataclass(frozen=True, slots=True)
class TraitBand:
    """A band of one variable that is not the reference: the rule body and its weight of
    evidence relative to the reference band."""

    section: Literal["fit", "engagement"]
    rule: dict[str, Any]
    woe: float
    low: float = -math.inf  # a numeric band holds low <= value <= high (< high if open)
    high: float = math.inf
    open_high: bool = False
    labels: frozenset[str] | None = None  # a category band holds these labels

    def holds(self, values: NDArray[np.float64] | Sequence[Any]) -> NDArray[np.float64]:
        """1 for each measured value inside the band, else 0: the band's rule firing or not,
        computed at once for many leads."""
        if self.labels is not None:
            return np.array([1.0 if v in self.labels else 0.0 for v in values])
        x = np.asarray(values, dtype=float)  # None (no value) becomes nan: never inside
        with np.errstate(invalid="ignore"):
            inside = (x >= self.low) & ((x < self.high) if self.open_high else (x <= self.high))
        return inside.astype(float)


@dataclass(frozen=True, slots=True)
class Binned:
    """A variable with its bands (the reference left out), and its information value."""

    variable: Variable
    bands: tuple[TraitBand, ...]
    iv: float


def _label(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.strip():
        return value.strip().casefold()
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def variables(
    model: Model, samples: Sequence[tuple[LeadState, float]], min_support: int
) -> list[Variable]:
    """The traits worth binning among these leads: signals and profile attributes seen often
    enough, except attributes a fit rule of ``model`` already reads."""
    seen: Counter[str] = Counter()
    values: dict[str, list[Any]] = {}
    for state, _ in samples:
        seen.update(k for k in state.signals if not k.startswith(OWN_SIGNAL_PREFIX))
        for name, value in profile_view(state.profile).items():
            if value is not None and name != "email":
                values.setdefault(name, []).append(value)
    out = [Variable("quiet_days", "quiet"), Variable("kinds", "distinct")]
    out.append(Variable(f"kinds_{WINDOWS[0]:g}d", "distinct", days=WINDOWS[0]))
    for key in sorted(k for k, n in seen.items() if n >= min_support):
        for days in WINDOWS:
            out.append(Variable(f"{key}@{days:g}d", "window", signal=key, days=days))
    used = {c.attribute for r in model.fit.rules for c in (*r.all_, *r.any_)}
    for name in sorted(set(values) - used):
        found = values[name]
        if len(found) < min_support:
            continue
        if all(_is_number(v) for v in found):
            out.append(Variable(f"profile:{name}", "number", attribute=name))
            continue
        labels = Counter(label for v in found if (label := _label(v)) is not None)
        if 2 <= len(labels) <= MAX_LEVELS:
            first: dict[str, Any] = {}
            for v in found:
                label = _label(v)
                if label is not None and label not in first:
                    first[label] = v.strip() if isinstance(v, str) else v
            out.append(Variable(f"profile:{name}", "category", attribute=name, levels=first))
    return out


def measure(state: LeadState, at: float, chosen: Sequence[Variable]) -> list[Any]:
    """The lead's value of every variable (None when it has none)."""
    view: Mapping[str, Any] | None = None
    latest: float | None = None
    kinds = 0
    for key, (_, _, ref) in state.signals.items():
        if not key.startswith(OWN_SIGNAL_PREFIX):
            kinds += 1
            latest = ref if latest is None else max(latest, ref)
    row: list[Any] = []
    for v in chosen:
        if v.kind == "window":
            assert v.days is not None
            start = at - v.days * DAY
            times = state.recent.get(v.signal or "", ())
            row.append(min(sum(1 for t in times if start < t <= at), COUNT_CAP))
        elif v.kind == "quiet":
            row.append(None if latest is None else max(at - latest, 0.0) / DAY)
        elif v.kind == "distinct":
            if v.days is None:
                row.append(kinds)
            else:
                start = at - v.days * DAY
                row.append(
                    sum(
                        1
                        for key, times in state.recent.items()
                        if not key.startswith(OWN_SIGNAL_PREFIX)
                        and any(start < t <= at for t in times)
                    )
                )
        else:
            if view is None:
                view = profile_view(state.profile)
            value = view.get(v.attribute or "")
            if v.kind == "number":
                row.append(float(value) if value is not None and _is_number(value) else None)
            else:
                label = _label(value)
                row.append(label if label in v.levels else None)
    return row


def _integers(column: Sequence[float]) -> bool:
    return all(float(x).is_integer() for x in column)


def _count_bounds(low: float, high: float) -> tuple[int, int | None]:
    """An integer band [ceil(low), ceil(high) - 1] from the cut points low <= x < high."""
    first = max(1, math.ceil(low))
    return first, None if math.isinf(high) else math.ceil(high) - 1


def _rule_of(v: Variable, low: float, high: float, integers: bool) -> dict[str, Any] | None:
    """The rule body for ``low <= value < high`` of a numeric variable, None if it cannot fire."""
    if v.kind in ("window", "distinct"):
        first, last = _count_bounds(low, high)
        if last is not None and last < first:
            return None
        band = {"min": first, **({} if last is None else {"max": last})}
        if v.kind == "distinct":
            window = {} if v.days is None else {"within_days": v.days}
            return {"event": ANY_EVENT, "distinct_signals": band, **window}
        event, _, category = (v.signal or "").partition(":")
        body: dict[str, Any] = {"event": event}
        if event == PAGE_VIEW:
            body["page_category"] = category
        counts = {"min_count": first, **({} if last is None else {"max_count": last})}
        return {**body, "within_days": v.days, **counts}
    if v.kind == "quiet":
        days = {
            **({} if low <= 0 or math.isinf(low) else {"min": round(low, 3)}),
            **({} if math.isinf(high) else {"max": round(high, 3)}),
        }
        return {"event": ANY_EVENT, "days_since_last": days} if days else None
    # a number: inclusive ranges, so the top end stops just below the next cut point
    top: float | None
    bottom: float | None
    if integers:
        top = None if math.isinf(high) else math.ceil(high) - 1
        bottom = None if math.isinf(low) else math.ceil(low)
    else:
        top = None if math.isinf(high) else math.nextafter(high, -math.inf)
        bottom = None if math.isinf(low) else low
    if top is not None and bottom is not None and top < bottom:
        return None
    span = {k: x for k, x in (("min", bottom), ("max", top)) if x is not None}
    return {"attribute": v.attribute, "range": span} if span else None


def _bands(v: Variable, optb: Any, table: Any, integers: bool) -> tuple[TraitBand, ...]:
    """The bands of one binned variable, from its splits and its binning ``table``."""
    woe = [float(w) for w in table["WoE"].to_numpy()[:-1]]  # the bins, Special, Missing
    splits = optb.splits
    bins = len(splits) + 1 if v.kind != "category" else len(splits)
    missing = woe[bins + 1]
    profile = v.kind in ("number", "category")
    section: Literal["fit", "engagement"] = "fit" if profile else "engagement"
    if v.kind == "category":
        out = []
        for group, w in zip(splits, woe[:bins], strict=True):
            values = [v.levels[str(label)] for label in group]
            test = {"equals": values[0]} if len(values) == 1 else {"in": values}
            condition = {"attribute": v.attribute, **test}
            labels = frozenset(map(str, group))
            out.append(TraitBand(section, condition, w - missing, labels=labels))
        return tuple(out)
    cuts = [-math.inf, *(float(s) for s in splits), math.inf]
    reference = missing if v.kind in ("quiet", "number") else woe[0]  # missing, or a count of 0
    out = []
    for i, w in enumerate(woe[:bins]):
        if v.kind in ("window", "distinct") and i == 0:
            continue  # the band holding 0: nothing fires
        rule = _rule_of(v, cuts[i], cuts[i + 1], integers)
        if rule is not None:
            out.append(TraitBand(section, rule, w - reference, *_interval(v, rule)))
    return tuple(out)


def _interval(v: Variable, rule: Mapping[str, Any]) -> tuple[float, float, bool]:
    """The values for which ``rule`` fires, as the engine decides it."""
    if v.kind == "window":
        return rule["min_count"], rule.get("max_count", math.inf), False
    if v.kind == "distinct":
        band = rule["distinct_signals"]
    elif v.kind == "quiet":
        band = rule["days_since_last"]
        return band.get("min", 0.0), band.get("max", math.inf), True
    else:
        band = rule["range"]
    return band.get("min", -math.inf), band.get("max", math.inf), False


def bin_variables(
    chosen: Sequence[Variable], rows: Sequence[Sequence[Any]], labels: Sequence[bool]
) -> list[Binned]:
    """Optimal monotonic bands of every variable over the training leads; variables that do not
    split (one band) are left out."""
    import pandas as pd
    from optbinning import BinningProcess

    names = [v.name for v in chosen]
    frame = pd.DataFrame(list(rows), columns=names)
    for v in chosen:
        frame[v.name] = frame[v.name].astype(object if v.kind == "category" else float)
    categorical = [v.name for v in chosen if v.kind == "category"]
    trend = {"monotonic_trend": "auto_asc_desc", "min_prebin_size": MIN_BIN_SHARE}
    process = BinningProcess(
        names,
        categorical_variables=categorical,
        max_n_bins=MAX_BINS,
        min_bin_size=MIN_BIN_SHARE,
        binning_fit_params={v.name: trend for v in chosen if v.kind != "category"},
    )
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning warns about pandas internals it uses
        process.fit(frame, np.asarray(labels, dtype=int))
        for v in chosen:
            optb = process.get_binned_variable(v.name)
            if len(optb.splits) == 0:
                continue
            integers = v.kind != "number" or _integers(frame[v.name].dropna().tolist())
            table = optb.binning_table.build()
            bands = _bands(v, optb, table, integers)
            if bands:
                out.append(Binned(v, bands, float(table["IV"].to_numpy()[-1])))
    return out


def woe_columns(
    x: NDArray[np.float64], spans: Sequence[tuple[int, NDArray[np.float64]]]
) -> NDArray[np.float64]:
    """Each variable's weight of evidence per lead, from the 0/1 columns of its bands.

    ``spans`` gives, per variable, the first column of its bands and their weights of evidence.
    """
    out = np.zeros((x.shape[0], len(spans)))
    for j, (start, woe) in enumerate(spans):
        out[:, j] = x[:, start : start + len(woe)] @ woe
    return out
