"""An account scored as of a past moment (calibration's account outcomes) is what offline
``score --accounts`` says at that moment."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from scoring.events import parse_event
from scoring.history import History
from scoring.model import default_model
from scoring.offline import score_account_lines
from tests.support.events import T0, anonymous, event, identified, profile

HOUR = timedelta(hours=1)


def _story() -> list[dict[str, object]]:
    raw = [
        profile(T0, "a", job_title="VP", company_size=300, industry="SaaS"),
        event("webinar_attended", T0 + HOUR, "a"),
        profile(T0 + 2 * HOUR, "b", job_title="Director", company_size=300),
        event("meeting_booked", T0 + 3 * HOUR, "b"),
        anonymous("page_view", "v-1", T0 + 4 * HOUR, path="/pricing"),
        identified("c", "v-1", T0 + 5 * HOUR),
        event("demo_video_watched", T0 + 6 * HOUR, "c"),
        event("page_view", T0 + 7 * HOUR, "b", path="/compare/x"),  # b moves to another account
    ]
    accounts = ["acme", "acme", "acme", "acme", None, "acme", "acme", "other"]
    for e, account in zip(raw, accounts, strict=True):
        if account is not None:
            e["account_id"] = account
    return raw


@pytest.mark.parametrize("hours", [0.5, 2.5, 5.5, 6.5, 9])
def test_account_score_as_of_a_moment_is_offline_scoring_at_that_moment(hours: float) -> None:
    at = T0 + timedelta(hours=hours)
    raw = _story()
    history = History()
    for e in raw:
        parsed = parse_event(orjson.dumps(e))
        history.add(
            parsed.event_id,
            parsed.key,
            parsed.type.value,
            parsed.occurred_at.timestamp(),
            parsed.properties,
            parsed.anonymous,
            parsed.account_id,
        )
    expected, _ = score_account_lines([orjson.dumps(e) for e in raw], [default_model()], at, None)
    for account in expected:
        found = history.account_score(account.account_id, default_model(), at)
        assert found.to_dict() == account.to_dict()
    assert {a.account_id for a in expected} == {
        a for a in ("acme", "other") if history.account_state(a, default_model(), at).members
    }
