"""CLI: ``ltrsched serve`` (vLLM's OpenAI server with the plugin) and ``ltrsched label`` (engine-consistent labels)."""

from __future__ import annotations

import argparse
import json
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
        print(f"healthy: {server.url}/v1 (Ctrl-C or SIGTERM: no new requests, in-flight ones get "
              f"--drain-timeout-s {cfg.drain_timeout_s:g} s, then the engine stops)", file=sys.stderr)
        if cfg.policy not in ("vllm", "vllm-priority"):
            print(f"metrics: {server.url}/metrics (ltrsched_* counters beside vllm:*); a summary line a minute in "
                  f"the engine log: {server.log_path}", file=sys.stderr)
        from ltrsched.vllm.lifecycle import serve_until_stopped

        return serve_until_stopped(server, cfg.drain_timeout_s)


def _label(args: argparse.Namespace) -> int:
    from ltrsched.vllm.label import LabelConfig, label

    summary = label(from_namespace(LabelConfig, args), progress=args.progress)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0
