"""One policy config for every host: what a policy needs is read from its class, the same way everywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pytest

from ltrsched.errors import UserError
from ltrsched.policies import POLICIES, Policy, PolicyConfig, RankedRequests, make_policy
from ltrsched.request import Request


@pytest.mark.parametrize("name", POLICIES.names())
def test_every_host_gives_a_policy_the_same_starvation_default(name: str) -> None:
    from ltrsched.bench.runs import policy_run
    from ltrsched.vllm.config import parse_config
    from ltrsched.vllm.server import plugin_args

    expected = 400 if name in ("ltr", "ltr-first") else 0  # ranking policies only; 400: docs/results.md (issue 11)
    assert POLICIES.get(name).starvation_threshold == expected
    assert PolicyConfig.parse(name).starvation_threshold == expected  # the simulator
    assert parse_config({"ltrsched": {"policy": name}}).core.starvation_threshold == expected  # the plugin
    flags = plugin_args(name, {})  # `ltrsched serve --policy NAME`
    block = json.loads(flags[flags.index("--additional-config") + 1])["ltrsched"]
    assert block["starvation_threshold"] == expected
    core = policy_run(name).core  # benchmarks
    assert core is not None and core.starvation_threshold == expected


def test_spec_values_are_coerced_by_the_declared_type() -> None:
    cfg = PolicyConfig.parse("mlfq:growth=2:skip_join=yes:max_level=4:quantum=3")
    assert cfg.params == {"growth": 2.0, "skip_join": True, "max_level": 4} and cfg.quantum == 3
    assert isinstance(cfg.params["growth"], float)
    assert PolicyConfig.parse("approx-sjf:region=head:fraction=1").params == {"region": "head", "fraction": 1.0}
    with pytest.raises(UserError, match=r"max_level must be an integer, got '1\.5'"):
        PolicyConfig.parse("mlfq:max_level=1.5")
    with pytest.raises(UserError, match="skip_join must be true or false, got 'maybe'"):
        PolicyConfig.parse("mlfq:skip_join=maybe")
    with pytest.raises(UserError, match=r"no parameter 'speed'; known: .*growth"):
        PolicyConfig.parse("mlfq:speed=3")


def test_json_values_are_checked_by_the_declared_type_and_name_the_key() -> None:
    cfg = PolicyConfig.from_mapping({"policy": "ltr", "displace_margin": 2, "params": {}}, "ltrsched")
    assert cfg.displace_margin == 2.0 and isinstance(cfg.displace_margin, float)
    with pytest.raises(UserError, match=r"ltrsched\.quantum must be an integer, got '5'"):
        PolicyConfig.from_mapping({"quantum": "5"}, "ltrsched")
    with pytest.raises(UserError, match=r"ltrsched\.params\.growth must be a number"):
        PolicyConfig.from_mapping({"policy": "mlfq", "params": {"growth": "fast"}}, "ltrsched")
    with pytest.raises(UserError, match=r"unknown key ltrsched\.'polcy'; known keys: policy, params"):
        PolicyConfig.from_mapping({"polcy": "ltr"}, "ltrsched")


def test_spec_round_trips_through_the_plugin_form() -> None:
    cfg = PolicyConfig.parse("ltr:starvation_threshold=7:starvation_preempts=true:displace_margin=1.5")
    again = PolicyConfig.from_mapping(cfg.to_mapping())
    assert (again.policy, again.starvation_threshold, again.starvation_preempts, again.displace_margin) == \
        ("ltr", 7, True, 1.5)
    ranked = again.build()
    assert ranked.starvation is not None and ranked.starvation.threshold == 7 and ranked.starvation.preempt


@dataclass(slots=True)
class _SneakyProgress(Policy):
    """Reads progress but does not say so: hosts would never sync or re-rank it."""

    name: ClassVar[str] = "sneaky"

    def rank(self, req: Request) -> float:
        return float(req.max_tokens - req.num_output_tokens)


def test_the_core_refuses_a_policy_that_reads_progress_without_declaring_it() -> None:
    ranked = RankedRequests(_SneakyProgress())
    with pytest.raises(ValueError, match="dynamic_rank = True"):
        ranked.add(Request("a", 0.0, 10, 100))
    ranked = RankedRequests(make_policy("srtf-oracle"))  # declares dynamic_rank: accepted
    ranked.add(Request("a", 0.0, 10, 100, true_output_len=100))
    ranked = RankedRequests(make_policy("ltr"))
    ranked.add(Request("a", 0.0, 10, 100))
    assert ranked.num_waiting == 1


@pytest.mark.parametrize("name", POLICIES.names())
def test_what_a_policy_needs_lives_on_its_class(name: str) -> None:
    cls = POLICIES.get(name)
    assert cls.reads_score == (name in ("ltr", "po", "classification", "ltr-boost", "ltr-deadline", "ltr-first",
                                    "ltr-tie"))
    assert cls.reads_quantiles == (name == "ltr-tie")
    assert cls.needs_true_length == (name in ("sjf-oracle", "srtf-oracle", "approx-sjf"))
