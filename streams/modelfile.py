"""Loading model files from disk: the I/O that ``scoring`` itself never does."""

from __future__ import annotations

import os
from collections.abc import Iterable

from scoring.errors import ModelError, Problem
from scoring.model import Model, default_model, parse_model

ModelPath = str | os.PathLike[str]


def load_model(path: ModelPath | None) -> Model:
    """Read and validate a model file; ``None`` gives the built-in default model.

    A file that cannot be read raises :class:`ModelError` naming the path, like a malformed one.
    """
    if path is None:
        return default_model()
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ModelError([Problem(name, f"cannot read the model file: {reason}")]) from None
    return parse_model(text, source=name)


def load_models(paths: Iterable[ModelPath] | None) -> list[Model]:
    """Load several models (the default one when none are given); names must be unique."""
    chosen = list(paths or [])
    models = [load_model(p) for p in chosen] if chosen else [default_model()]
    seen: dict[str, str] = {}
    problems = []
    for path, model in zip(chosen or ["<default>"], models, strict=True):
        if model.name in seen:
            problems.append(
                Problem(
                    os.fspath(path),
                    f"model name {model.name!r} is already used by {seen[model.name]}",
                )
            )
        seen[model.name] = os.fspath(path)
    if problems:
        raise ModelError(problems)
    return models
