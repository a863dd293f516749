"""Engagement: what the lead did, decayed, then capped per rule, per group and overall.

Order of operations for a rule fed by events at times t1..tn, evaluated at ``at``:

1. per-event rule: ``points * sum(decay(at - ti))``; frequency rule (``min_count: N``): ``points``
   once the raw count reaches N, times ``decay(at - latest ti)``;
2. per-rule ``cap`` bounds the magnitude of the rule's points;
3. a group ``cap`` scales all members of the group down proportionally so they sum to the cap;
4. the engagement total is clamped to the section's [min, max] by the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scoring.compiled import CompiledModel, EngagementRuleC
from scoring.decay import factor
from scoring.explain import Part
from scoring.model import DAY


def _rule_points(
    signals: Mapping[str, list[float]],
    cm: CompiledModel,
    at: float,
    recent: Mapping[str, list[float]] | None = None,
) -> dict[int, tuple[EngagementRuleC, float, float, float]]:
    """Per fired rule index: (rule, points after rule cap, weight, count).

    The weight is the decayed count (per-event rules), the decay factor (frequency rules), or 1
    (window and recency rules, which do not decay); the count is the raw count, or the count in
    the window for window rules.
    """
    k = cm.decay_k
    acc: dict[int, list[float]] = {}
    windows: dict[int, list[float]] = {}
    kinds: dict[int, int] = {}  # distinct_signals rules: signals seen (in the window)
    for key, (n, value, ref) in signals.items():
        rules = cm.rules_for_signal(key)
        if not rules:
            continue
        decayed = value * factor(k, at - ref)
        for r in rules:
            slot = acc.get(r.index)
            if slot is None:
                acc[r.index] = [n, decayed, ref]
            else:
                slot[0] += n
                slot[1] += decayed
                if ref > slot[2]:
                    slot[2] = ref
            if r.distinct is not None:
                if r.within is None:
                    kinds[r.index] = kinds.get(r.index, 0) + 1
                elif recent:
                    start = at - r.within
                    if any(start < t <= at for t in recent.get(key, ())):
                        kinds[r.index] = kinds.get(r.index, 0) + 1
            elif r.within is not None and recent:
                windows.setdefault(r.index, []).extend(recent.get(key, ()))
    fired: dict[int, tuple[EngagementRuleC, float, float, float]] = {}
    rules_by_index = cm.engagement_rules
    for index, (n, decayed, last) in acc.items():
        r = rules_by_index[index]
        if r.since is not None:
            age = at - last if at > last else 0.0
            if not r.since[0] <= age < r.since[1]:
                continue
            decayed, points = 1.0, r.points
        elif r.distinct is not None:
            n = kinds.get(index, 0)
            if not r.distinct[0] <= n <= r.distinct[1]:
                continue
            decayed, points = 1.0, r.points
        elif r.within is not None:
            start = at - r.within
            n = sum(1 for t in windows.get(index, ()) if start < t <= at)
            decayed = 1.0
            if r.min_count is None:
                if not n:
                    continue
                points = r.points * n
            elif r.min_count <= n <= (r.max_count or n):
                points = r.points
            else:
                continue
        elif r.min_count is None:
            points = r.points * decayed
        elif r.min_count <= n <= (r.max_count or n):
            decayed = factor(k, at - last)
            points = r.points * decayed
        else:
            continue
        if r.cap is not None and abs(points) > r.cap:
            points = math.copysign(r.cap, points)
        fired[index] = (r, points, decayed, n)
    return fired


def _group_scales(
    fired: Mapping[int, tuple[EngagementRuleC, float, float, float]], cm: CompiledModel
) -> dict[str, float]:
    sums: dict[str, float] = {}
    for r, points, _, _ in fired.values():
        if r.group is not None:
            sums[r.group] = sums.get(r.group, 0.0) + points
    scales: dict[str, float] = {}
    for group, total in sums.items():
        cap = cm.group_caps[group]
        if abs(total) > cap:
            scales[group] = cap / abs(total)
    return scales


def engagement_points(
    signals: Mapping[str, list[float]],
    cm: CompiledModel,
    at: float,
    recent: Mapping[str, list[float]] | None = None,
) -> float:
    """The engagement sum before the overall clamp (no explanation, for the fast path)."""
    fired = _rule_points(signals, cm, at, recent)
    scales = _group_scales(fired, cm) if cm.group_caps else {}
    # fsum is exact, so this equals the sum over engagement_parts to the bit, in any order
    return math.fsum(
        points * scales.get(r.group, 1.0) if r.group is not None else points
        for r, points, _, _ in fired.values()
    )


def _bin(r: EngagementRuleC) -> str:
    """The counts a frequency rule or count bin wants, as its detail shows them."""
    if r.min_count is None:
        return ""
    if r.max_count is None:
        return f" (>= {r.min_count})"
    if r.max_count == r.min_count:
        return f" ({r.min_count})"
    return f" ({r.min_count}-{r.max_count})"


def _detail(r: EngagementRuleC, decayed: float, n: float) -> str:
    """How a fired rule's points were made, as a sentence a sales rep can check."""
    count = f"{int(n)} event(s)"
    bin_ = _bin(r)
    if r.since is not None:
        low, high = r.since[0] / DAY, r.since[1] / DAY
        span = f"{low:g}+ days" if math.isinf(high) else f"{low:g}-{high:g} days"
        return f"last event {span} ago: {r.points:g}"
    if r.distinct is not None:
        low, high = r.distinct
        band = f"{low:g}+" if math.isinf(high) else f"{low:g}-{high:g}"
        band = f"{low:g}" if low == high else band
        days = "" if r.within is None else f" in the last {r.within / DAY:g} days"
        return f"{int(n)} different kinds of engagement{days} ({band}): {r.points:g}"
    if r.within is not None:
        days = f"in the last {r.within / DAY:g} days"
        if r.min_count is None:
            return f"{count} {days} x {r.points:g}"
        return f"{count} {days}{bin_}: {r.points:g}"
    if r.min_count is None:
        return f"{count}, decayed weight {decayed:.3f} x {r.points:g}"
    return f"{count}{bin_}, {r.points:g} decayed by {decayed:.3f}"


def engagement_parts(
    signals: Mapping[str, list[float]],
    cm: CompiledModel,
    at: float,
    recent: Mapping[str, list[float]] | None = None,
) -> list[Part]:
    """One part per fired engagement rule, in model order, with a detail saying how it was made."""
    fired = _rule_points(signals, cm, at, recent)
    scales = _group_scales(fired, cm)
    parts = []
    for index in sorted(fired):
        r, points, decayed, n = fired[index]
        detail = _detail(r, decayed, n)
        weight = n if r.within is not None and r.min_count is None else decayed
        if r.cap is not None and abs(r.points * weight) > r.cap:
            detail += f", capped at {r.cap:g}"
        scale = scales.get(r.group, 1.0) if r.group is not None else 1.0
        if scale != 1.0:
            detail += f", group {r.group} capped at {cm.group_caps[r.group or '']:g}"
            points *= scale
        if r.description:
            detail = f"{r.description}: {detail}"
        parts.append(Part(r.id, "engagement", points, detail))
    return parts
