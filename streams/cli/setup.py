"""What every command that talks to services starts with: settings and models, or a clear exit.

A command module imports this rather than another command's module, so ``leadscore sink`` does not
import the worker's dependencies to read its settings.
"""

from __future__ import annotations

import typer
from pydantic import ValidationError

from scoring.errors import ModelError
from scoring.model import Model
from streams.modelfile import load_model, load_models
from streams.settings import Settings
from streams.worker.shadow import as_shadow


def settings_or_exit() -> Settings:
    """The settings from ``LEADSCORE_*``; each invalid one named on stderr, then exit status 2."""
    try:
        return Settings()
    except ValidationError as err:
        for problem in err.errors():
            message = str(problem["msg"]).removeprefix("Value error, ")
            if problem["loc"]:
                message = f"LEADSCORE_{str(problem['loc'][0]).upper()}: {message}"
            typer.echo(message, err=True)  # never the input: it may hold a secret
        raise typer.Exit(2) from None


def shadow_or_exit(settings: Settings, models: list[Model]) -> Model | None:
    """The model ``LEADSCORE_SHADOW_MODEL`` names, if any; every problem on stderr, then exit 2."""
    if not settings.shadow_model:
        return None
    try:
        shadow = load_model(settings.shadow_model)
        as_shadow(shadow, models)
    except ModelError as err:
        for problem in err.problems:
            typer.echo(f"LEADSCORE_SHADOW_MODEL: {problem}", err=True)
        raise typer.Exit(2) from None
    except ValueError as err:
        typer.echo(f"LEADSCORE_SHADOW_MODEL: {err}", err=True)
        raise typer.Exit(2) from None
    return shadow


def models_or_exit(settings: Settings) -> list[Model]:
    """The models ``LEADSCORE_MODEL`` names; every problem on stderr, then exit status 2."""
    try:
        return load_models(settings.model_paths)
    except ModelError as err:
        for problem in err.problems:
            typer.echo(f"LEADSCORE_MODEL: {problem}", err=True)
        raise typer.Exit(2) from None
