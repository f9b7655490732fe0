"""A bounded, thread-safe, per-process cache of things compiled from text (schemas, filters).

Keyed by the text itself, never by a row id: the text is what the value is made from, so an entry
can never go stale (ids can come back after a rollback), and identical texts share one entry.
Hashing a text costs microseconds; compiling it costs milliseconds to seconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class CompiledCache(Generic[T]):
    def __init__(self, build: Callable[[str], T], *, size: int = 1024):
        self._build, self._size = build, size
        self._entries: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, text: str) -> T:
        try:
            return self._entries[text]
        except KeyError:
            pass
        # Built outside the lock: two threads may build the same entry once each, which is harmless,
        # while a slow compilation never blocks lookups of other entries.
        value = self._build(text)
        with self._lock:
            self._entries[text] = value
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value
