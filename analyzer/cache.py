"""The one cache type of the package: a bounded map keyed by content, forgetting the least
recently used entry first.

Why one type: a cache keyed on `id()` of an object it does not keep alive answers for whatever
object later reuses that address (a ClientHello got another client's JA4 that way), and a cache
that clears itself wholesale when full makes every hit miss at once. So every cache here is keyed
by values (bytes, ints, strings, tuples of them) and evicts one entry at a time.
Thread-safe: library users may call in from several threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Final, Generic, TypeVar

V = TypeVar("V")
_MISSING: Final = object()


class LruCache(Generic[V]):
    """At most `maxsize` entries; `get` refreshes an entry, `put` evicts the least recently used."""

    __slots__ = ("maxsize", "_items", "_lock", "evictions")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"an LruCache holds at least one entry, not {maxsize}")
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0  # entries forgotten so far (tests and diagnostics)

    def get(self, key: Hashable) -> V | None:
        """The value (refreshed as most recent), or None when absent."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> V:
        """Store `value` under `key` and return it."""
        with self._lock:
            items = self._items
            items[key] = value
            items.move_to_end(key)
            if len(items) > self.maxsize:
                items.popitem(last=False)
                self.evictions += 1
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value, or `make()` stored (computed outside the lock); None is a value here."""
        with self._lock:
            found: Any = self._items.get(key, _MISSING)
            if found is not _MISSING:
                self._items.move_to_end(key)
                return found
        return self.put(key, make())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
