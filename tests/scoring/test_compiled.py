from __future__ import annotations

import pytest

from scoring.compiled import compiled, path_of
from scoring.model import default_model, parse_model


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://Acme.example/Pricing?utm=1#top", "/pricing"),
        ("/compare/x?y=1", "/compare/x"),
        ("https://acme.example", "/"),
    ],
)
def test_path_of(url: str, path: str) -> None:
    assert path_of(url) == path


def test_signals_are_type_and_category_plus_own_signals_for_pattern_rules() -> None:
    cm = compiled(default_model())
    assert list(cm.signals_of("email_opened", {})) == ["email_opened"]
    assert list(cm.signals_of("page_view", {"path": "/plans"})) == ["page_view:pricing"]
    assert list(cm.signals_of("page_view", {"url": "https://x.example/pricing/enterprise"})) == [
        "page_view:pricing",
        "r:enterprise_pricing",
    ]
    assert list(cm.signals_of("page_view", {"path": "/about"})) == ["page_view:other"]
    assert list(cm.signals_of("page_view", {"path": "/about", "page_category": "Pricing"})) == [
        "page_view:pricing"
    ]


def test_rules_fed_by_a_signal() -> None:
    model = parse_model(
        """
        name: x
        version: 1
        engagement:
          rules:
            - {id: any_page, event: page_view, points: 1, min_count: 5}
            - {id: docs, event: page_view, page_category: docs, points: 2}
        """
    )
    cm = compiled(model)
    assert [r.id for r in cm.rules_for_signal("page_view:docs")] == ["any_page", "docs"]
    assert [r.id for r in cm.rules_for_signal("page_view:other")] == ["any_page"]
    assert cm.rules_for_signal("email_opened") == ()
    assert compiled(model) is cm


def test_naive_times_are_refused() -> None:
    from datetime import datetime

    from scoring.engine import evaluate
    from scoring.state import LeadState

    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(LeadState.new("x"), default_model(), datetime(2026, 1, 1))
