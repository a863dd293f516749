"""Which series the worker exports and which a PromQL expression names."""

from __future__ import annotations

import re

from streams.observability.metrics import Metrics


def exported_series() -> set[str]:
    """Every series name the worker's registry can expose (counters' _total, histograms' parts)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        kind = family.type
        if kind == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif kind == "histogram":
            names |= {f"{family.name}_{p}" for p in ("bucket", "sum", "count", "created")}
        else:
            names.add(family.name)
    return names


_FUNCTIONS = {
    "sum", "max", "min", "avg", "rate", "increase", "deriv", "histogram_quantile", "clamp_min",
    "by", "and", "or", "unless", "le", "on", "without", "humanizePercentage", "absent",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that name series (not functions, labels or keywords)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_groupings = re.sub(r"\b(by|without|on)\s*\([^)]*\)", "", without_labels)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_groupings)
    names = set(re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {n for n in names if n not in _FUNCTIONS and not n.startswith("__")}
