"""The paper's length labels: bucket by ``g`` tokens, larger label = shorter output."""

from __future__ import annotations

import numpy as np

MAX_LEN = 8192  # the paper's cap on generated tokens; longer outputs share the last bucket


def length_label(output_lens: np.ndarray, group: int) -> np.ndarray:
    """``8192//g - min(8192, len)//g`` (int64): 0 for the longest bucket, ``8192//g`` for the shortest."""
    lens = np.minimum(np.asarray(output_lens, dtype=np.int64), MAX_LEN)
    return (MAX_LEN // group - lens // group).astype(np.int64)


def num_classes(group: int) -> int:
    """Number of distinct labels for bucket size ``group``."""
    return MAX_LEN // group + 1
