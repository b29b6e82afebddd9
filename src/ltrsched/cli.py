"""``ltrsched``: one entry point; each area registers its own subcommands.

Subcommand modules import only argparse-level things at registration; heavy libraries (torch, vllm) are
imported inside the handlers, so ``ltrsched --help`` is instant and a missing extra fails only its command.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ltrsched.errors import UserError

# Each module has ``register(commands)``; ltrsched.bench.cli adds the ``bench`` group with every benchmark. An
# import error in any of them is a bug and surfaces here, rather than hiding that module's commands.
COMMAND_MODULES = (
    "ltrsched.predictor.cli",
    "ltrsched.sim.cli",
    "ltrsched.vllm.cli",
    "ltrsched.bench.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltrsched", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
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
