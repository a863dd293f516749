"""The benchmark's result as a table for people and as one JSON object for tools."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _eps(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f} ev/s"


def _ms(stats: Any) -> str:
    if not stats:
        return "no samples"
    return "  ".join(f"{k} {stats[k]:.1f}" for k in ("p50", "p95", "p99", "max")) + " ms"


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(result: dict[str, Any]) -> Table:
    samples = result["latency_samples"]
    t = Table(
        title=f"leadscore bench: {result['events']:,} events over {result['leads']:,} leads",
        title_justify="left",
    )
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("note")
    t.add_row(
        "bare aiokafka consume + decode", _eps(result["raw_consume_eps"]), "ceiling of Python"
    )
    t.add_row("bare Faust agent + decode", _eps(result["faust_bare_eps"]), "ceiling of Faust")
    t.add_row(
        "worker catch-up (end to end)",
        _eps(result["e2e_eps"]),
        f"{result['e2e_handled']:,} handled in {result['e2e_seconds']:.1f}s",
    )
    if result["workers"] > 1:
        each = ", ".join(_eps(w["eps"]) for w in result["per_worker"])
        t.add_row(f"  {result['workers']} workers, each", "", each)
    t.add_row("  e2e / bare aiokafka", _ratio(result["e2e_ratio"]), "")
    t.add_row("  e2e / bare Faust", _ratio(result["e2e_vs_faust_bare"]), "floor 0.8")
    t.add_row(
        f"latency at {result['rate']:,.0f} ev/s: event -> score",
        _ms(result["latency_ms"]),
        f"{samples['scores']:,} of {samples['produced']:,} events named by a score",
    )
    t.add_row(
        "  event -> hot alert", _ms(result["alert_latency_ms"]), f"{samples['alerts']:,} alerts"
    )
    t.add_row(
        "  bare produce -> consume",
        _ms(result["baseline_latency_ms"]),
        f"{samples['roundtrip']:,} round trips",
    )
    t.add_row("  p99 / bare p99", _ratio(result["latency_p99_vs_baseline"]), "ceiling 5")
    t.add_row(
        "offline `leadscore score`",
        _eps(result["offline_eps"]),
        f"{result['offline_seconds']:.2f}s incl. {result['offline_startup_seconds']:.2f}s start-up",
    )
    t.add_row(
        "Redis per lead (MEMORY USAGE)",
        f"{result['redis_bytes_per_lead']:,.0f} B",
        "record + any pending outbox; ceiling 400",
    )
    t.add_row(
        "Redis per lead (used_memory delta)",
        f"{result['redis_used_memory_per_lead']:,.0f} B",
        "noisy if others share Redis",
    )
    return t


def show(result: dict[str, Any], console: Console) -> None:
    console.print(table(result))
