"""The models a worker runs, read from their files: the active ones and the shadow.

Read at start and again on a reload (SIGHUP, or a file seen to change on disk). The files are
judged by the same checks as ``leadscore model check``; a set with any problem is refused whole,
so a half-written or broken file never replaces a model that works.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from scoring.errors import ModelError, Problem
from scoring.model import Model
from streams.modelfile import load_model, load_models
from streams.settings import Settings
from streams.worker.shadow import as_shadow

# What tells a changed file apart without reading it: size, modification time, inode (a file
# replaced by a rename, as editors and deploy tools do, is another inode).
FileStamp = tuple[int, int, int] | None


def load_worker_models(settings: Settings) -> tuple[list[Model], Model | None]:
    """``LEADSCORE_MODEL`` and ``LEADSCORE_SHADOW_MODEL``; :class:`ModelError` with every problem,
    each naming its file."""
    problems: list[Problem] = []
    shadow: Model | None = None
    for path in settings.model_paths:
        problems += _problems(path)
    if settings.shadow_model:
        problems += _problems(settings.shadow_model)
    if problems:
        raise ModelError(problems)
    models = load_models(settings.model_paths)  # and their names differ
    if settings.shadow_model:
        shadow = load_model(settings.shadow_model)
    if shadow is not None:
        try:
            as_shadow(shadow, models)
        except ValueError as err:
            problems.append(Problem(settings.shadow_model, str(err)))
    if problems:
        raise ModelError(problems)
    return models, shadow


def _problems(path: str) -> list[Problem]:
    """What ``leadscore model check`` finds wrong with a file, each problem naming the file."""
    try:
        load_model(path)
    except ModelError as err:
        return [
            p if p.location.startswith(path) else Problem(f"{path}:{p.location}", p.reason)
            for p in err.problems
        ]
    return []


def same_models(a: Sequence[Model], b: Sequence[Model]) -> bool:
    """Whether two sets of models are the same, rule for rule (not only by name and version)."""
    return len(a) == len(b) and all(
        x.model_dump() == y.model_dump() for x, y in zip(a, b, strict=True)
    )


def model_files(settings: Settings) -> dict[str, FileStamp]:
    """Every model file the worker reads, with its stamp (None: it cannot be read now)."""
    paths = [*settings.model_paths, *([settings.shadow_model] if settings.shadow_model else [])]
    stamps: dict[str, FileStamp] = {}
    for path in paths:
        try:
            found = os.stat(path)
        except OSError:
            stamps[path] = None
        else:
            stamps[path] = (found.st_size, found.st_mtime_ns, found.st_ino)
    return stamps
