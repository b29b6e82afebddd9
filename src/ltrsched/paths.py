"""Where ltrsched keeps what it builds (trained rankers, converted models, score caches): one place, outside git."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LTRSCHED_CACHE"


def cache_dir() -> Path:
    """``$LTRSCHED_CACHE`` or ``~/.cache/ltrsched``; created on first use."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ltrsched").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_ranker_dir() -> Path:
    """The ranker ``make demo`` trains and every command uses when none is named."""
    return models_dir() / "default-ranker"


def asset_dir(module: str, how_to_install: str) -> Path:
    """The folder of an asset package (a model or data set shipped on PyPI), found without importing it (some
    import plugin dependencies they do not need here); ``MissingModelError`` says how to install it."""
    import importlib.util

    from ltrsched.errors import MissingModelError

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(how_to_install)
    return Path(next(iter(spec.submodule_search_locations)))
