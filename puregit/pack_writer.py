"""Write packs: entry headers, delta search and a streaming pack generator.

A pack is ``PACK``, version 2, an object count, the entries, and a trailing
checksum (SHA-1, or SHA-256 in SHA-256 repositories) over all of it.  Each
entry is a type+size varint header, for ``OFS_DELTA`` a backwards offset to
the base or for ``REF_DELTA`` the base's id, then zlib data (gitformat-pack).

:class:`PackGenerator` works the way ``git pack-objects`` does, in three
passes, holding per-object metadata but never the whole pack:

1. *count*: find where each object is stored; an object stored in a pack as a
   delta against another object that is also sent (or, for a thin pack, that
   the receiver has) keeps that delta, and an object stored whole keeps its
   compressed bytes: both are later copied without inflating.
2. *search* (``deltify``): the remaining objects are sorted by type, path name
   hash (:func:`pack_name_hash`) and size, largest first, and each is
   delta'd against the previous ``window`` objects, at most ``depth`` deltas
   deep, with the size limits of ``try_delta`` in cgit.  Small deltas are
   cached (compressed) within a memory budget; the rest are recomputed when
   written.  Objects stored whole in the same pack are not retried against
   each other: an earlier repack already decided they do not delta well.
3. *write*: entries go out in git's write order (commits, tags, trees, then
   blobs, each base before its deltas), as chunks of about 64 KiB.

When one pack holds most of the wanted objects (``reuse`` with
``ofs_delta``), its entries are sent first as raw slices of the pack file
(:mod:`puregit.pack_reuse`) and only the other objects take the passes above.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from typing import Callable, Iterable, Iterator, Optional, Union

from .delta_create import DeltaIndex
from .errors import PackError, PuregitError
from .hashes import SHA1, HashAlgorithm
from .pack import encode_entry_header as _encode_entry_header, encode_ofs_distance
from . import pack_reuse
from .pack_reuse import MAX_CHUNK, SlicePlan, plan_slice_reuse

__all__ = [
    "OFS_DELTA", "REF_DELTA", "DEFAULT_WINDOW", "DEFAULT_DEPTH",
    "encode_entry_header", "encode_ofs_delta_offset", "pack_object_header",
    "write_pack_header", "pack_name_hash", "PackGenerator", "generate_pack_chunks",
    "write_pack_objects", "write_pack",
]

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
OFS_DELTA, REF_DELTA = 6, 7
DEFAULT_WINDOW = 10
DEFAULT_DEPTH = 50
MIN_DELTA_SIZE = 50                  # cgit does not try to delta smaller objects
BIG_FILE_THRESHOLD = 512 * 1024 * 1024
CACHE_SMALL_DELTA = 1000             # deltas below this are always cached (pack.deltaCacheLimit)
DELTA_CACHE_BUDGET = 64 * 1024 * 1024
CHUNK_SIZE = 64 * 1024
_WRITE_RANK = {COMMIT: 0, TAG: 1, TREE: 2, BLOB: 3}


# --- entry encoding ---------------------------------------------------------

def encode_entry_header(type_num: int, size: int) -> bytes:
    """The ``n``-byte type and length header, refusing types and sizes git would."""
    if not 1 <= type_num <= 7 or type_num == 5:
        raise PackError(f"bad pack entry type {type_num}")
    if size < 0:
        raise PackError(f"negative pack entry size {size}")
    return _encode_entry_header(type_num, size)


def encode_ofs_delta_offset(distance: int) -> bytes:
    """The OFS_DELTA base distance; the base must precede the delta."""
    if distance <= 0:
        raise PackError(f"OFS_DELTA base must precede the delta (distance {distance})")
    return encode_ofs_distance(distance)


def pack_object_header(type_num: int, delta_base: Union[None, int, bytes], size: int) -> bytes:
    """Dulwich's helper: header plus the OFS distance (int) or REF base id (binary bytes)."""
    header = encode_entry_header(type_num, size)
    if type_num == OFS_DELTA:
        return header + encode_ofs_delta_offset(delta_base)
    if type_num == REF_DELTA:
        return header + delta_base
    return header


def write_pack_header(write: Callable[[bytes], object], num_objects: int) -> None:
    """Write ``PACK``, version 2 and the object count."""
    write(_pack_header(num_objects))


def _pack_header(num_objects: int) -> bytes:
    return b"PACK" + struct.pack(">II", 2, num_objects)


def pack_name_hash(path: Optional[bytes]) -> int:
    """cgit's path hash: sorts by the last ~16 non-space bytes, the last counting most.

    Objects whose paths end alike (same file, or same extension) sort next to
    each other, so they meet in the delta window.
    """
    if not path:
        return 0
    h = 0
    for c in path:
        if c in b" \t\n\r\v\f":
            continue
        h = ((h >> 2) + (c << 24)) & 0xFFFFFFFF
    return h


# --- the generator ----------------------------------------------------------

class _Entry:
    """What the writer knows about one object (no data: that stays in the store)."""

    __slots__ = ("id", "type_num", "name_hash", "size", "order", "pack", "stored_type",
                 "base", "thin_base", "delta_size", "delta_z", "depth", "offset", "reused",
                 "pack_offset", "pack_end")

    def __init__(self, hex_id: bytes, type_num: int, name_hash: int, order: int) -> None:
        self.id = hex_id
        self.type_num = type_num
        self.name_hash = name_hash
        self.size = -1            # object size; -1 until known
        self.order = order
        self.pack = None          # pack holding the object, when reusing
        self.stored_type = 0      # type of that pack entry (1-4, 6, 7)
        self.base: Optional[_Entry] = None      # delta base among the sent objects
        self.thin_base: Optional[bytes] = None  # delta base the receiver has (thin pack)
        self.delta_size = 0       # size of a computed delta
        self.delta_z: Optional[bytes] = None    # cached compressed computed delta
        self.depth = 0
        self.offset = -1          # where it was written
        self.reused = False       # copy the stored entry as it is
        self.pack_offset = -1     # where the stored entry starts in ``pack``
        self.pack_end = -1        # and where it ends, when known


class _Slot:
    """A delta window member: an entry and, loaded on demand, its data and index."""

    __slots__ = ("entry", "data", "index")

    def __init__(self, entry: _Entry, data: Optional[bytes]) -> None:
        self.entry = entry
        self.data = data
        self.index: Optional[DeltaIndex] = None


class PackGenerator:
    """Stream a pack of ``entries`` from ``store``; iterate to get the bytes.

    ``entries`` are ``(hex id, type_num, path)`` as ``store.iter_reachable``
    yields them.  After iteration, ``entries_written`` maps each hex id to
    ``(offset, crc32)`` (what a ``.idx`` needs) and ``checksum`` holds the
    pack's binary trailer.  ``thin_bases`` are ids the receiver has: stored
    deltas against them are sent as REF_DELTA without their base.
    ``slice_min_objects``: the fewest objects one pack must hold (and at
    least half of those wanted) for them to be copied as slices of it
    (default ``pack_reuse.SLICE_MIN_OBJECTS``).
    """

    def __init__(self, store, entries: Iterable, *, deltify: bool = True, reuse: bool = True,
                 ofs_delta: bool = True, thin_bases: Iterable[bytes] = (),
                 progress: Optional[Callable[[bytes], object]] = None,
                 window: int = DEFAULT_WINDOW, depth: int = DEFAULT_DEPTH,
                 compression_level: int = -1,
                 delta_cache_budget: int = DELTA_CACHE_BUDGET,
                 hash_algo: Optional[HashAlgorithm] = None,
                 slice_min_objects: Optional[int] = None) -> None:
        self.store = store
        self._input = entries
        self.deltify = deltify
        self.reuse = reuse
        self.ofs_delta = ofs_delta
        self.thin_bases = {_hex(s) for s in thin_bases}
        self.progress = progress
        self.window = max(0, window)
        self.depth = max(1, depth)
        self.level = compression_level
        self.cache_budget = delta_cache_budget
        self.hash_algo = hash_algo or getattr(store, "hash_algo", SHA1)
        self.slice_min_objects = slice_min_objects
        self._written: dict[bytes, tuple[int, int]] = {}
        self.checksum: Optional[bytes] = None
        self.stats = {"total": 0, "deltas": 0, "reused": 0, "reused_deltas": 0}
        self._objects: list[_Entry] = []
        self._slices: Optional[SlicePlan] = None      # the region copied from one pack
        self._slice_stubs: dict[bytes, _Entry] = {}    # its objects that are bases of others
        self._slices_pending = False                   # its offsets not yet in _written

    @property
    def entries_written(self) -> dict[bytes, tuple[int, int]]:
        """hex id -> (offset, crc32) of every entry written so far.

        The entries copied as slices are added on first access: building
        the map costs time that a server streaming the pack does not need.
        """
        if self._slices_pending:
            self._slices_pending = False
            self._written.update(self._slices.written())
        return self._written

    def _normalized_input(self) -> tuple[list, list]:
        """(items as (hex id, type, path), their ids); checked in C when already so."""
        items = self._input if isinstance(self._input, list) else list(self._input)
        if (set(map(type, items)) == {tuple} and set(map(len, items)) == {3}):
            ids = [it[0] for it in items]
            if (set(map(type, ids)) == {bytes}
                    and set(map(len, ids)) == {self.hash_algo.hex_size}):
                return items, ids
        items = [_normalize_entry(it) for it in items]
        return items, [it[0] for it in items]

    # -- pass 1: counting
    def _count(self) -> None:
        items, ids = self._normalized_input()
        wanted = set(ids)
        del ids
        total = len(wanted)
        self._report_done(b"Enumerating objects", total)
        done = 0
        packs = tuple(getattr(self.store, "packs", ())) if self.reuse else ()
        least = self.slice_min_objects
        if least is None:
            least = pack_reuse.SLICE_MIN_OBJECTS
        if packs and self.ofs_delta and total >= least:
            plan = self._slices = plan_slice_reuse(packs, wanted, self.thin_bases,
                                                   min_objects=least)
            if plan is not None:
                done = plan.count
                if done == total:
                    items = []
                else:
                    rest = wanted.difference(plan.ids())
                    items = [it for it in items if it[0] in rest]
        del wanted
        hash_cache: dict = {}
        seen: dict[bytes, _Entry] = {}
        for item in items:
            hex_id, type_num, path = item
            if hex_id in seen:
                continue
            h = hash_cache.get(path)
            if h is None:
                h = hash_cache[path] = pack_name_hash(path)
            e = _Entry(hex_id, type_num, h, len(seen))
            seen[hex_id] = e
        objects = list(seen.values())
        for pack in packs:
            if not hasattr(pack, "get_stored_entry"):
                continue
            self._locate_in_pack(pack, seen, objects)
        for i, e in enumerate(objects):
            if e.type_num is None or (e.size < 0 and not e.reused):
                type_num, body = self.store.get_raw(e.id)
                e.type_num = type_num
                e.size = len(body)
            if not i & 1023:
                self._report(b"Counting objects", done + i + 1, total)
        self._report_done(b"Counting objects", total)
        self._limit_chains(objects)
        self._objects = objects

    def _locate_in_pack(self, pack, seen: dict, objects: list) -> None:
        """Note how ``pack`` stores the objects not yet found in an earlier pack.

        When many of the pack's objects are wanted, one sequential pass over
        its entries is cheaper than an index lookup per object, and it tells
        where each entry ends, so writing can slice it without a lookup.
        """
        missing = sum(1 for e in objects if e.pack is None)
        if not missing:
            return
        iterate = getattr(pack, "iter_stored_entries", None)
        data = getattr(pack, "data", None)
        if iterate is not None and data is not None and missing * 3 >= len(pack):
            prev = None
            for hex_id, se in iterate():
                if prev is not None:
                    prev.pack_end = se.offset
                    prev = None
                e = seen.get(hex_id)
                if e is not None and e.pack is None:
                    self._use_stored(e, pack, se, seen)
                    prev = e
            if prev is not None:
                prev.pack_end = data.data_end
            return
        for e in objects:
            if e.pack is None and e.id in pack:
                self._use_stored(e, pack, pack.get_stored_entry(e.id), seen)

    def _use_stored(self, e: _Entry, pack, se, seen: dict) -> None:
        e.pack = pack
        e.stored_type = se.type_num
        e.pack_offset = se.offset
        if se.type_num < 5:
            e.type_num = se.type_num
            e.size = se.size
            e.reused = True
            return
        base_id = _hex(se.delta_base)
        base = seen.get(base_id)
        if base is None and self._slices is not None:
            base = self._slice_stub(base_id)
        if base is not None and base is not e:
            e.base = base
        elif base_id in self.thin_bases:
            e.thin_base = base_id
        else:
            return
        e.reused = True
        e.delta_size = se.size

    def _slice_stub(self, hex_id: bytes) -> Optional[_Entry]:
        """A written-already stand-in for an object of the slice region, or None."""
        stub = self._slice_stubs.get(hex_id)
        if stub is None:
            offset = self._slices.out_offset(hex_id)
            if offset is None:
                return None
            stub = self._slice_stubs[hex_id] = _Entry(hex_id, None, 0, -1)
            stub.offset = offset
            stub.reused = True
        return stub

    def _limit_chains(self, objects: list[_Entry]) -> None:
        """Give every delta its chain depth; write whole what loops or is too deep.

        Reused deltas come from packs written with other limits (or from
        several packs that disagree), and a base reused as is may itself have
        become a delta in the search, so chains are checked as a whole.
        """
        max_depth = self.depth
        depth_of: dict[int, int] = {}
        for e in objects:
            if id(e) in depth_of:
                continue
            path = []
            on_path = set()
            cur = e
            while cur.base is not None and id(cur) not in depth_of:
                if id(cur) in on_path:      # a loop: cut it here
                    cur.base = None
                    cur.reused = False
                    break
                on_path.add(id(cur))
                path.append(cur)
                cur = cur.base
            d = depth_of.get(id(cur), 0) if cur.base is not None else 0
            if cur.base is None:
                cur.depth = 0
                depth_of[id(cur)] = 0
            for c in reversed(path):
                if c.base is None:
                    d = 0
                else:
                    d += 1
                    if d > max_depth:
                        c.base = None
                        c.reused = False
                        d = 0
                c.depth = d
                depth_of[id(c)] = d
        for e in objects:
            if not e.reused and e.base is None and e.size < 0:
                type_num, body = self.store.get_raw(e.id)
                e.type_num, e.size = type_num, len(body)

    # -- pass 2: delta search
    def _search(self) -> None:
        cands = [e for e in self._objects
                 if e.base is None and e.thin_base is None and e.type_num in _WRITE_RANK
                 and MIN_DELTA_SIZE <= e.size <= BIG_FILE_THRESHOLD]
        if not cands or self.window <= 0:
            return
        cands.sort(key=lambda e: (-e.type_num, -e.name_hash, -e.size, e.order))
        window: deque = deque()
        get_raw = self.store.get_raw
        reuse = self.reuse
        max_depth = self.depth
        cache_left = self.cache_budget
        total = len(cands)
        for done, trg in enumerate(cands, 1):
            data: Optional[bytes] = None
            best_slot = None
            best_delta: Optional[bytes] = None
            for slot in reversed(window):
                src = slot.entry
                if src.type_num != trg.type_num:
                    break
                if (reuse and trg.pack is not None and trg.pack is src.pack
                        and trg.stored_type < 5):
                    continue
                if src.depth >= max_depth:
                    continue
                if best_delta is None:
                    max_size = trg.size // 2 - self.hash_algo.digest_size
                    ref_depth = 1
                else:
                    max_size = len(best_delta)
                    ref_depth = trg.depth
                max_size = max_size * (max_depth - src.depth) // (max_depth - ref_depth + 1)
                if max_size <= 0:
                    continue
                sizediff = trg.size - src.size if src.size < trg.size else 0
                if sizediff >= max_size or trg.size < src.size // 32:
                    continue
                if data is None:
                    data = get_raw(trg.id)[1]
                if slot.index is None:
                    if slot.data is None:
                        slot.data = get_raw(src.id)[1]
                    slot.index = DeltaIndex(slot.data)
                delta = slot.index.create(data, max_size)
                if delta is None:
                    continue
                if best_delta is not None and len(delta) == len(best_delta) \
                        and src.depth + 1 >= trg.depth:
                    continue
                best_delta, best_slot = delta, slot
                trg.depth = src.depth + 1
            if best_delta is not None:
                trg.base = best_slot.entry
                trg.reused = False
                trg.delta_size = len(best_delta)
                if len(best_delta) < CACHE_SMALL_DELTA or cache_left >= len(best_delta):
                    z = zlib.compress(best_delta, self.level)
                    if len(best_delta) >= CACHE_SMALL_DELTA:
                        cache_left -= len(z)
                    trg.delta_z = z
            if self.window and (trg.base is None or trg.depth < max_depth):
                new = _Slot(trg, data)
                if best_slot is not None:
                    # keep the best base longest: it is likely to serve the next object too
                    window.remove(best_slot)
                    window.append(new)
                    window.append(best_slot)
                else:
                    window.append(new)
                while len(window) > self.window:
                    window.popleft()
            self._report(b"Compressing objects", done, total)
        self._report_done(b"Compressing objects", total)

    # -- pass 3: writing
    def _write_order(self) -> list[_Entry]:
        objs = sorted(self._objects, key=lambda e: (_WRITE_RANK.get(e.type_num, 4), e.order))
        out = []
        placed = set()
        for e in objs:
            if id(e) in placed:
                continue
            chain = []
            cur = e
            while cur is not None and cur.offset < 0 and id(cur) not in placed:
                chain.append(cur)
                cur = cur.base
            for c in reversed(chain):
                placed.add(id(c))
                out.append(c)
        return out

    def __iter__(self) -> Iterator[bytes]:
        self._count()
        if self.deltify:
            self._search()
            self._limit_chains(self._objects)
        order = self._write_order()
        plan = self._slices
        total = len(order) + (plan.count if plan is not None else 0)
        hasher = self.hash_algo.new()
        buf = bytearray(_pack_header(total))
        pos = len(buf)
        if plan is not None:
            for chunk in plan.chunks(bytes(buf)):
                hasher.update(chunk)
                yield chunk
            buf.clear()
            pos += plan.size
            self.stats["reused"] += plan.count
            self.stats["deltas"] += plan.deltas
            self.stats["reused_deltas"] += plan.deltas
        written = self._written
        crc32 = zlib.crc32
        for e in order:
            e.offset = pos
            header, data = self._entry_bytes(e)
            written[e.id] = (pos, crc32(data, crc32(header)))
            buf += header
            buf += data
            pos += len(header) + len(data)
            if len(buf) >= CHUNK_SIZE:
                for chunk in _pieces(buf):
                    hasher.update(chunk)
                    yield chunk
                buf.clear()
        last = list(_pieces(buf))
        for chunk in last:
            hasher.update(chunk)
        self.checksum = hasher.digest()
        self.stats["total"] = total
        self._slices_pending = plan is not None
        for chunk in last[:-1]:
            yield chunk
        yield last[-1] + self.checksum
        if self.progress is not None:
            s = self.stats
            self.progress(b"Total %d (delta %d), reused %d (delta %d)\n"
                          % (s["total"], s["deltas"], s["reused"], s["reused_deltas"]))

    def _entry_bytes(self, e: _Entry) -> tuple[bytes, bytes]:
        """(header incl. base reference, compressed data) for one entry at ``e.offset``."""
        stats = self.stats
        if e.reused:
            stats["reused"] += 1
            if e.pack_end > 0:
                compressed = e.pack.data.get_compressed_data_at(e.pack_offset, e.pack_end)
            else:
                se = e.pack.get_stored_entry(e.id)
                if se.offset != e.pack_offset:
                    raise PackError(f"pack entry of {e.id!r} moved while writing")
                compressed = se.compressed
            if e.stored_type < 5:
                return encode_entry_header(e.stored_type, e.size), compressed
            stats["deltas"] += 1
            stats["reused_deltas"] += 1
            return self._delta_header(e, e.delta_size), compressed
        if e.base is not None:
            stats["deltas"] += 1
            z = e.delta_z
            if z is None:
                get_raw = self.store.get_raw
                delta = DeltaIndex(get_raw(e.base.id)[1]).create(get_raw(e.id)[1])
                e.delta_size = len(delta)
                z = zlib.compress(delta, self.level)
            else:
                e.delta_z = None
            return self._delta_header(e, e.delta_size), z
        type_num, body = self.store.get_raw(e.id)
        return encode_entry_header(type_num, len(body)), zlib.compress(body, self.level)

    def _delta_header(self, e: _Entry, size: int) -> bytes:
        base = e.base
        if base is not None and self.ofs_delta:
            return encode_entry_header(OFS_DELTA, size) + encode_ofs_delta_offset(e.offset - base.offset)
        base_id = base.id if base is not None else e.thin_base
        return encode_entry_header(REF_DELTA, size) + bytes.fromhex(base_id.decode("ascii"))

    # -- progress
    def _report(self, what: bytes, n: int, total: int) -> None:
        if self.progress is None or total == 0:
            return
        pct = n * 100 // total
        if pct != (n - 1) * 100 // total and n != total:
            self.progress(b"%s: %3d%% (%d/%d)\r" % (what, pct, n, total))

    def _report_done(self, what: bytes, total: int) -> None:
        if self.progress is None:
            return
        if what == b"Enumerating objects":
            self.progress(b"%s: %d, done.\n" % (what, total))
        else:
            self.progress(b"%s: 100%% (%d/%d), done.\n" % (what, total, total))


def _pieces(buf: bytearray) -> Iterator[bytes]:
    """``buf`` as chunks of at most MAX_CHUNK bytes (one, possibly empty, when small)."""
    if len(buf) <= MAX_CHUNK:
        yield bytes(buf)
        return
    for i in range(0, len(buf), MAX_CHUNK):
        yield bytes(buf[i:i + MAX_CHUNK])


def _hex(sha) -> bytes:
    if isinstance(sha, str):
        sha = sha.encode("ascii")
    if len(sha) in (20, 32):
        return sha.hex().encode("ascii")
    return sha


def _normalize_entry(item) -> tuple[bytes, Optional[int], Optional[bytes]]:
    if isinstance(item, (bytes, str)):
        return _hex(item), None, None
    if len(item) == 3:
        return _hex(item[0]), item[1], item[2]
    return _hex(item[0]), None, item[1]


def generate_pack_chunks(store, entries: Iterable, deltify: bool = True, reuse: bool = True,
                         ofs_delta: bool = True, thin_bases: Iterable[bytes] = (),
                         progress: Optional[Callable[[bytes], object]] = None,
                         **options) -> Iterator[bytes]:
    """Yield a pack of ``entries`` (``(hex id, type_num, path)``) as byte chunks.

    The header comes first and the trailing checksum last; see
    :class:`PackGenerator` for the options (``window``, ``depth``,
    ``compression_level``) and for getting offsets and CRCs afterwards.
    """
    return iter(PackGenerator(store, entries, deltify=deltify, reuse=reuse, ofs_delta=ofs_delta,
                              thin_bases=thin_bases, progress=progress, **options))


class _ObjectsStore:
    """Just enough of an object store over a list of in-memory objects."""

    def __init__(self, hash_algo: HashAlgorithm) -> None:
        self.hash_algo = hash_algo
        self.objects: dict[bytes, tuple[int, bytes]] = {}

    def get_raw(self, hex_id: bytes) -> tuple[int, bytes]:
        return self.objects[hex_id]


def single_pack_with(store, entries: list):
    """The on-disk pack holding exactly the objects of ``entries``, or None.

    A clone or a push of a freshly packed repository often sends exactly one
    existing pack; then the file can be streamed as it is (see
    :func:`iter_pack_file`) instead of rebuilding it entry by entry.
    """
    from binascii import hexlify
    for pack in getattr(store, "packs", ()):
        try:
            if len(pack) != len(entries) or not pack.basename:
                continue
            ids = {hexlify(b) for b in pack.index.iter_sha()}
        except (PuregitError, OSError, AttributeError):
            continue
        if len(ids) == len(entries) and all(e[0] in ids for e in entries):
            return pack
    return None


def iter_pack_file(pack, total: int, chunk_size: int = 1 << 20) -> Optional[Iterator[bytes]]:
    """The bytes of ``pack``'s file in chunks, or None if it vanished or changed.

    The header is checked against ``total`` before anything is returned, so a
    caller that gets None can still build the pack itself (a concurrent
    repack may have replaced the file).
    """
    try:
        f = open(pack.basename + ".pack", "rb")
    except OSError:
        return None
    head = f.read(12)
    if head[:4] != b"PACK" or int.from_bytes(head[8:12], "big") != total:
        f.close()
        return None

    def chunks() -> Iterator[bytes]:
        with f:
            yield head
            while True:
                chunk = f.read(chunk_size)
                if not chunk:
                    return
                yield chunk

    return chunks()


def write_pack_objects(write: Callable[[bytes], object], objects: Iterable, deltify: bool = True,
                       *, ofs_delta: bool = True, window: int = DEFAULT_WINDOW,
                       depth: int = DEFAULT_DEPTH, compression_level: int = -1,
                       progress: Optional[Callable[[bytes], object]] = None
                       ) -> tuple[dict[bytes, tuple[int, int]], bytes]:
    """Write a pack of ``objects`` (``ShaFile``s or ``(ShaFile, path)`` pairs) to ``write``.

    Returns ``(entries, checksum)``: ``entries`` maps each hex id to
    ``(offset, crc32)`` and ``checksum`` is the pack's binary trailer.
    """
    store = None
    entries = []
    for item in objects:
        obj, path = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        if store is None:
            store = _ObjectsStore(getattr(obj, "hash_algo", None) or SHA1)
        if isinstance(path, str):
            path = path.encode("utf-8")
        hex_id = _hex(obj.id)
        store.objects[hex_id] = (obj.type_num, obj.as_raw_string())
        entries.append((hex_id, obj.type_num, path))
    if store is None:
        store = _ObjectsStore(SHA1)
    gen = PackGenerator(store, entries, deltify=deltify, reuse=False, ofs_delta=ofs_delta,
                        progress=progress, window=window, depth=depth,
                        compression_level=compression_level)
    for chunk in gen:
        write(chunk)
    return gen.entries_written, gen.checksum


def write_pack(filename: str, objects: Iterable, deltify: bool = True, **options) -> tuple[bytes, bytes]:
    """Write ``filename + ".pack"`` and its ``.idx``; return (pack checksum, index checksum).

    ``objects`` as for :func:`write_pack_objects`; files are written to temp
    names and renamed, ``.idx`` last, so readers never see half a pack.
    """
    import os
    from .pack_index import write_pack_index

    with open(filename + ".pack.tmp", "wb") as f:
        entries, checksum = write_pack_objects(f.write, objects, deltify, **options)
    idx_entries = [(bytes.fromhex(k.decode("ascii")), off, crc) for k, (off, crc) in entries.items()]
    with open(filename + ".idx.tmp", "wb") as f:
        idx_checksum = write_pack_index(f, idx_entries, checksum)
    os.replace(filename + ".pack.tmp", filename + ".pack")
    os.replace(filename + ".idx.tmp", filename + ".idx")
    return checksum, idx_checksum
