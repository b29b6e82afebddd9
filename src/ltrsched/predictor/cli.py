"""``ltrsched train | eval | score``; heavy imports happen inside handlers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ltrsched.cliargs import add_dataclass_arguments, from_namespace
from ltrsched.errors import UserError
from ltrsched.predictor.fast import FastConfig
from ltrsched.predictor.model import ModelConfig
from ltrsched.predictor.train import TrainConfig


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="sharegpt", help="'sharegpt' or a JSONL file (prompt|messages, output_len|output)")
    p.add_argument("--turns", default="first", choices=["first", "all"], help="ShareGPT turns (default: first)")
    p.add_argument("--tokenizer", default=None, help="tokenizer for lengths: llama3 (default) or a tokenizer folder")
    p.add_argument("--limit", type=int, default=None, help="use at most this many examples per split")
    p.add_argument("--skip-bad", action="store_true", help="skip bad JSONL rows (their count is reported)")


def load_split(args: argparse.Namespace, split: str) -> list[Any]:
    """Examples of one split from ShareGPT or a JSONL file (split by a hash of each row's id)."""
    from ltrsched.predictor.data import load_jsonl, load_sharegpt, split_of

    if args.data == "sharegpt":
        return load_sharegpt(split, turns=args.turns, tokenizer=args.tokenizer, limit=args.limit)
    rows = load_jsonl(args.data, tokenizer=args.tokenizer, skip_bad=args.skip_bad)
    rows = [e for e in rows if split == "all" or split_of(e.id) == split]
    return rows[: args.limit] if args.limit else rows


def _split_for_training(args: argparse.Namespace) -> tuple[list[Any], list[Any], dict[str, Any]]:
    """(train, val, data note): val is always first turns for ShareGPT (the headline's setting), leaks of
    test (and of val into train) are removed, and a too-small val split borrows the tail of train."""
    from ltrsched.predictor.presets import clean_splits

    train = load_split(args, "train")
    val = load_split(argparse.Namespace(**{**vars(args), "turns": "first"}), "val")
    train, val, leaks = clean_splits(train, val, load_split(argparse.Namespace(**{**vars(args), "turns": "first",
                                                                                 "limit": None}), "test"))
    if len(val) < args.list_size and len(train) >= 4 * args.list_size:
        cut = max(args.list_size, len(train) // 10)
        train, val = train[:-cut], val + train[-cut:]
        print(f"ltrsched train: the val split has too few rows; using the last {cut} train rows for validation",
              file=sys.stderr)
    if len(train) < args.list_size or len(val) < args.list_size:
        raise UserError(f"{args.data}: too few examples ({len(train)} train, {len(val)} val); each split needs at "
                        f"least {args.list_size} (one list)")
    return train, val, {"source": args.data, "turns": args.turns, "tokenizer": args.tokenizer or "llama3", **leaks}


def cmd_train(args: argparse.Namespace) -> int:
    from ltrsched.paths import default_ranker_dir, models_dir
    from ltrsched.predictor.fast import FastRanker
    from ltrsched.predictor.presets import PRESETS, apply_preset, train_preset
    from ltrsched.predictor.train import train_ranker

    out = Path(args.out) if args.out else (default_ranker_dir() if args.preset == "default"
                                           else models_dir() / (args.preset or args.loss))
    t, m, f = apply_preset(args.preset, from_namespace(TrainConfig, args), from_namespace(ModelConfig, args),
                           from_namespace(FastConfig, args, prompt_format=args.prompt_format))
    ranker: Any
    if args.preset and PRESETS[args.preset].transformer:  # the preset's ensemble, on ShareGPT or on --data
        splits = None if args.data == "sharegpt" else _split_for_training(args)
        ranker = train_preset(args.preset, out, progress=not args.quiet, limit=args.limit, train_cfg=t,
                              model_cfg=m, fast_cfg=f, turns=args.turns, splits=splits)
    else:
        train, val, note = _split_for_training(args)
        if args.preset == "fast" or args.tier == "fast":
            ranker = FastRanker.train(train, val, f, name=out.name)
            ranker.manifest["data"].update(note)
            ranker.save(out)
        else:
            ranker = train_ranker(train, val, t, m, out, name=out.name, progress=not args.quiet, data_note=note)
    if args.json:
        print(json.dumps({"path": str(out), "manifest": ranker.manifest}))
    else:
        print(f"{out}\tval tau {ranker.manifest['metrics']['val_tau']:.4f}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ltrsched.paths import default_ranker_dir
    from ltrsched.predictor.evaluate import BASELINES, as_json, evaluate, plot, table

    models = [str(default_ranker_dir()) if m == "default" else m for m in (args.models or ["default"])]
    if args.baselines:
        models += [b for b in BASELINES if b not in models]
    examples = load_split(args, args.split)
    if not examples:
        raise UserError(f"{args.data}: the {args.split} split is empty")
    train = load_split(args, "train") if "tfidf-ridge" in models else None
    if train is not None and args.split in ("all", "train"):
        print(f"ltrsched eval: tfidf-ridge trains on the train split, which --split {args.split} also scores: its "
              "row is in-sample (use --split test for a fair baseline)", file=sys.stderr)
    rows, _ = evaluate(models, examples, train, args.list_size)
    if args.plot:
        plot(rows, args.plot)
    print(json.dumps(as_json(rows)) if args.json else table(rows))
    return 0


def read_prompts(path: Path) -> list[Any]:
    """The prompt (or messages) of each JSONL row; a bad row is an error naming the file and line."""
    from ltrsched.predictor.data import jsonl_lines, parse_row

    if not path.is_file():
        raise UserError(f"--input {path}: no such file")
    prompts: list[Any] = []
    for lineno, line in jsonl_lines(path, errors="replace"):
        try:
            prompts.append(parse_row(json.loads(line), need_output=False)[0])
        except ValueError as exc:
            raise UserError(f"{path}:{lineno}: {exc}; each line needs 'prompt' (str) or 'messages'") from None
    return prompts


def cmd_score(args: argparse.Namespace) -> int:
    from ltrsched.predictor import default_ranker, load_ranker

    prompts: list[Any] = list(args.prompts)
    if args.input:
        prompts += read_prompts(Path(args.input))
    if not args.prompts and not args.input:
        prompts = [line.rstrip("\n") for line in sys.stdin]
    if not prompts:
        raise UserError(f"no prompts to score{' in ' + args.input if args.input else ''}; give prompt texts, "
                        "--input FILE.jsonl (prompt or messages per line) or lines on stdin")
    ranker = load_ranker(args.model) if args.model else default_ranker()
    scores = ranker.score(prompts)
    if args.json:
        print(json.dumps({"model": ranker.name, "scores": [float(s) for s in scores]}))
    else:
        for s in scores:
            print(f"{s:.6f}")
    return 0


def register(commands: Any) -> None:
    p = commands.add_parser("train", help="train an output-length ranker (transformer or fast tier)")
    p.add_argument("--preset", choices=["demo", "default", "full", "fast"], default=None,
                   help="demo: MiniLM fine-tuned ~4 min + the fast tier, as their ensemble (~6 min); default: the "
                        "same for ~20 min, saved as the default ranker; full: 3 epochs of every turn at 256 tokens "
                        "(up to 90 min here; minutes with --device cuda); fast: the hashed n-gram tier (~10 s). "
                        "Rows repeating a val or test prompt are removed from training first")
    p.add_argument("--tier", choices=["transformer", "fast"], default="transformer", help="which kind of ranker")
    p.add_argument("--out", default=None, help="model folder (default: ~/.cache/ltrsched/models/<preset or loss>)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _add_data_args(p)
    add_dataclass_arguments(p, TrainConfig)
    add_dataclass_arguments(p, ModelConfig)
    add_dataclass_arguments(p, FastConfig, skip=("prompt_format",))
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("eval", help="rankers side by side: Kendall tau-b (lists of 32, whole split, per "
                            "prompt-length bucket, long-prompt mix), oracle-gain share of a simulated burst, "
                            "shortest-decile recall, length-quantile calibration")
    p.add_argument("models", nargs="*", help="ranker folders, 'default', 'prompt-length' or 'tfidf-ridge'")
    p.add_argument("--baselines", action="store_true", help="add prompt-length and tfidf-ridge")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    p.add_argument("--list-size", type=int, default=32, help="prompts per list")
    p.add_argument("--plot", default=None, help="write a bar chart (PNG/PDF) here")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    _add_data_args(p)
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser("score", help="score prompts (higher = shorter expected output)")
    p.add_argument("prompts", nargs="*", help="prompt texts (or lines on stdin)")
    p.add_argument("--model", default=None, help="ranker folder (default: the default ranker)")
    p.add_argument("--input", default=None, help="JSONL with 'prompt' or 'messages' per line")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_score)

