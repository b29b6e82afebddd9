"""Fixtures for real-engine tests: one tiny model folder per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.tiny_llama import build_tiny_llama


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
