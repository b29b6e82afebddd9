"""The ``ltrsched`` entry point: every command registered once, and a broken command module is loud."""

from __future__ import annotations

import argparse

import pytest

from ltrsched import cli


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_and_benchmark_is_registered() -> None:
    commands = _choices(cli.build_parser())
    assert set(commands) == {"train", "eval", "score", "simulate", "fit-cost", "serve", "label", "bench", "demo"}
    assert set(_choices(commands["bench"])) == {"predictor", "sim", "plugin", "serve", "calibrate", "vllm-client",
                                                "soak", "online-curve"}


def test_bench_plugin_has_its_config_flags() -> None:
    argv = ["bench", "plugin", "--running", "8", "--policy", "ltr:starvation_threshold=0"]
    args = cli.build_parser().parse_args(argv)
    assert (args.running, args.waiting, args.policy) == (8, 2000, "ltr:starvation_threshold=0")


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # An ltrsched module missing (or importing something missing) must not quietly drop its commands.
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "ltrsched.no_such_area.cli"))
    with pytest.raises(ModuleNotFoundError, match=r"ltrsched\.no_such_area"):
        cli.build_parser()
