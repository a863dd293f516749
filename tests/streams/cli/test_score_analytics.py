"""``leadscore score --analytics``: a file of analytics-spec calls scores as the same story told
in events does, per lead and per account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from streams.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "analytics"
AT = "2026-03-05T00:00:00Z"


def _score(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    result = runner.invoke(app, ["score", "--at", AT, *args])
    return result.exit_code, [orjson.loads(x) for x in result.stdout.splitlines()], result.stderr


def test_spec_calls_score_as_their_native_telling() -> None:
    calls, native = str(FIXTURES / "story.calls.jsonl"), str(FIXTURES / "story.events.jsonl")
    code, leads, err = _score("--analytics", calls)
    assert code == 0, err
    assert "20 events from 18 calls" in err
    code, expected, _ = _score(native)
    assert code == 0
    assert [(r["lead_id"], r["score"]) for r in leads] == [
        (r["lead_id"], r["score"]) for r in expected
    ]
    code, accounts, _ = _score("--analytics", "--accounts", calls)
    assert code == 0
    _, native_accounts, _ = _score("--accounts", native)
    assert accounts == native_accounts
    assert [(a["account_id"], a["engaged_contacts"], a["hot"]) for a in accounts] == [
        ("acct-acme", 3, True)
    ]


def test_refused_calls_are_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(
        b'{"type": "page", "userId": "u", "timestamp": "2026-03-02T09:00:00Z",'
        b' "properties": {"path": "/pricing"}}\n'
        b'{"type": "track", "userId": "u", "event": "Nope"}\n'
    )
    code, leads, err = _score("--analytics", str(path))
    assert code == 1 and [r["lead_id"] for r in leads] == ["u"]
    assert "line 2: event: track event 'Nope' is not in the track table" in err


def test_model_check_names_a_bad_track_table_entry(tmp_path: Path) -> None:
    model = tmp_path / "m.yaml"
    model.write_text(
        "name: m\nversion: 1\nanalytics:\n  track:\n    Demo Requested: meeting_booked\n"
        "    Trial Started: trial\n"
    )
    result = runner.invoke(app, ["model", "check", str(model)])
    assert result.exit_code == 1
    assert f"{model}:analytics.track (line 5): 'Trial Started' must map to one of" in result.stdout
