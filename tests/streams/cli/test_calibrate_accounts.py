"""``leadscore calibrate`` with account outcomes (``account_id,converted,scored_at``), and the
simulator's accounts.csv, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from streams.cli import app
from tests.support.events import T0, event, profile

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    args = ["simulate", "--leads", "3000", "--days", "45", "--seed", "11", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_simulate_writes_account_outcomes(world: Path) -> None:
    header, *rows = (world / "accounts.csv").read_text().splitlines()
    assert header == "account_id,converted,scored_at"
    assert 800 <= len(rows) <= 1600  # fewer accounts than leads: companies have several
    assert b'"anonymous_id"' in (world / "events.jsonl").read_bytes()


def test_account_outcomes_report_auc_lift_and_bands(world: Path, tmp_path: Path) -> None:
    report = tmp_path / "accounts.html"
    args = ["--events", str(world / "events.jsonl"), "--outcomes", str(world / "accounts.csv")]
    result = runner.invoke(app, ["calibrate", *args, "--json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = len((world / "accounts.csv").read_text().splitlines()) - 1
    assert data["subject"] == "accounts" and data["leads"] == rows
    assert data["lift"] >= 2 and 0.6 < data["auc"] < 0.9
    assert sum(b["leads"] for b in data["bands"]) == rows
    assert {r["rule"] for r in data["rules"]} == {"account_target_industry", "account_201_plus"}
    html = report.read_text()
    assert "Account score calibration: default v1" in html and "accounts scored" in html

    text = runner.invoke(app, ["calibrate", *args])
    assert text.exit_code == 0
    assert f"{rows} accounts" in text.stdout and "band (quantile)   accounts" in text.stdout
    fit = runner.invoke(app, ["calibrate", *args, "--fit", "--out", str(tmp_path / "m.yaml")])
    assert fit.exit_code == 2 and "takes lead outcomes" in fit.stderr


def _small(tmp_path: Path) -> Path:
    raw = [
        {**profile(T0, "a", company_size=500, industry="SaaS"), "account_id": "acme"},
        {**event("meeting_booked", T0, "b"), "account_id": "acme"},
        {**event("webinar_attended", T0, "c"), "account_id": "globex"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in raw))
    return path


def _calibrate(tmp_path: Path, csv: str) -> tuple[int, str]:
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(csv)
    args = ["calibrate", "--events", str(_small(tmp_path)), "--outcomes", str(outcomes), "--json"]
    result = runner.invoke(app, args)
    return result.exit_code, result.stderr


def test_a_small_account_file_scores_each_account_at_its_moment(tmp_path: Path) -> None:
    code, err = _calibrate(
        tmp_path, "account_id,converted,scored_at\nacme,true,\nglobex,false,2026-03-03T00:00:00Z\n"
    )
    assert code == 0, err
    assert "used 2 of 2 outcome rows" in err


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("account_id,scored_at\nacme,\n", "the header needs the column(s) converted"),
        ("converted\ntrue\n", "the header needs the column(s) lead_id (lead_id or account_id"),
        ("lead_id,account_id,converted\na,acme,true\n", "has both lead_id and account_id"),
    ],
)
def test_header_errors_name_the_columns(tmp_path: Path, csv: str, message: str) -> None:
    code, err = _calibrate(tmp_path, csv)
    assert code == 2 and message in err


def test_bad_rows_name_the_row_and_the_column(tmp_path: Path) -> None:
    csv = (
        "account_id,converted,scored_at\n"
        "acme,true,\n"
        ",true,\n"
        "initech,true,\n"
        "acme,false,\n"
        "globex,maybe,\n"
        "globex,true,yesterday\n"
        "globex,true,2026-03-01T00:00:00Z\n"
    )
    code, err = _calibrate(tmp_path, csv)
    assert code == 1
    assert "line 3: account_id is empty" in err
    assert "line 4: account_id: unknown account 'initech'" in err
    assert "line 5: account_id: account 'acme' is already listed on line 2" in err
    assert "line 6: converted: cannot read 'maybe'" in err
    assert "line 7: scored_at: 'yesterday' is not RFC 3339" in err
    assert "line 8: scored_at: account 'globex' had no leads by then" in err
    assert "used 1 of 7 outcome rows" in err
