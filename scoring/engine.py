"""The engine: fold events into a lead's state, and evaluate the state into an explained score.

``apply_event`` is the only mutation of the signals and profile; ``evaluate`` is pure and can be
called at any time (decay makes the score a function of time); ``update_hot`` records the
hysteresis memory; ``cools_at`` tells a timer when a hot lead will cool if nothing happens.
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scoring import decay
from scoring.compiled import CompiledModel, compiled
from scoring.engagement import engagement_parts, engagement_points
from scoring.events import Event, EventType
from scoring.explain import Contribution, Part, explain
from scoring.fit import fit_parts, fit_points, profile_view
from scoring.grades import grade
from scoring.model import Model
from scoring.routing import route
from scoring.state import LeadState, event_digest
from scoring.thresholds import Transition, is_hot, step

__all__ = [
    "Contribution",
    "Score",
    "Transition",
    "apply_event",
    "apply_record",
    "cools_at",
    "evaluate",
    "quick_score",
    "update_hot",
]

PROFILE_UPDATED = EventType.PROFILE_UPDATED.value
COOLING_HORIZON = timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class Score:
    """A lead's score under one model at one time, with the rules that make it up."""

    lead_id: str
    model: str
    model_version: str | int
    at: datetime
    score: int
    fit: float
    engagement: float
    grade: str
    route: str | None
    hot: bool
    explanation: tuple[Contribution, ...]
    # From the model's calibration table, when it has one: the conversion rate observed for
    # leads of this score, beside the rate of all leads.
    expected_conversion: float | None = None
    base_rate: float | None = None

    def calibrated(self) -> dict[str, float]:
        """``expected_conversion`` and ``base_rate``, for answers and alerts; empty without."""
        if self.expected_conversion is None or self.base_rate is None:
            return {}
        return {"expected_conversion": self.expected_conversion, "base_rate": self.base_rate}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``leadscore score``."""
        return {
            "lead_id": self.lead_id,
            "score": self.score,
            "fit": round(self.fit, 2),
            "engagement": round(self.engagement, 2),
            "grade": self.grade,
            "hot": self.hot,
            "route": self.route,
            "model": self.model,
            "model_version": self.model_version,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            **self.calibrated(),
            "explanation": [c.to_dict() for c in self.explanation],
        }


def apply_record(
    state: LeadState,
    cm: CompiledModel,
    t: float,
    digest: bytes,
    event_type: str,
    props: dict[str, Any],
) -> bool:
    """:func:`apply_event` on pre-extracted fields (the offline fast path uses it directly)."""
    seen = state.seen
    if digest in seen:
        return False
    seen.add(digest)
    if event_type == PROFILE_UPDATED:
        tie = int.from_bytes(digest[:4], "big")
        profile = state.profile
        for name, value in props.items():
            current = profile.get(name)
            if current is None or (t, tie) > (current[1], current[2]):
                profile[name] = (value, t, tie)
        return True
    k = cm.decay_k
    signals = state.signals
    depth = cm.recent_depth
    for key in cm.signals_of(event_type, props):
        entry = signals.get(key)
        if entry is None:
            signals[key] = [1, 1.0, t]
        else:
            entry[0] += 1
            entry[1], entry[2] = decay.add(entry[1], entry[2], t, k)
        if depth:  # the newest `depth` times: the same list whatever order events arrive in
            times = state.recent.setdefault(key, [])
            insort(times, t)
            if len(times) > depth:
                del times[0]
    return True


def apply_event(state: LeadState, event: Event, model: Model) -> bool:
    """Fold one event into ``state`` in place. Returns False (and changes nothing) for a repeat.

    The result does not depend on the order events arrive in: profile attributes keep the value
    with the latest ``occurred_at`` (ties broken by the event id digest) and decayed counters are
    sums that any order reaches.
    """
    return apply_record(
        state,
        compiled(model),
        event.occurred_at.timestamp(),
        event_digest(event.event_id),
        event.type.value,
        event.properties,
    )


def _epoch(at: datetime) -> float:
    if at.tzinfo is None:
        raise ValueError("times passed to the engine must be timezone-aware")
    return at.timestamp()


def _round_score(total: float) -> int:
    # round away float noise from summation order first, then half up
    return math.floor(round(total, 6) + 0.5)


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def quick_score(state: LeadState, cm: CompiledModel, at: float, fit: float | None = None) -> int:
    """The integer score only, without an explanation; ``fit`` may be passed in when cached."""
    model = cm.model
    if fit is None:
        fit = _clamp(fit_points(profile_view(state.profile), cm), model.fit.min, model.fit.max)
    eng = engagement_points(state.signals, cm, at, state.recent)
    eng = _clamp(eng, model.engagement.min, model.engagement.max)
    return _round_score(_clamp(model.base + fit + eng, 0.0, 100.0))


def _clamp_part(name: str, kind_total: float, low: float, high: float) -> Part | None:
    clamped = _clamp(kind_total, low, high)
    if clamped == kind_total:
        return None
    bound = "maximum" if clamped == high else "minimum"
    return Part(f"{name}_cap", "adjustment", clamped - kind_total, f"{name} {bound} {clamped:g}")


def evaluate(state: LeadState, model: Model, at: datetime, explained: bool = True) -> Score:
    """Score ``state`` as of ``at``. Pure: the hysteresis memory is read, not written.

    ``explained=False`` leaves the explanation empty: the stream worker evaluates every changed lead
    but needs the reasons only for the few that cross a threshold.

    ``hot`` is what :func:`update_hot` will record for this score: the threshold applies when the
    lead is not hot yet, the re-arm level when it already is. ``route`` is set for hot leads only.
    """
    cm = compiled(model)
    at_s = _epoch(at)
    view = profile_view(state.profile)
    if explained:
        parts = fit_parts(view, cm)
        eng_parts = engagement_parts(state.signals, cm, at_s, state.recent)
        fit_raw = math.fsum(p.points for p in parts)
        eng_raw = math.fsum(p.points for p in eng_parts)
    else:  # the same sums (fsum is exact, so equal to the bit), without building the reasons
        fit_raw = fit_points(view, cm)
        eng_raw = engagement_points(state.signals, cm, at_s, state.recent)
    fit = _clamp(fit_raw, model.fit.min, model.fit.max)
    eng = _clamp(eng_raw, model.engagement.min, model.engagement.max)
    total = model.base + fit + eng
    score = _round_score(_clamp(total, 0.0, 100.0))
    explanation: tuple[Contribution, ...] = ()
    if explained:
        fit_adj = _clamp_part("fit", fit_raw, model.fit.min, model.fit.max)
        eng_adj = _clamp_part("engagement", eng_raw, model.engagement.min, model.engagement.max)
        total_adj = _clamp_part("score", total, 0.0, 100.0)
        base = [Part("base", "base", model.base, "every lead starts here")] if model.base else []
        all_parts = [*base, *parts, *([fit_adj] if fit_adj else []), *eng_parts]
        all_parts += [p for p in (eng_adj, total_adj) if p is not None]
        explanation = explain(all_parts, score)
    hot = is_hot(state.hot, score, model.thresholds)
    fit_grade, eng_grade = grade(fit, eng, model.grades)
    return Score(
        lead_id=state.lead_id,
        model=model.name,
        model_version=model.version,
        at=at.astimezone(UTC),
        score=score,
        fit=round(fit, 9),
        engagement=round(eng, 9),
        grade=fit_grade + eng_grade,
        route=route(model.routing, fit_grade, eng_grade, view, cm.route_matchers) if hot else None,
        hot=hot,
        explanation=explanation,
        expected_conversion=None if model.calibration is None else model.calibration.rate_at(score),
        base_rate=None if model.calibration is None else model.calibration.base_rate,
    )


def update_hot(state: LeadState, score: Score, model: Model) -> Transition | None:
    """Record ``score`` in the hysteresis memory of ``state``; returns the transition, if any.

    ``score`` must come from :func:`evaluate` on the same state and model. It lives here, beside
    :class:`Score`, so that :mod:`scoring.thresholds` stays below the engine and needs no score.
    """
    return step(state, score.score, model.thresholds)


def cools_at(state: LeadState, model: Model, now: datetime) -> datetime | None:
    """For a hot lead, the earliest time >= ``now`` its score drops below the re-arm level.

    Assumes no new events. Found by bisection to the second over a ten-year horizon; None when
    the lead is not hot or would still be hot after the horizon (e.g. fit alone keeps it hot).
    """
    if not state.hot:
        return None
    cm = compiled(model)
    rearm = model.thresholds.rearm
    fit = _clamp(fit_points(profile_view(state.profile), cm), model.fit.min, model.fit.max)
    low = _epoch(now)
    if quick_score(state, cm, low, fit) < rearm:
        return now
    high = low + COOLING_HORIZON.total_seconds()
    if quick_score(state, cm, high, fit) >= rearm:
        return None
    while high - low > 1.0:
        mid = (low + high) / 2
        if quick_score(state, cm, mid, fit) < rearm:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(math.ceil(high), tz=UTC)
