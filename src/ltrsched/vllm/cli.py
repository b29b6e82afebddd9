"""CLI: ``ltrsched serve`` (vLLM's OpenAI server with the plugin) and ``ltrsched label`` (engine-consistent labels)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from ltrsched.cliargs import add_dataclass_arguments, from_namespace


def register(commands: Any) -> None:
    from ltrsched.vllm.label import LabelConfig
    from ltrsched.vllm.server import ServeConfig

    s = commands.add_parser("serve", help="start vLLM's OpenAI server with the ltrsched scheduler; wait until healthy")
    add_dataclass_arguments(s, ServeConfig)
    s.set_defaults(func=_serve)

    lab = commands.add_parser("label", help="write (prompt, output length) JSONL from the served model's own samples")
    add_dataclass_arguments(lab, LabelConfig)
    lab.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    lab.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    lab.set_defaults(func=_label)


def _serve(args: argparse.Namespace) -> int:
    from ltrsched.vllm.server import ServeConfig, Server

    cfg = from_namespace(ServeConfig, args)
    server = Server(cfg)
    print(f"starting {server.model_name} on {server.url} (policy {cfg.policy}); log: {server.log_path}",
          file=sys.stderr)
    with server:
        print(f"healthy: {server.url}/v1 (Ctrl-C stops the server and its engine)", file=sys.stderr)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        assert server.proc is not None
        server.proc.wait()
        print(f"the server exited (code {server.proc.returncode}); log: {server.log_path}", file=sys.stderr)
    return 0


def _label(args: argparse.Namespace) -> int:
    from ltrsched.vllm.label import LabelConfig, label

    summary = label(from_namespace(LabelConfig, args), progress=args.progress)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0
