"""Counting with a ceiling: memory follows a fixed number of distinct keys, whatever the traffic.

Distinct values come from the wire (a scan, or a hostile sender with a million random SNIs), so
no distribution may keep every key it meets. These counters are exact until `limit` distinct
keys; past that they keep the heaviest keys, space-saving style (Metwally et al., 2005), with the
eviction batched: the map grows to twice the limit, then keeps its `limit` heaviest keys, and
every key that arrives later starts from `error`, the largest count ever evicted. So for every
key kept, true count <= count <= true count + error, and every key whose true count exceeds
`error` is still there. `error` is 0 while the counts are exact.

One pruning sorts at most 2 x limit entries and happens at most once per `limit` new keys:
amortised O(log limit) per new key, O(1) per known key.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Generic, TypeVar

K = TypeVar("K")
R = TypeVar("R")


class BoundedCounter(Generic[K]):
    """key -> count, exact up to `limit` distinct keys, then heavy hitters with a stated error."""

    __slots__ = ("limit", "counts", "error", "total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[K, int] = {}
        self.error = 0  # the largest count evicted so far: the overestimate bound of every count
        self.total = 0  # everything added, exact whatever was evicted

    def add(self, key: K, n: int = 1) -> None:
        """(Hot callers may inline the known-key case: counts[key] += n and total += n.)"""
        self.total += n
        c = self.counts.get(key)
        if c is None:
            if len(self.counts) >= 2 * self.limit:
                self._prune()  # (a new dict)
            self.counts[key] = self.error + n
        else:
            self.counts[key] = c + n

    def add_all(self, keys: list[K]) -> None:
        """add(key) for each key (one call for the lot: the hot path of the summary)."""
        counts = self.counts
        for key in keys:
            c = counts.get(key)
            if c is None:
                if len(counts) >= 2 * self.limit:
                    self._prune()
                    counts = self.counts
                counts[key] = self.error + 1
            else:
                counts[key] = c + 1
        self.total += len(keys)

    def _prune(self) -> None:
        self.counts, evicted = _keep_heaviest(self.counts, self.limit, _count)
        self.error = max(self.error, evicted)

    @property
    def approximate(self) -> bool:
        return self.error > 0

    def __len__(self) -> int:
        return len(self.counts)

    def __iter__(self) -> Iterator[K]:
        return iter(self.counts)

    def most_common(self, n: int = 0) -> list[tuple[K, int]]:
        """(key, count), largest first, ties by key; all of them when n is 0."""
        ranked = sorted(self.counts.items(), key=_rank)
        return ranked[:n] if n else ranked


class BoundedTable(Generic[K, R]):
    """key -> record with a `count`, bounded like BoundedCounter: the records of the `limit`
    busiest keys are kept; a key evicted and seen again starts a new record whose count starts
    from `error` (its other fields then describe only what came after)."""

    __slots__ = ("limit", "records", "error", "make")

    def __init__(self, limit: int, make: Callable[[K], R]) -> None:
        self.limit = limit
        self.records: dict[K, R] = {}
        self.error = 0
        self.make = make

    def get(self, key: K) -> R:
        """The record of `key` (made when new), its count not yet raised: the caller adds 1."""
        rec = self.records.get(key)
        if rec is None:
            if len(self.records) >= 2 * self.limit:
                self.records, evicted = _keep_heaviest(self.records, self.limit, _record_count)
                self.error = max(self.error, evicted)
            rec = self.records[key] = self.make(key)
            rec.count = self.error  # type: ignore[attr-defined]
        return rec

    @property
    def approximate(self) -> bool:
        return self.error > 0

    def __len__(self) -> int:
        return len(self.records)

    def most_common(self, n: int = 0) -> list[tuple[K, R]]:
        ranked = sorted(self.records.items(), key=_record_rank)
        return ranked[:n] if n else ranked


_count: Callable[[tuple[object, int]], int] = itemgetter(1)


def _record_count(item: tuple[object, object]) -> int:
    return item[1].count  # type: ignore[attr-defined, no-any-return]


def _rank(item: tuple[K, int]) -> tuple[int, str]:
    return -item[1], str(item[0])


def _record_rank(item: tuple[K, object]) -> tuple[int, str]:
    return -item[1].count, str(item[0])  # type: ignore[attr-defined]


def _keep_heaviest(d: dict, limit: int, weight: Callable) -> tuple[dict, int]:  # type: ignore[type-arg]
    """The `limit` heaviest entries of d (ties: the earlier inserted wins, so runs are
    reproducible) and the largest weight dropped (the next one in that order)."""
    ranked = heapq.nlargest(limit + 1, d.items(), key=weight)
    dropped = weight(ranked[limit]) if len(ranked) > limit else 0
    return dict(ranked[:limit]), dropped
