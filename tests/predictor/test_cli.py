import json

from ltrsched.cli import main
from tests.predictor.conftest import FIXTURE


def test_train_fast_then_eval_side_by_side_json(tmp_path, capsys):
    out = tmp_path / "fast"
    assert main(["train", "--tier", "fast", "--data", str(FIXTURE), "--out", str(out), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["manifest"]["kind"] == "fast-linear" and (out / "weights.npz").is_file()
    assert main(["eval", str(out), "prompt-length", "tfidf-ridge", "--data", str(FIXTURE), "--split", "all",
                 "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["name"] for r in rows] == ["fast", "prompt-length", "tfidf-ridge"]
    assert "tfidf-ridge trains on the train split, which --split all also scores" in captured.err
    assert all(-1 <= r["tau"] <= 1 and r["num_prompts"] == 480 for r in rows)
    fast = rows[0]
    assert sum(fast["bucket_size"].values()) == 480 and list(fast["bucket_tau"]) == ["<64", "64-255", "256-1023",
                                                                                     ">=1024"]
    assert all(0 <= r["decile_recall"] <= 1 and -3 < r["oracle_gain"] <= 1 for r in rows)
    assert 0 < fast["calibration"]["below_p50"] < 1 and rows[1]["calibration"] is None
    assert trained["manifest"]["data"]["removed_leaks"]["train_vs_test"]["identical"] >= 0
    assert main(["eval", str(out), "--data", str(FIXTURE), "--split", "all"]) == 0
    text = capsys.readouterr().out
    assert "| model | <64 | 64-255 | 256-1023 | >=1024 | long mix | oracle gain |" in text and "pinball_p50" in text
    assert main(["score", "--model", str(out), "--json", "hi", "Write a 2000-word essay on Rome"]) == 0
    scores = json.loads(capsys.readouterr().out)["scores"]
    assert len(scores) == 2


def test_bad_jsonl_exits_2_naming_the_line(tmp_path, capsys):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok", "output_len": 3}\n{"prompt": "x", "output_len": -4}\n')
    assert main(["eval", "prompt-length", "--data", str(path), "--split", "all"]) == 2
    assert "bad.jsonl:2: 'output_len' is negative" in capsys.readouterr().err
    assert main(["eval", "prompt-length", "--data", str(path), "--split", "all", "--skip-bad", "--list-size", "1"]) == 0
    assert "skipped 1 bad row(s)" in capsys.readouterr().err


def test_missing_model_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LTRSCHED_CACHE", str(tmp_path))
    assert main(["score", "hello"]) == 2
    assert "ltrsched train --preset default" in capsys.readouterr().err


def test_every_preset_is_a_cli_choice_and_full_reads_longer_windows_of_every_turn():
    from ltrsched.cli import build_parser
    from ltrsched.predictor.model import ModelConfig
    from ltrsched.predictor.presets import PRESETS, apply_preset
    from ltrsched.predictor.train import TrainConfig

    for name in PRESETS:
        build_parser().parse_args(["train", "--preset", name])
    t, m, _ = apply_preset("full", TrainConfig(), ModelConfig())
    assert (t.epochs, t.max_minutes, m.max_len, m.tail_tokens, PRESETS["full"].turns) == (3, 90.0, 256, 128, "all")
    t, _, _ = apply_preset("full", TrainConfig(epochs=1), ModelConfig())
    assert t.epochs == 1  # an explicit flag wins over the preset


def test_train_reads_a_served_log_with_censored_rows(tmp_path, capsys):
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    for i, row in enumerate(rows):  # every third answer was cut at max_tokens, as the served log says
        row["finish_reason"] = "length" if i % 3 == 0 else "stop"
    log = tmp_path / "served.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["train", "--tier", "fast", "--data", str(log), "--out", str(tmp_path / "m"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["manifest"]["data"]
    assert 0.25 * data["train"] < data["train_censored"] < 0.42 * data["train"]  # about a third, all counted


def test_a_transformer_preset_on_data_trains_the_shipped_architecture(tmp_path, capsys):
    """`train --preset demo --data FILE` gives what the default ranker is (MiniLM + fast tier, their ensemble), so a
    ranker trained on a served model's own labels compares with the shipped one on architecture, not only data."""
    out = tmp_path / "served-ranker"
    assert main(["train", "--preset", "demo", "--data", str(FIXTURE), "--out", str(out), "--max-steps", "2",
                 "--eval-every", "2", "--quiet", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert manifest["kind"] == "ensemble" and (out / "minilm" / "manifest.json").is_file()
    assert (out / "fast" / "weights.npz").is_file()
    assert manifest["data"]["source"] == str(FIXTURE) and manifest["data"]["train"] > 100
