"""What upload-pack remembers between clones of the same refs.

Objects never change, so the objects reachable from a set of wants are the
same every time they are asked for.  Two answers are kept, per clone key
(repository, wants, include-tag and, with include-tag, the refs):

* **a whole pack**: the walk showed the answer is exactly one pack file.
  That stays true for as long as that file is unchanged (its identity is
  checked on use), and costs a few bytes to remember.
* **a walk**: the list of objects to send, for a big clone that is not a
  whole pack (a repository with refs a clone does not fetch, such as
  ``refs/pull/*``).  Kept compact (the ids joined, the types), within a byte
  budget; paths are not kept, as packs that big are not deltified afresh
  (``upload_pack.DELTA_SEARCH_MAX_OBJECTS``).  Which pack holds what is
  decided again on use, so a repack in between changes nothing.

Identical clones that arrive together wait for the first one's plan
(:func:`inflight`) instead of walking side by side.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from itertools import repeat
from typing import Optional

__all__ = ["inflight", "whole_pack", "remember_whole_pack", "forget", "walked",
           "remember_walk"]

_LOCK = threading.Lock()
_WHOLE: "OrderedDict" = OrderedDict()     # key -> pack identity
_WHOLE_MAX = 32
_WALKS: "OrderedDict" = OrderedDict()     # key -> (ids joined, types, id length)
_WALKS_MAX = 8
WALKS_MAX_BYTES = 64 << 20
_walk_bytes = 0
_INFLIGHT: dict = {}


def _pack_identity(pack):
    try:
        st = os.stat(pack.basename + ".pack")
    except (OSError, TypeError, AttributeError):
        return None
    return (pack.basename, st.st_size, st.st_mtime_ns, st.st_ino)


def whole_pack(key, packs):
    """The pack that answered ``key`` before, if it is still the same file; else None."""
    with _LOCK:
        ident = _WHOLE.get(key)
        if ident is None:
            return None
        _WHOLE.move_to_end(key)
    for pack in packs:
        if getattr(pack, "basename", None) == ident[0]:
            if _pack_identity(pack) == ident:
                return pack
    forget(key)
    return None


def remember_whole_pack(key, pack) -> None:
    ident = _pack_identity(pack)
    if ident is None:
        return
    with _LOCK:
        _WHOLE[key] = ident
        _WHOLE.move_to_end(key)
        while len(_WHOLE) > _WHOLE_MAX:
            _WHOLE.popitem(last=False)


def forget(key) -> None:
    """Drop what is remembered for ``key`` (its pack changed under it)."""
    global _walk_bytes
    with _LOCK:
        _WHOLE.pop(key, None)
        got = _WALKS.pop(key, None)
        if got is not None:
            _walk_bytes -= len(got[0]) + len(got[1])


def remember_walk(key, entries: list) -> None:
    """Keep the ``(hex id, type, path)`` items of a walk (without paths)."""
    global _walk_bytes
    if not entries:
        return
    size = len(entries[0][0])
    ids = b"".join([e[0] for e in entries])
    if len(ids) != size * len(entries):
        return   # ids of mixed lengths: not worth a careful encoding
    try:
        types = bytes([e[1] for e in entries])
    except (TypeError, ValueError):
        return
    cost = len(ids) + len(types)
    if cost > WALKS_MAX_BYTES // 2:
        return
    with _LOCK:
        old = _WALKS.pop(key, None)
        if old is not None:
            _walk_bytes -= len(old[0]) + len(old[1])
        _WALKS[key] = (ids, types, size)
        _walk_bytes += cost
        while len(_WALKS) > _WALKS_MAX or _walk_bytes > WALKS_MAX_BYTES:
            _, (i, t, _) = _WALKS.popitem(last=False)
            _walk_bytes -= len(i) + len(t)


def walked(key) -> Optional[list]:
    """The items a walk for ``key`` gave before (paths None), or None."""
    with _LOCK:
        got = _WALKS.get(key)
        if got is None:
            return None
        _WALKS.move_to_end(key)
    ids, types, size = got
    return list(zip([ids[i:i + size] for i in range(0, len(ids), size)], types,
                    repeat(None)))


class inflight:
    """One lock per clone key, dropped when nobody holds or waits for it.

    ``shared`` carries a plan that is not a whole pack (the entries to send)
    from the clone that computed it to the identical ones waiting meanwhile;
    it goes away with the last of them.
    """

    def __init__(self, key) -> None:
        self.key = key

    @property
    def shared(self):
        return self.entry[2]

    @shared.setter
    def shared(self, value) -> None:
        self.entry[2] = value

    def __enter__(self):
        with _LOCK:
            entry = _INFLIGHT.get(self.key)
            if entry is None:
                entry = _INFLIGHT[self.key] = [threading.Lock(), 0, None]
            entry[1] += 1
        self.entry = entry
        entry[0].acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.entry[0].release()
        with _LOCK:
            self.entry[1] -= 1
            if self.entry[1] == 0:
                _INFLIGHT.pop(self.key, None)
