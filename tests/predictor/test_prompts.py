from ltrsched.predictor.prompts import MAX_CHARS, as_messages, head_tail, normalize

CHATML = ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n"
          "<|im_start|>user\nHow do I sort a list?<|im_end|>\n<|im_start|>assistant\n")
LLAMA3 = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHow do I sort a list?<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_engine_text_with_chat_template_reads_like_the_raw_prompt():
    assert normalize(CHATML) == normalize(LLAMA3) == normalize("How do I sort a list?") == "How do I sort a list?"
    assert normalize("[INST] How do I sort a list? [/INST]") == "How do I sort a list?"


def test_messages_last_user_or_all():
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert normalize(msgs) == "c"
    assert normalize(msgs, "all") == "user: a\nassistant: b\nuser: c"


def test_odd_inputs_never_raise():
    assert normalize(None) == ""
    assert normalize("   \n ") == ""
    assert normalize(42) == "42"
    assert normalize(b"caf\xc3\xa9") == "café"
    assert normalize([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]) == "hi"
    assert len(normalize("x" * (MAX_CHARS * 3))) == MAX_CHARS


def test_huge_prompt_keeps_head_and_tail():
    text = "START " + "x" * (MAX_CHARS * 2) + " END"
    out = normalize(text)
    assert len(out) == MAX_CHARS and out.startswith("START") and out.endswith("END")


def test_head_tail_and_as_messages():
    assert head_tail("abcdefghij", 3, 0) == "abc"
    assert head_tail("abcdefghij", 3, 2) == "abc\nij"
    assert head_tail("abcde", 3, 2) == "abcde"  # short enough: whole
    assert as_messages("hi") == [{"role": "user", "content": "hi"}]
    assert as_messages([{"role": "user", "content": 5}]) == [{"role": "user", "content": "5"}]
