"""Real ShareGPT rows (tests/fixtures/sharegpt_small.jsonl: 320 train + 160 test first turns, Llama-3 lengths)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.predictor.data import LengthExample

FIXTURE = Path(__file__).parent.parent / "fixtures" / "sharegpt_small.jsonl"


def _load() -> tuple[list[LengthExample], list[LengthExample]]:
    rows = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    examples = [LengthExample(id=r["id"], prompt=r["prompt"], output_len=r["output_len"], prompt_len=r["prompt_len"],
                              split=r["split"]) for r in rows]
    return [e for e in examples if e.split == "train"], [e for e in examples if e.split == "test"]


@pytest.fixture(scope="session")
def sharegpt_small() -> tuple[list[LengthExample], list[LengthExample]]:
    """(train, held-out) real ShareGPT first turns."""
    return _load()
