"""Plugin test fixtures: the tiny random Llama folder and a real fast-tier ranker trained on ShareGPT rows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench.tiny_llama import build_tiny_llama
from tests.vllm.engines import ENGINE_ENV
from tests.vllm.rankers import RANKER_DIR_ENV

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "1")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama-plugin"))


@pytest.fixture(scope="session")
def fast_ranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fast tier trained on the 320 train rows of tests/fixtures/sharegpt_small.jsonl (about a second)."""
    from ltrsched.predictor.fast import FastConfig, FastRanker
    from tests.predictor.conftest import _load

    train, held_out = _load()
    ranker = FastRanker.train(train, held_out[:80], FastConfig(n_features=2**14))
    return ranker.save(tmp_path_factory.mktemp("fast-ranker"))


@pytest.fixture(scope="module")
def engine_env(fast_ranker_dir: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {**ENGINE_ENV, RANKER_DIR_ENV: str(fast_ranker_dir)}.items():
            mp.setenv(key, value)
        yield
