"""``ltrsched``: one entry point; each area registers its own subcommands.

Subcommand modules import only argparse-level things at registration; heavy libraries (torch, vllm) are
imported inside the handlers, so ``ltrsched --help`` is instant and a missing extra fails only its command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ltrsched.errors import UserError

# Each module has ``register(commands, bench_commands)``.
COMMAND_MODULES = (
    "ltrsched.predictor.cli",
    "ltrsched.sim.cli",
    "ltrsched.vllm.cli",
    "ltrsched.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltrsched", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser("bench", help="benchmarks: predictor, sim, serve (ratios measured in one run)")
    bench_commands = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("ltrsched"):
                continue  # an area not built yet
            raise
        module.register(commands, bench_commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"ltrsched: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ltrsched: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
