"""A Bloom filter of every category a baseline saw, for columns with too many to list.

A column with more categories than ``ProfileOptions.known_cap`` keeps no
``known`` list, so without more a category never seen in training could not
be told from the rare ones folded into "other". The filter answers "seen in
training?" with no false negatives and a false-positive rate of about
``(1 - exp(-k n / m)) ** k``: with ``m = 2**20`` bits and ``k = 7`` hashes,
0.003% at 10,000 categories, 0.8% at 100,000 (a never-seen value then counts
as "other": the unseen share is under-, never over-stated). Serialised as
zlib-compressed base64 in the profile.

>>> f = BloomFilter()
>>> f.add_many(["DE", "FR"])
>>> "DE" in f, "XX" in f
(True, False)
>>> BloomFilter.from_dict(f.to_dict()) == f
True
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["BloomFilter"]


class BloomFilter:
    """``bits`` (a power of two) bits, ``hashes`` positions per item (double hashing)."""

    def __init__(self, bits: int = 2**20, hashes: int = 7) -> None:
        if bits < 8 or bits & (bits - 1):
            raise ValueError(f"bits must be a power of two >= 8, got {bits}")
        if not 1 <= hashes <= 16:
            raise ValueError(f"hashes must be in 1..16, got {hashes}")
        self.bits = bits
        self.hashes = hashes
        self._array = np.zeros(bits // 8, np.uint8)

    def _positions(self, item: str) -> list[int]:
        digest = hashlib.blake2b(item.encode(), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        mask = self.bits - 1
        return [(h1 + i * h2) & mask for i in range(self.hashes)]

    def add_many(self, items: Iterable[str]) -> None:
        for item in items:
            for p in self._positions(item):
                self._array[p >> 3] |= 1 << (p & 7)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        array = self._array
        return all(array[p >> 3] >> (p & 7) & 1 for p in self._positions(item))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BloomFilter)
            and (self.bits, self.hashes) == (other.bits, other.hashes)
            and bool((self._array == other._array).all())
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        data = base64.b64encode(zlib.compress(self._array.tobytes(), 9)).decode()
        return {"bits": self.bits, "hashes": self.hashes, "data": data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BloomFilter:
        bloom = cls(int(data["bits"]), int(data["hashes"]))
        raw = zlib.decompress(base64.b64decode(data["data"]))
        if len(raw) != bloom.bits // 8:
            raise ValueError("bloom filter data does not match its size")
        bloom._array = np.frombuffer(raw, np.uint8).copy()
        return bloom
