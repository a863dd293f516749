"""Fit: who the lead is. The sum of the fit rules the profile satisfies. Fit never decays."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from scoring.compiled import CompiledModel
from scoring.explain import Part
from scoring.state import ProfileEntry


def email_domain(email: Any) -> str | None:
    """The domain of an e-mail address, lowercased; None when ``email`` is not one."""
    if isinstance(email, str) and "@" in email:
        return email.rsplit("@", 1)[1].strip().lower()
    return None


def profile_view(profile: Mapping[str, ProfileEntry]) -> dict[str, Any]:
    """The current attribute values, plus ``email_domain`` derived from ``email``."""
    view = {name: entry[0] for name, entry in profile.items() if entry[0] is not None}
    if "email_domain" not in view:
        domain = email_domain(view.get("email"))
        if domain is not None:
            view["email_domain"] = domain
    return view


def fit_parts(view: Mapping[str, Any], cm: CompiledModel) -> list[Part]:
    """One part per fired fit rule, before the fit clamp."""
    return [
        Part(r.id, "fit", r.points, r.description or f"fit rule {r.id}")
        for r in cm.fit_rules
        if r.match(view)
    ]


def fit_points(view: Mapping[str, Any], cm: CompiledModel) -> float:
    """The raw fit sum (no explanation, for the fast path); ``fsum``, as over the parts."""
    return math.fsum(r.points for r in cm.fit_rules if r.match(view))
