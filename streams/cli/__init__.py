"""The ``leadscore`` command line.

Each command group lives in its own module and registers itself on :data:`app`; the modules are
imported here so that ``leadscore --help`` lists every command.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import typer

app = typer.Typer(
    name="leadscore",
    help="Real-time lead scoring on Kafka and Redis.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version() -> str:
    try:
        return version("leadscore")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"leadscore {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Real-time lead scoring on Kafka and Redis."""


# Which module registers each command. Only the module of the command being run is imported, so
# `leadscore score` does not pay for Faust, aiokafka or scikit-learn; `--help` imports them all.
COMMAND_MODULES = {
    "score": "score_cmd",
    "model": "score_cmd",
    "worker": "stream_cmds",
    "produce": "stream_cmds",
    "alerts": "stream_cmds",
    "lead": "stream_cmds",
    "rebuild": "stream_cmds",
    "demo": "demo_cmd",
    "calibrate": "calibrate_cmd",
    "simulate": "calibrate_cmd",
    "bench": "bench_cmd",
    "sink": "sink_cmd",
}


def load_commands(argv: list[str] | None = None) -> None:
    """Register the command named in ``argv``, or every command when none is recognised."""
    import importlib

    name = next((a for a in (argv or [])[:1] if not a.startswith("-")), None)
    chosen = [COMMAND_MODULES[name]] if name in COMMAND_MODULES else set(COMMAND_MODULES.values())
    for module in sorted(chosen):
        importlib.import_module(f"streams.cli.{module}")


def main() -> None:
    """Entry point of the ``leadscore`` console script."""
    import sys

    load_commands(sys.argv[1:])
    app()
