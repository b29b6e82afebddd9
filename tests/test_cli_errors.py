"""Bad input at every entry point is exit code 2 and one line that names the thing and the fix; no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.cli import main


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "empty.jsonl").write_text("")
    (tmp / "bad.json").write_text("not json")
    (tmp / "trunc.jsonl").write_text('{"prompt": "hi", "output_len":')
    (tmp / "partial.jsonl").write_text('{"step": 1}\n')
    (tmp / "notdir").mkdir()
    (tmp / "run").mkdir()
    (tmp / "run" / "summary.json").write_text(json.dumps({"x": 1}))
    return {k: str(tmp / k) for k in ("empty.jsonl", "bad.json", "trunc.jsonl", "partial.jsonl", "notdir", "run")}


CASES = [
    (["fit-cost", "/nonexistent.jsonl"], "no step log at /nonexistent.jsonl"),
    (["fit-cost", "{bad.json}"], "not a step log"),
    (["fit-cost", "{partial.jsonl}"], "not a step log"),
    (["fit-cost", "{empty.jsonl}"], "needs at least 8 steps"),
    (["simulate", "--cost", "{bad.json}", "--data", "random", "--quiet"], "not a cost model"),
    (["simulate", "--cost", "/nonexistent.json", "--data", "random", "--quiet"], "ltrsched fit-cost"),
    (["simulate", "--policies", "ltr:quantum=x", "--data", "random", "--quiet"], "quantum must be an integer"),
    (["bench", "calibrate", "/nonexistent"], "no summary.json in /nonexistent"),
    (["bench", "calibrate", "{run}"], "not a summary written by `ltrsched bench serve`"),
    (["bench", "serve", "--policies", "nope", "--num-requests", "2"], "neither a named run"),
    (["serve", "--model", "/nonexistent"], "--model '/nonexistent' is not a folder"),
    (["serve", "--model", "{notdir}", "--ltrsched-config", "{bad"], "--ltrsched-config is not JSON"),
    (["serve", "--model", "{notdir}", "--ltrsched-config", '{"quantun": 3}'], "unknown key ltrsched.'quantun'"),
    (["train", "--data", "{empty.jsonl}", "--preset", "fast"], "too few examples"),
    (["train", "--data", "{trunc.jsonl}", "--preset", "fast"], "trunc.jsonl:1:"),
    (["label", "--prompts", "{empty.jsonl}"], "no prompts to label"),
    (["label", "--prompts", "{trunc.jsonl}"], "trunc.jsonl:1:"),
    (["score", "--model", "/nonexistent", "hi"], "no ranker at /nonexistent"),
    (["score", "--model", "{notdir}", "hi"], "is not a ranker folder"),
    (["score", "--input", "/nonexistent.jsonl"], "--input /nonexistent.jsonl: no such file"),
    (["score", "--input", "{empty.jsonl}"], "no prompts to score"),
    (["score", "--input", "{trunc.jsonl}"], "trunc.jsonl:1:"),
    (["simulate", "--num-requests", "0", "--data", "random", "--quiet"], "--num-requests must be at least 1"),
    (["simulate", "--traces-dir", "/nonexistent", "--data", "random", "--quiet"], "--traces-dir is read only"),
    (["bench", "predictor", "--losses", "bogus"], "unknown loss 'bogus'"),
    (["bench", "predictor", "--models", "/nonexistent"], "--models /nonexistent: not a ranker folder"),
    (["bench", "predictor", "--speed-only", "--precision", "int4"], "--precision int4: use int8 and/or fp32"),
    (["bench", "predictor", "--speed-only", "--threads", "two"], "--threads two: use thread counts"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in
                                                            enumerate(CASES)])
def test_bad_input_is_one_line_and_exit_code_2(argv: list[str], message: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    files = _files(tmp_path)
    args = [files.get(a[1:-1], a) if a.startswith("{") and a.endswith("}") else a for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("ltrsched: error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert not any(line.startswith("Traceback") for line in err)
