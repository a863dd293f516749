"""``leadscore calibrate`` and ``leadscore simulate`` end to end, through typer's runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from scoring.model import parse_model
from streams.cli import app
from tests.support.events import T0, event, profile

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    result = runner.invoke(
        app, ["simulate", "--leads", "3000", "--days", "45", "--seed", "11", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _events(path: Path, raw: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in raw))
    return path


def test_simulate_is_deterministic_by_seed(tmp_path: Path) -> None:
    def run(seed: int, name: str) -> tuple[bytes, bytes]:
        out = tmp_path / name
        args = ["simulate", "--leads", "40", "--days", "10", "--seed", str(seed), "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return (out / "events.jsonl").read_bytes(), (out / "outcomes.csv").read_bytes()

    first = run(3, "a")
    assert first == run(3, "b")
    assert first != run(4, "c")
    header, *rows = first[1].decode().splitlines()
    assert header == "lead_id,converted,scored_at" and len(rows) == 40
    assert all(re.fullmatch(r"lead-\d{6},(true|false),2025-12-\d\dT[0-9:]{8}Z", r) for r in rows)


def test_calibrate_reports_lift_and_auc_on_simulated_data(world: Path) -> None:
    args = ["--events", str(world / "events.jsonl"), "--outcomes", str(world / "outcomes.csv")]
    result = runner.invoke(app, ["calibrate", *args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["leads"] == 3000 and data["model"] == "default"
    assert data["lift"] >= 2 and 0.6 < data["auc"] < 0.9 and data["healthy"] is True
    assert len(data["bands"]) == 5 and len(data["fixed_bands"]) == 5
    assert sum(b["leads"] for b in data["bands"]) == 3000
    assert {"hot", "catch", "rules", "distribution", "verdict", "conversion_rate"} <= set(data)
    assert "used 3000 of 3000 outcome rows" in result.stderr

    text = runner.invoke(app, ["calibrate", *args, "--bands", "4"])
    assert text.exit_code == 0
    assert "lift (top band / bottom band):" in text.stdout and "Healthy" in text.stdout


def test_fit_hot_share_sets_the_threshold(world: Path, tmp_path: Path) -> None:
    fitted = tmp_path / "fitted.yaml"
    args = ["--events", str(world / "events.jsonl"), "--outcomes", str(world / "outcomes.csv")]
    result = runner.invoke(
        app, ["calibrate", "--fit", *args, "--out", str(fitted), "--hot-share", "0.05"]
    )
    assert result.exit_code == 0, result.output
    assert "at most 5.0% of the training leads hot" in fitted.read_text()
    model = parse_model(fitted.read_text())
    assert 1 < model.thresholds.hot <= 100 and model.base != 0


def test_fit_writes_a_better_model_that_loads(world: Path, tmp_path: Path) -> None:
    fitted = tmp_path / "fitted.yaml"
    args = ["--events", str(world / "events.jsonl"), "--outcomes", str(world / "outcomes.csv")]
    result = runner.invoke(app, ["calibrate", "--fit", *args, "--out", str(fitted)])
    assert result.exit_code == 0, result.output
    auc = re.search(r"ROC AUC\s+([0-9.]+)\s+([0-9.]+)", result.stdout)
    assert auc is not None, result.stdout
    assert float(auc.group(2)) > float(auc.group(1))  # held-out: fitted beats the default
    reference = re.search(
        r"gradient boosting on the same features.*ROC AUC ([0-9.]+)", result.stdout
    )
    assert reference is not None and 0.5 < float(reference.group(1)) < 1
    header = fitted.read_text().splitlines()[:5]
    assert any("points to double the odds" in line for line in header)
    assert any(re.search(r"Bands \(optbinning, monotone\) of [1-9]", line) for line in header)
    check = runner.invoke(app, ["model", "check", str(fitted)])
    assert check.exit_code == 0 and "ok (model default-fitted" in check.stdout
    table = parse_model(fitted.read_text()).calibration
    assert table is not None and table.leads == 900  # the held-out leads (30% of 3,000)
    rates = [band.rate for band in table.bands]
    assert rates == sorted(rates) and rates[-1] > table.base_rate > rates[0]
    scored = runner.invoke(app, ["score", "--model", str(fitted), str(world / "events.jsonl")])
    first = json.loads(scored.stdout.splitlines()[0])
    assert first["expected_conversion"] == table.rate_at(first["score"])
    assert first["base_rate"] == table.base_rate
    judged = runner.invoke(app, ["calibrate", *args, "--model", str(fitted)])
    assert re.search(r"Brier score: 0\.[0-9]{4}", judged.stdout), judged.stdout
    # the fitted model is an ordinary model: calibrate and compare load it
    both = runner.invoke(app, ["calibrate", *args, "--compare", str(fitted), "--json"])
    assert both.exit_code == 0, both.output
    data = json.loads(both.stdout)
    assert data["compare"]["model"] == "default-fitted" and data["compare"]["leads"] == 3000


def test_bad_outcome_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    events = _events(
        tmp_path / "e.jsonl",
        [
            profile(T0, "a", job_title="Director"),
            event("page_view", T0, "b", path="/pricing"),
            event("page_view", T0, "c", path="/blog"),
        ],
    )
    outcomes = tmp_path / "o.csv"
    outcomes.write_text(
        "lead_id,converted,scored_at\n"
        "a,true,\n"  # line 2: fine, scored as of its last event
        "ghost,true,\n"  # line 3: unknown lead
        "b,maybe,\n"  # line 4: unparsable converted
        "b,0,yesterday\n"  # line 5: bad scored_at
        "a,1,\n"  # line 6: repeated lead
        "c,0,2026-03-02T09:00:00Z\n"  # line 7: fine
    )
    result = runner.invoke(
        app, ["calibrate", "--events", str(events), "--outcomes", str(outcomes), "--json"]
    )
    assert result.exit_code == 1
    err = result.stderr
    assert "line 3: lead_id: unknown lead 'ghost'" in err
    assert "line 4: converted: cannot read 'maybe'" in err
    assert "line 5: scored_at: 'yesterday' is not RFC 3339" in err
    assert "line 6: lead_id: lead 'a' is already listed on line 2" in err
    assert "used 2 of 6 outcome rows" in err
    assert json.loads(result.stdout)["leads"] == 2


def test_scored_at_ignores_later_events(tmp_path: Path) -> None:
    from datetime import timedelta

    raw = [profile(T0, "a", job_title="Director")] + [
        event("page_view", T0 + timedelta(hours=h), "a", path="/compare/x") for h in (1, 2)
    ]
    events = _events(tmp_path / "e.jsonl", raw)
    outcomes = tmp_path / "o.csv"
    outcomes.write_text("lead_id,converted,scored_at\na,true,2026-03-02T09:30:00Z\n")
    result = runner.invoke(
        app, ["calibrate", "--events", str(events), "--outcomes", str(outcomes), "--json"]
    )
    assert result.exit_code == 0, result.output
    # only the profile counts at 09:30: senior title 20; the two comparisons would add 30
    assert json.loads(result.stdout)["bands"][0]["low"] == 20


def test_bad_files_and_arguments_exit_2(tmp_path: Path) -> None:
    events = _events(tmp_path / "e.jsonl", [profile(T0, "a", job_title="Director")])
    no_column = tmp_path / "o.csv"
    no_column.write_text("lead,won\na,1\n")
    result = runner.invoke(
        app, ["calibrate", "--events", str(events), "--outcomes", str(no_column)]
    )
    assert result.exit_code == 2 and "converted, lead_id" in result.stderr
    missing = runner.invoke(
        app, ["calibrate", "--events", str(tmp_path / "nope"), "--outcomes", str(no_column)]
    )
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    no_out = runner.invoke(
        app, ["calibrate", "--fit", "--events", str(events), "--outcomes", str(no_column)]
    )
    assert no_out.exit_code == 2 and "--out" in no_out.stderr


def test_report_is_written(world: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    args = ["--events", str(world / "events.jsonl"), "--outcomes", str(world / "outcomes.csv")]
    result = runner.invoke(app, ["calibrate", *args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert report.read_text().count('class="chart"') == 3
