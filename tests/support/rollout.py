"""The model the roll-out tests change: ten points per pricing view and no decay, so a lead with n
views scores 10 n, and only the thresholds (and version) differ between the old and the new."""

from __future__ import annotations


def rollout_model(version: int, hot: int, rearm: int) -> str:
    """The model file's text."""
    return f"""
name: rollout
version: {version}
decay: {{rate: 0.0, period_days: 30}}
thresholds: {{hot: {hot}, rearm: {rearm}}}
engagement:
  max: 100
  rules:
    - {{id: pricing, event: page_view, page_category: pricing, points: 10}}
page_categories:
  - {{category: pricing, patterns: ['^/pricing']}}
"""
