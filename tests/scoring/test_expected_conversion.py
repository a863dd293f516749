"""What a score means: the calibration table of a fitted model, and the expected conversion every
score then carries beside the base rate."""

from __future__ import annotations

import pytest

from scoring.engine import evaluate
from scoring.errors import ModelError
from scoring.learn import calibration_table
from scoring.model import Calibration, default_model, parse_model
from scoring.state import LeadState
from tests.support.events import T0


def test_each_band_keeps_its_observed_rate_when_they_rise() -> None:
    rows = [(10, False)] * 9 + [(10, True)] + [(50, False)] * 7 + [(50, True)] * 3
    rows += [(90, False)] * 4 + [(90, True)] * 6
    table = calibration_table(rows, bands=3)
    assert table == {
        "base_rate": round(10 / 30, 4),
        "leads": 30,
        "bands": [{"min": 0, "rate": 0.1}, {"min": 50, "rate": 0.3}, {"min": 90, "rate": 0.6}],
    }


def test_a_band_that_converted_less_than_the_one_below_is_pooled_with_it() -> None:
    rows = [(10, False)] * 8 + [(10, True)] * 2 + [(50, False)] * 9 + [(50, True)]
    rows += [(90, False)] * 5 + [(90, True)] * 5
    bands = calibration_table(rows, bands=3)["bands"]
    assert bands == [{"min": 0, "rate": 0.15}, {"min": 90, "rate": 0.5}]  # 10 and 50 pooled


def test_a_calibrated_model_says_what_each_score_means() -> None:
    table = {"base_rate": 0.2, "leads": 100, "bands": [{"min": 0, "rate": 0.05},
             {"min": 40, "rate": 0.2}, {"min": 80, "rate": 0.5}]}  # fmt: skip
    model = default_model().model_copy(update={"calibration": Calibration.model_validate(table)})
    assert [model.calibration.rate_at(s) for s in (0, 39, 40, 79, 80, 100)] == [  # type: ignore[union-attr]
        0.05, 0.05, 0.2, 0.2, 0.5, 0.5,
    ]  # fmt: skip
    score = evaluate(LeadState.new("x"), model, T0)
    assert (score.expected_conversion, score.base_rate) == (0.05, 0.2)
    data = score.to_dict()
    assert data["expected_conversion"] == 0.05 and data["base_rate"] == 0.2
    plain = evaluate(LeadState.new("x"), default_model(), T0)
    assert plain.calibrated() == {} and "expected_conversion" not in plain.to_dict()


@pytest.mark.parametrize(
    "bands",
    ["[{min: 10, rate: 0.1}]", "[{min: 0, rate: 0.1}, {min: 0, rate: 0.2}]", "[{min: 0, rate: 2}]"],
)
def test_a_malformed_table_is_named(bands: str) -> None:
    text = f"name: c\nversion: 1\ncalibration: {{base_rate: 0.1, leads: 5, bands: {bands}}}\n"
    with pytest.raises(ModelError, match="calibration"):
        parse_model(text)
