"""The shadow model: a candidate scored on live traffic beside the active models, heard by no one.

The worker scores the shadow like any model, but under another name (``shadow.<name>``), so
everything keyed by a model's name keeps the two apart: its state inside the lead's record, the
ids of its would-be alerts (built from lead, model and crossing as for real ones), and its metric
labels. Its hot alerts and coolings go to ``leads.shadow`` through the lead's outbox, with the same
compare-and-set as the rest, so a redelivered batch sends them again with the same ids and makes
no new crossing. It sends no score changes and adds nothing to a lead's history.
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring.model import Model

PREFIX = "shadow."


def as_shadow(candidate: Model, active: Sequence[Model]) -> Model:
    """``candidate`` renamed for the shadow; ValueError if that name is an active model's."""
    name = PREFIX + candidate.name
    if any(m.name == name for m in active):
        raise ValueError(f"an active model is already named {name!r}, the shadow's name")
    return candidate.model_copy(update={"name": name})


def is_shadow(name: str) -> bool:
    """Whether a state or metric label named ``name`` belongs to a shadow model."""
    return name.startswith(PREFIX)
