"""``ltrsched simulate`` and ``ltrsched fit-cost`` (``ltrsched bench sim`` is registered in ltrsched.bench.cli)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ltrsched.cliargs import add_dataclass_arguments, from_namespace
from ltrsched.sim.engine import EngineConfig
from ltrsched.sim.run import SimulateConfig


def register(commands: Any) -> None:
    p = commands.add_parser("simulate", help="simulate policies on a workload (a continuous-batching engine model)")
    add_dataclass_arguments(p, SimulateConfig)
    add_dataclass_arguments(p, EngineConfig)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--csv", default=None, help="also write the per-policy rows as CSV here")
    p.add_argument("--plot", default=None, help="write a figure (PNG/PDF): latency vs rate for poisson, else CDFs")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_simulate)

    p = commands.add_parser("fit-cost", help="fit the simulator's step-cost coefficients to a measured step log")
    p.add_argument("steplog", help="JSONL step log (ltrsched.steplog; the vLLM plugin writes one)")
    p.add_argument("--out", default=None, help="write the fitted model as JSON (use it as --cost FILE.json)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=cmd_fit_cost)


def cmd_simulate(args: argparse.Namespace) -> int:
    from ltrsched.sim.report import json_safe, markdown_table, to_csv
    from ltrsched.sim.run import run_config

    cfg = from_namespace(SimulateConfig, args)
    engine_cfg = from_namespace(EngineConfig, args)
    doc = run_config(cfg, engine_cfg, progress=not args.quiet)
    if args.csv:
        Path(args.csv).write_text(to_csv(doc["results"]), encoding="utf-8")
    if args.plot:
        from ltrsched.sim.plots import plot_document

        plot_document(doc, args.plot)
    if args.json:
        print(json.dumps(json_safe(doc), indent=1))
    else:
        print(f"{cfg.workload} of {doc['workload']['num_items']} {cfg.data} requests, cost {doc['cost']['name']}, "
              f"scores {doc['scores']} (Kendall tau {doc['kendall_tau']:.3f})")
        print(markdown_table(doc["results"]))
    return 0


def cmd_fit_cost(args: argparse.Namespace) -> int:
    from ltrsched.errors import UserError
    from ltrsched.sim.cost import fit
    from ltrsched.steplog import read_step_log

    path = Path(args.steplog)
    if not path.is_file():
        raise UserError(f"no step log at {path}; the vLLM plugin writes one (see ltrsched.steplog)")
    try:
        model, stats = fit(read_step_log(path), name=f"fit:{path.name}")
    except (json.JSONDecodeError, TypeError) as exc:
        raise UserError(f"{path}: not a step log ({exc})") from None
    if args.out:
        Path(args.out).write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({"cost": model.to_dict(), "residuals": stats}, indent=1))
    else:
        for k, v in model.to_dict().items():
            print(f"{k:22s} {v}")
        print("residuals: " + ", ".join(f"{k}={v:.4g}" for k, v in stats.items()))
    return 0

