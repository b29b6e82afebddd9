"""The plain-torch scoring encoder against transformers, on the real all-MiniLM-L6-v2 and real ShareGPT prompts."""

from __future__ import annotations

import numpy as np
import pytest

from ltrsched.predictor import encoder
from ltrsched.predictor.model import backbone_path
from ltrsched.predictor.prompts import normalize


@pytest.fixture(scope="module")
def minilm():
    return backbone_path("minilm")


def test_tokenizer_gives_transformers_ids(minilm, sharegpt_small):
    from transformers import AutoTokenizer

    train, _ = sharegpt_small
    texts = [normalize(e.prompt, "last-user") for e in train[:200]] + ["", "  ", "Ünïcödé 日本語 🎉", "word " * 3000]
    ref, plain = AutoTokenizer.from_pretrained(str(minilm)), encoder.FolderTokenizer(minilm)
    assert plain(texts)["input_ids"] == ref(texts)["input_ids"]
    cut = plain(texts, truncation=True, max_length=64)["input_ids"]
    assert cut == ref(texts, truncation=True, max_length=64)["input_ids"] and max(map(len, cut)) == 64
    assert plain.all_special_ids == sorted(ref.all_special_ids) and plain.pad_token_id == ref.pad_token_id


def test_encoder_computes_what_transformers_computes(minilm, sharegpt_small):
    import torch
    from transformers import AutoModel

    train, _ = sharegpt_small
    assert encoder.supported(minilm)
    ids = encoder.FolderTokenizer(minilm)([normalize(e.prompt, "last-user") for e in train[:24]], truncation=True,
                                          max_length=96)["input_ids"]
    input_ids = torch.zeros((len(ids), max(map(len, ids))), dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)], mask[row, : len(x)] = torch.tensor(x), 1
    with torch.inference_mode():
        ref = AutoModel.from_pretrained(str(minilm)).eval()(input_ids=input_ids, attention_mask=mask)
        out = encoder.load_bert(minilm)(input_ids, mask)
    real = mask.bool()  # padded positions are never read (mean pooling masks them)
    assert len(set(map(len, ids))) > 1  # some rows are padded
    np.testing.assert_allclose(out.last_hidden_state[real].numpy(), ref.last_hidden_state[real].numpy(), atol=1e-4)


def test_only_bert_folders_are_read_without_transformers(minilm, tmp_path):
    import json
    import shutil

    assert not encoder.supported(tmp_path)  # no files
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        shutil.copyfile(minilm / name, tmp_path / name)
    assert encoder.supported(tmp_path)
    config = json.loads((minilm / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "position_embedding_type": "relative_key"}))
    assert not encoder.supported(tmp_path)
