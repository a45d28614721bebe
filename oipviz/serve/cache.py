"""The explorer's bounded caches (results, finished jobs' files): no unbounded growth."""

from __future__ import annotations

import threading
from collections import OrderedDict


class LRU:
    """A dict with at most ``size`` entries and ``max_bytes`` of weight; the least recently
    used entries go first."""

    def __init__(self, size: int, max_bytes: int = 1 << 62):
        self.size, self.max_bytes = size, max_bytes
        self.data: OrderedDict = OrderedDict()
        self.weights: dict = {}
        self.lock = threading.Lock()

    def get(self, key, default=None):
        with self.lock:
            if key not in self.data:
                return default
            self.data.move_to_end(key)
            return self.data[key]

    def put(self, key, value, weight: int = 0) -> None:
        with self.lock:
            self.data[key] = value
            self.weights[key] = weight
            self.data.move_to_end(key)
            while len(self.data) > 1 and (
                len(self.data) > self.size or sum(self.weights.values()) > self.max_bytes
            ):
                old, _ = self.data.popitem(last=False)
                del self.weights[old]

    def __len__(self) -> int:
        return len(self.data)
