"""The KV cache as a pool of fixed-size blocks, with check/act pairs (``can_allocate``/``allocate``/``free``)."""

from __future__ import annotations


def blocks_for(num_tokens: int, block_size: int) -> int:
    """Blocks needed to hold ``num_tokens`` tokens of KV."""
    return -(-num_tokens // block_size)


class BlockPool:
    """Counts blocks per request; which physical blocks they are does not matter to the timing."""

    __slots__ = ("_held", "block_size", "num_blocks", "num_free")

    def __init__(self, num_blocks: int, block_size: int) -> None:
        if num_blocks <= 0 or block_size <= 0:
            raise ValueError(f"need num_blocks > 0 and block_size > 0, got {num_blocks} and {block_size}")
        self.block_size = block_size  # tokens per block
        self.num_blocks = num_blocks  # blocks in the whole cache
        self.num_free = num_blocks  # blocks not held by any request
        self._held: dict[str, int] = {}  # request_id -> blocks it holds

    @property
    def capacity_tokens(self) -> int:
        return self.num_blocks * self.block_size

    def held(self, request_id: str) -> int:
        return self._held.get(request_id, 0)

    def extra_blocks(self, request_id: str, num_tokens: int) -> int:
        """Blocks ``request_id`` still needs so that it holds ``num_tokens`` tokens."""
        return max(blocks_for(num_tokens, self.block_size) - self._held.get(request_id, 0), 0)

    def can_allocate(self, request_id: str, num_tokens: int) -> bool:
        return self.extra_blocks(request_id, num_tokens) <= self.num_free

    def allocate(self, request_id: str, num_tokens: int) -> None:
        """Grow ``request_id``'s blocks to hold ``num_tokens``; call ``can_allocate`` first."""
        extra = self.extra_blocks(request_id, num_tokens)
        if extra > self.num_free:
            raise RuntimeError(f"KV cache overcommitted: {request_id} needs {extra} blocks, {self.num_free} free")
        if extra:
            self._held[request_id] = self._held.get(request_id, 0) + extra
            self.num_free -= extra

    def free(self, request_id: str) -> int:
        """Release every block of ``request_id``; returns how many."""
        n = self._held.pop(request_id, 0)
        self.num_free += n
        return n

    def num_held(self) -> int:
        """Blocks held, summed over requests (equals ``num_blocks - num_free`` when the pool is consistent)."""
        return sum(self._held.values())
