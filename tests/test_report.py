"""Report mechanics shared by the simulator and the benchmarks: cells, ratios, Markdown tables, strict JSON."""

from __future__ import annotations

import json
import math

import pytest

from ltrsched.report import cell, json_safe, markdown_table, ratio


@pytest.mark.parametrize(("value", "fmt", "text"), [
    (None, "{:.2f}", "-"),
    (math.nan, "{:.2f}", "-"),
    (math.inf, "{:.2f}", "-"),
    (-math.inf, "{}", "-"),
    (1.23456, "{:.2f}", "1.23"),
    (0.0, "{:.1f}", "0.0"),  # zero is a value, not a missing one
    (3, "{}", "3"),
    ("fcfs", "{}", "fcfs"),
    (2.0, "{:.2f}x", "2.00x"),
])
def test_cell(value: object, fmt: str, text: str) -> None:
    assert cell(value, fmt) == text


def test_ratio_edge_cases() -> None:
    assert ratio(6, 3) == 2.0
    assert ratio(0, 5) == 0.0
    assert ratio(3, -1.5) == -2.0
    for num, den in [(1, 0), (1, 0.0), (None, 1), (1, None), (math.nan, 1), (1, math.nan), (1, math.inf)]:
        assert math.isnan(ratio(num, den)), (num, den)
    assert ratio(math.inf, 2) == math.inf  # an infinite numerator (nothing finished in time) stays infinite


def test_markdown_table_pads_every_column_to_its_widest_cell() -> None:
    table = markdown_table(["a", "long header"], [["xyz", "1"], ["b", "22"]], title="T")
    assert table.splitlines() == [
        "T",
        "| a   | long header |",
        "|-----|-------------|",
        "| xyz | 1           |",
        "| b   | 22          |",
    ]
    assert markdown_table(["x"], []) == "| x |\n|---|"


def test_json_safe_makes_strict_json() -> None:
    doc = {"a": math.nan, "b": [1.0, math.inf, {"c": -math.inf}], "d": (1, 2), "e": "x", "f": None}
    safe = json_safe(doc)
    assert safe == {"a": None, "b": [1.0, None, {"c": None}], "d": [1, 2], "e": "x", "f": None}
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
