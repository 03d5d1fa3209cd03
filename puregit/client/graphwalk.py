"""Graph walkers: which local commits to offer as ``have`` during fetch.

A graph walker has two methods: ``next()`` returns the next commit id to
offer (or None when there is nothing left) and ``ack(sha)`` tells it the
server has ``sha``, so neither it nor its ancestors need to be offered.
Any object with those two methods works (the tutorial's ``DummyGraphWalker``
offers nothing).
"""

from __future__ import annotations

import heapq
from typing import Callable, Iterable, Optional

__all__ = ["ObjectStoreGraphWalker"]


class ObjectStoreGraphWalker:
    """Walk local history newest-first (like cgit's default negotiator).

    ``get_parents(sha)`` returns parent ids; ``get_commit_time(sha)`` (optional)
    orders the walk by date, otherwise it is breadth first.  Missing objects
    (shallow or partial repositories) simply end the walk on that branch.
    """

    def __init__(self, local_heads: Iterable[bytes], get_parents: Callable[[bytes], list],
                 shallow: Optional[Iterable[bytes]] = None,
                 get_commit_time: Optional[Callable[[bytes], int]] = None) -> None:
        self.get_parents = get_parents
        self.get_commit_time = get_commit_time
        self.shallow = set(shallow or ())
        self._heap: list = []
        self._counter = 0
        self._queued: set = set()
        self._common: set = set()
        self._parents: dict = {}
        for h in local_heads:
            self._push(h)

    def _push(self, sha: bytes) -> None:
        if sha in self._queued or sha in self._common:
            return
        self._queued.add(sha)
        when = 0
        if self.get_commit_time is not None:
            try:
                when = self.get_commit_time(sha)
            except (KeyError, ValueError):
                when = 0
        self._counter += 1
        heapq.heappush(self._heap, (-when, self._counter, sha))

    def _parents_of(self, sha: bytes) -> list:
        if sha in self.shallow:
            return []
        got = self._parents.get(sha)
        if got is None:
            try:
                got = list(self.get_parents(sha))
            except (KeyError, ValueError):
                got = []
            self._parents[sha] = got
        return got

    def next(self) -> Optional[bytes]:
        while self._heap:
            _, _, sha = heapq.heappop(self._heap)
            if sha in self._common:
                continue
            for p in self._parents_of(sha):
                self._push(p)
            return sha
        return None

    __next__ = next

    def __iter__(self):
        return iter(self.next, None)

    def ack(self, sha: bytes) -> None:
        """Mark ``sha`` and the ancestors we have looked at as common."""
        stack = [sha]
        while stack:
            s = stack.pop()
            if s in self._common:
                continue
            self._common.add(s)
            stack.extend(self._parents.get(s, ()))
