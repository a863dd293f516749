"""``leadscore score --accounts``: the buying group from a file, one JSON line per account."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from typer.testing import CliRunner

from streams.cli import app
from tests.support.events import T0, event, profile

runner = CliRunner()
AT = (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z")


def contact(lead: str, account: str | None) -> list[dict[str, Any]]:
    """A manager at a 500-person SaaS company who watched the demo video and viewed pricing:
    engaged (25 points) but nowhere near hot alone."""
    events = [
        profile(T0, lead, job_title="Manager", company_size=500, industry="SaaS"),
        event("demo_video_watched", T0 + timedelta(minutes=5), lead),
        event("page_view", T0 + timedelta(minutes=6), lead, path="/pricing"),
    ]
    if account is not None:
        events[1]["account_id"] = account
    return events


def run(tmp_path: Path, events: list[dict[str, Any]], *args: str) -> list[dict[str, Any]]:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    result = runner.invoke(app, ["score", str(path), "--at", AT, *args])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_three_engaged_contacts_make_one_hot_account_though_no_lead_is_hot(
    tmp_path: Path,
) -> None:
    events = [e for n in range(3) for e in contact(f"lead-{n}", "acct-1")]
    events += contact("lead-9", "acct-2") + contact("lead-8", None)
    leads = run(tmp_path, events)
    assert not any(lead["hot"] for lead in leads)
    assert all(lead["engagement"] >= 20 for lead in leads)
    accounts = run(tmp_path, events, "--accounts")
    assert [(a["account_id"], a["hot"], a["engaged_contacts"]) for a in accounts] == [
        ("acct-1", True, 3),
        ("acct-2", False, 1),
    ]
    top = accounts[0]
    assert top["route"] == "account_team"
    assert sorted(m["lead_id"] for m in top["members"]) == ["lead-0", "lead-1", "lead-2"]
    assert sum(c["points"] for c in top["explanation"]) == top["score"]


def test_a_lead_joins_the_account_of_its_latest_event_carrying_one(tmp_path: Path) -> None:
    events = contact("lead-1", "acct-old")
    later = event("email_opened", T0 + timedelta(hours=1), "lead-1")
    later["account_id"] = "acct-new"
    earlier = event("email_opened", T0 - timedelta(hours=1), "lead-1")
    earlier["account_id"] = "acct-older"
    accounts = run(tmp_path, [later, *events, earlier], "--accounts")
    assert [a["account_id"] for a in accounts] == ["acct-new"]
