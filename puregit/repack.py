"""``git repack -a -d [-b]`` and a minimal ``git gc``: one pack of everything reachable.

:func:`repack` writes every object reachable from the refs (and HEAD) into
one new pack, reusing stored deltas and compressed data from the old packs,
writes its ``.idx`` (and, by default, a reachability ``.bitmap``), packs
the refs, and only then removes what the new pack made redundant:

* old packs: an old pack holding objects the new pack lacks (unreachable
  ones, or reachable only from reflogs or the index) first has those
  objects written out as loose objects, with the pack's mtime, as
  ``git repack -A`` does, so nothing is ever lost; packs with a ``.keep``
  file are left alone;
* loose objects that are in the new pack (``git prune-packed``).

Nothing is pruned: unreachable loose objects stay as they are.  The new
pack is written under a temp name and installed ``.pack`` first, ``.idx``
next, ``.bitmap`` last, so a concurrent reader never sees an index without
its pack; packs that appear while we run are not touched.
"""

from __future__ import annotations

import binascii
import os
import tempfile
from typing import Callable, Optional

from .errors import PuregitError
from .graph import TAG, tag_target
from .loose import encode_loose
from .object_store import TYPE_NUM_TO_NAME, write_file_atomically
from .pack_index import write_pack_index
from .pack_writer import PackGenerator

__all__ = ["repack", "gc", "RepackResult"]

Progress = Optional[Callable[[bytes], object]]


class RepackResult:
    """What :func:`repack` did."""

    def __init__(self) -> None:
        self.pack: Optional[str] = None        # basename of the new pack (None: nothing to pack)
        self.num_objects = 0
        self.bitmap: Optional[str] = None      # path of the written bitmap
        self.removed_packs: list[str] = []
        self.removed_loose = 0
        self.loosened = 0                      # objects moved out of removed packs

    def __repr__(self) -> str:
        return (f"RepackResult(pack={self.pack!r}, objects={self.num_objects}, "
                f"bitmap={self.bitmap!r}, removed_packs={len(self.removed_packs)}, "
                f"removed_loose={self.removed_loose}, loosened={self.loosened})")


def _tips(repo) -> list[bytes]:
    """Hex ids the new pack must cover: every ref and HEAD (even detached)."""
    return sorted(set(repo.get_refs().values()))


def _shallow(repo) -> set:
    get = getattr(repo, "get_named_file", None)
    f = get("shallow") if get else None
    if f is None:
        return set()
    with f:
        return {line.strip() for line in f.read().splitlines() if line.strip()}


def _peeler(store):
    def peel(sha: bytes) -> Optional[bytes]:
        """The non-tag an annotated tag leads to; None for other objects."""
        target = None
        for _ in range(64):
            try:
                type_num, body = store.get_raw(sha)
            except KeyError:
                return target
            if type_num != TAG:
                return target
            sha = target = tag_target(body)[0]
        return target
    return peel


def _write_pack(store, entries: list, progress: Progress) -> tuple[str, int]:
    """Write ``entries`` as a pack plus ``.idx``; install them; return (basename, count)."""
    pack_dir = store.pack_dir
    os.makedirs(pack_dir, exist_ok=True)
    fd, tmp_pack = tempfile.mkstemp(dir=pack_dir, prefix="tmp_pack_")
    tmp_idx = None
    try:
        gen = PackGenerator(store, entries, deltify=True, reuse=True, progress=progress,
                            hash_algo=store.hash_algo)
        with os.fdopen(fd, "wb") as f:
            for chunk in gen:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        written = gen.entries_written
        if len(written) != len(entries):
            raise PuregitError(f"pack writer wrote {len(written)} of {len(entries)} objects")
        idx_entries = [(binascii.unhexlify(k), off, crc) for k, (off, crc) in written.items()]
        fd, tmp_idx = tempfile.mkstemp(dir=pack_dir, prefix="tmp_idx_")
        with os.fdopen(fd, "wb") as f:
            write_pack_index(f, idx_entries, gen.checksum, hash_algo=store.hash_algo)
            f.flush()
            os.fsync(f.fileno())
        basename = os.path.join(pack_dir, "pack-" + gen.checksum.hex())
        if os.path.exists(basename + ".pack") and os.path.exists(basename + ".idx"):
            return basename, len(written)  # the very same pack is already installed
        for path in (tmp_pack, tmp_idx):
            os.chmod(path, 0o444)
        os.replace(tmp_pack, basename + ".pack")
        os.replace(tmp_idx, basename + ".idx")
        return basename, len(written)
    finally:
        for path in (tmp_pack, tmp_idx):
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass


def _remove_pack(basename: str) -> None:
    """Delete a pack's files, the ``.idx`` last (readers list packs by it)."""
    for ext in (".bitmap", ".rev", ".mtimes", ".promisor", ".pack", ".idx"):
        try:
            os.unlink(basename + ext)
        except FileNotFoundError:
            pass


def _loosen(store, pack, new_ids, progress: Progress) -> int:
    """Write the objects of ``pack`` that are not in ``new_ids`` as loose objects."""
    hexlify = binascii.hexlify
    mtime = os.path.getmtime(pack.basename + ".pack")
    n = 0
    for binsha in pack.index.iter_sha():
        if binsha in new_ids:
            continue
        sha = hexlify(binsha)
        path = store._loose_path(sha)
        if not os.path.exists(path):
            type_num, body = store.get_raw(sha)
            write_file_atomically(path, encode_loose(TYPE_NUM_TO_NAME[type_num], body,
                                                     store.loose_compression_level), mode=0o444)
            os.utime(path, (mtime, mtime))  # unreachable objects keep their age (for prune)
        n += 1
    if n and progress is not None:
        progress(b"Loosened %d unreachable objects from %s\n"
                 % (n, os.path.basename(pack.basename).encode()))
    return n


def _prune_packed(store, new_ids) -> int:
    """Remove loose objects the new pack holds, and fan-out directories left empty."""
    unhex = binascii.unhexlify
    removed = 0
    dirs = set()
    for sha in list(store.iter_loose()):
        try:
            binsha = unhex(sha)
        except binascii.Error:
            continue
        if binsha in new_ids:
            path = store._loose_path(sha)
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                continue
            dirs.add(os.path.dirname(path))
    for d in dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass  # not empty
    return removed


def repack(repo, write_bitmap: bool = True, progress: Progress = None,
           pack_refs: bool = True, delete: bool = True) -> RepackResult:
    """Pack everything reachable into one new pack and drop what it makes redundant.

    ``progress(bytes)`` gets git-style progress lines.  ``write_bitmap`` also
    writes ``pack-<hash>.bitmap`` (skipped in a shallow repository, whose
    history is incomplete).  ``pack_refs`` moves loose refs into
    ``packed-refs``.  ``delete=False`` keeps the old packs and loose objects
    (``git repack -a`` without ``-d``).  Returns a :class:`RepackResult`.
    """
    from .bitmap_write import write_bitmap as _write_bitmap
    from .pack import Pack

    store = repo.object_store
    result = RepackResult()
    store._pack_cache = None  # see every pack present now
    old_packs = [p for p in store.packs if not os.path.exists(p.basename + ".keep")]
    tips = _tips(repo)
    shallow = _shallow(repo)
    entries = list(store.iter_reachable(tips, (), shallow))
    if entries:
        basename, count = _write_pack(store, entries, progress)
        del entries
        result.pack = basename
        result.num_objects = count
        new_pack = Pack(basename, hash_algo=store.hash_algo)
        try:
            new_ids = set(new_pack.index.iter_sha())
            if write_bitmap and not shallow:
                if progress is not None:
                    progress(b"Writing bitmap index\n")
                result.bitmap = _write_bitmap(store, new_pack, tips)
        finally:
            new_pack.close()
    else:
        new_ids = set()

    if pack_refs and hasattr(repo.refs, "pack_refs"):
        repo.refs.pack_refs(all=True, peel=_peeler(store))

    if result.pack is None or not delete:
        return result
    # Only now that the new pack, its index and bitmap are in place: clean up.
    store._pack_cache = None
    for pack in old_packs:
        if pack.basename == result.pack:
            continue
        result.loosened += _loosen(store, pack, new_ids, progress)
        pack.close()
        _remove_pack(pack.basename)
        result.removed_packs.append(pack.basename)
    store._pack_cache = None
    result.removed_loose = _prune_packed(store, new_ids)
    if progress is not None:
        progress(b"Removed %d old packs and %d loose objects\n"
                 % (len(result.removed_packs), result.removed_loose))
    return result


def gc(repo, progress: Progress = None) -> RepackResult:
    """``git gc`` without pruning: pack refs, repack everything with a bitmap."""
    return repack(repo, write_bitmap=True, progress=progress, pack_refs=True)
