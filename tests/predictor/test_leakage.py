"""Leakage between splits on real ShareGPT rows: planted repeats are found and removed, test stays as it was."""

from dataclasses import replace

from ltrsched.predictor.leakage import PromptIndex, dedup_splits, norm_text


def _long_test_prompt(held_out):
    return next(e for e in held_out if len(norm_text(e.prompt).split()) >= 60)


def test_planted_identical_and_near_duplicates_are_removed(sharegpt_small):
    train, held_out = sharegpt_small
    clean_train = [e for e in train if PromptIndex(held_out).match(e.prompt) is None]
    target = _long_test_prompt(held_out)
    words = str(target.prompt).split()
    near = " ".join([*words[:-1], "pineapple"])  # one word of >= 60 changed: Jaccard ~0.95
    planted = [replace(clean_train[0], id="plant-exact", prompt="  " + str(target.prompt).upper() + " !!"),
               replace(clean_train[1], id="plant-near", prompt=near)]
    val = [replace(clean_train[2], id="plant-val", prompt=str(target.prompt))]
    test_before = list(held_out)
    new_train, new_val, reports = dedup_splits(clean_train[3:] + planted, val, held_out)
    assert {e.id for e in new_train} == {e.id for e in clean_train[3:]}
    assert new_val == []
    by = {(r.split, r.against): r for r in reports}
    assert (by["train", "test"].num_identical, by["train", "test"].num_near) == (1, 1)
    assert by["val", "test"].num_identical == 1
    assert ("plant-near", target.id) in by["train", "test"].examples
    assert held_out == test_before  # the test split is never changed


def test_distinct_prompts_are_kept_and_real_repeats_found(sharegpt_small):
    train, held_out = sharegpt_small
    index = PromptIndex(held_out)
    hits = [e for e in train if index.match(e.prompt)]
    # The fixture holds 7 train first turns that repeat a test first turn (measured): ShareGPT's own repeats.
    assert len(hits) == 7
    assert all(index.match(e.prompt) is not None for e in held_out)  # every prompt matches itself
    target = _long_test_prompt(held_out)
    half = " ".join(str(target.prompt).split()[: len(str(target.prompt).split()) // 2])
    assert index.match(half) is None  # half of a prompt is not a near-duplicate (Jaccard ~0.5)
