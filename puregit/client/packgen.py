"""The pack a push sends: objects reachable from ``want`` but not from ``have``.

``Repo.generate_pack_data`` and ``object_store.generate_pack_data`` are thin
wrappers over :func:`generate_pack_data` (Dulwich's porcelain passes the
bound method to ``send_pack``).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

__all__ = ["generate_pack_data", "missing_objects"]


def missing_objects(store, have: Iterable[bytes], want: Iterable[bytes],
                    shallow: Iterable[bytes] = ()) -> list:
    """``(id, type, path)`` of what ``want`` needs beyond ``have`` (haves we lack are ignored)."""
    have = [h for h in have if h in store]
    return list(store.iter_reachable(want, have, shallow))


def generate_pack_data(store, have: Iterable[bytes], want: Iterable[bytes], ofs_delta: bool = True,
                       progress: Optional[Callable[[bytes], object]] = None,
                       thin: bool = True, deltify: Optional[bool] = None) -> tuple:
    """Return ``(object count, iterator of pack byte chunks)``.

    With ``thin`` the pack may hold deltas against objects in ``have`` (the
    receiver completes them); stored deltas are reused and copied without
    inflating.
    """
    from ..pack_writer import generate_pack_chunks, iter_pack_file, single_pack_with
    have = [h for h in have if h in store]
    entries = list(store.iter_reachable(want, have))
    if ofs_delta:
        # Pushing everything a packed repository holds: send its pack file as is.
        pack = single_pack_with(store, entries)
        whole = iter_pack_file(pack, len(entries)) if pack is not None else None
        if whole is not None:
            return len(entries), whole
    chunks: Iterator[bytes] = generate_pack_chunks(
        store, entries, deltify=True if deltify is None else deltify, reuse=True,
        ofs_delta=ofs_delta, thin_bases=have if thin else (), progress=progress)
    return len(entries), chunks
