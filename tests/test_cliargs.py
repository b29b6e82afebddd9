"""Flags from config dataclasses: each field's type picks its flag's parsing, its metadata the help text."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from ltrsched.cliargs import add_dataclass_arguments, from_namespace


@dataclass(slots=True)
class Config:
    num_requests: int = field(default=100, metadata={"help": "requests to send"})
    rate: float = field(default=2.5, metadata={"help": "arrivals per second"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})
    progress: bool = True
    rates: list[float] = field(default_factory=lambda: [1.0, 2.0], metadata={"help": "req/s to sweep"})
    policies: list[str] = field(default_factory=lambda: ["fcfs"])
    limit: int | None = None
    out: str = ""
    _cache: int = 0  # private: never a flag
    derived: int = field(default=0, init=False)  # computed: never a flag


def _parser(skip: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    add_dataclass_arguments(parser, Config, skip=skip)
    return parser


def test_no_flags_give_the_dataclass_defaults() -> None:
    assert from_namespace(Config, _parser().parse_args([])) == Config()


def test_each_field_type_parses_its_flag() -> None:
    ns = _parser().parse_args(["--num-requests", "7", "--rate", "3", "--quiet", "--no-progress",
                               "--rates", "0.5, 1,", "--policies", "fcfs,ltr:starvation_threshold=0", "--limit", "5"])
    cfg = from_namespace(Config, ns)
    assert cfg.num_requests == 7 and isinstance(cfg.num_requests, int)
    assert cfg.rate == 3.0 and isinstance(cfg.rate, float)
    assert (cfg.quiet, cfg.progress) == (True, False)  # bools are --x / --no-x
    assert cfg.rates == [0.5, 1.0]  # comma-separated, blanks dropped, items typed
    assert cfg.policies == ["fcfs", "ltr:starvation_threshold=0"]
    assert cfg.limit == 5  # Optional[int] parses as int


def test_a_badly_typed_value_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["--num-requests", "many"])
    assert info.value.code == 2
    assert "--num-requests: invalid int value: 'many'" in capsys.readouterr().err


def test_help_text_comes_from_field_metadata_with_the_default() -> None:
    text = " ".join(_parser().format_help().split())  # argparse wraps lines
    assert "--num-requests NUM_REQUESTS requests to send (default: 100)" in text
    assert "req/s to sweep (comma-separated; default: 1.0,2.0)" in text
    assert "--quiet, --no-quiet no progress bars" in text


def test_private_computed_and_skipped_fields_get_no_flag() -> None:
    flags = {opt for action in _parser(skip=("out",))._actions for opt in action.option_strings}
    assert "--num-requests" in flags and "--no-progress" in flags
    assert not {"--out", "--cache", "---cache", "--derived"} & flags


def test_from_namespace_ignores_other_flags_and_takes_overrides() -> None:
    parser = _parser()
    parser.add_argument("--json", action="store_true")  # a command's own flag, not a config field
    ns = parser.parse_args(["--json", "--rate", "9"])
    assert from_namespace(Config, ns, out="x.csv") == Config(rate=9.0, out="x.csv")
