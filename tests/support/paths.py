"""Where the checkout and its ops scripts are, for tests that read or run them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "ops" / "stack"
