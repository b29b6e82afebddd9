"""The shape the code keeps: no function in src/ over 50 lines (complexity is ruff's C90, at most 15)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ltrsched"
MAX_LINES = 50


def test_no_function_is_longer_than_a_screen() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "split these where a reader would: " + "; ".join(long)


def test_nothing_points_outside_the_repository() -> None:
    hits = [f"{p.relative_to(SRC)}" for p in SRC.rglob("*.py") if "../shared" in p.read_text(encoding="utf-8")]
    assert not hits, hits
