"""Pack-slice reuse: send most of an existing pack as runs of raw bytes.

When most wanted objects sit in one pack (a clone, a big fetch, a repack),
copying entry by entry costs Python work per object.  Like git's reuse of
packfile chunks, :func:`plan_slice_reuse` instead emits the pack's own
entries for the wanted objects in the pack's offset order, so each maximal
run of consecutive wanted entries is one slice of the mmap'd file.

What has to be fixed up, all decided before the pack header is written (the
object count must be exact):

* after a gap (an entry that is not sent), an OFS_DELTA whose base lies before
  the gap moves closer to it: its distance is re-encoded, and when the header
  length changes, every later entry shifts (tracked per run);
* a delta whose base is not sent: a base the receiver has (``thin``) turns it
  into a REF_DELTA; otherwise the object is left out of the region and the
  generator's normal path writes it (whole or with a new delta);
* a REF_DELTA is copied as it is when its base is sent earlier in the region.

Offsets and CRC32s for a ``.idx`` come from the source ``.idx`` and are only
materialized on demand (a server never asks for them).
"""

from __future__ import annotations

import re
import threading
import weakref
import zlib
from collections import OrderedDict
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress, repeat
from operator import add, gt, itemgetter, ne, or_, sub
from typing import Iterable, Iterator, Optional

from .errors import CorruptPackError, PuregitError
from .pack import encode_entry_header, encode_ofs_distance, parse_entry_header

__all__ = ["SLICE_MIN_OBJECTS", "MAX_CHUNK", "SlicePlan", "plan_slice_reuse"]

SLICE_MIN_OBJECTS = 2000      # below this, per-object copying is cheap enough
MAX_CHUNK = 1 << 20           # largest chunk handed to the caller
_PLANS_KEPT = 2               # slice plans cached per pack
RELEASE_STEP = 8 << 20        # a stream drops the pages it copied every this many bytes
OFS_DELTA, REF_DELTA = 6, 7
_LARGE_FLAG = 0x80000000
_TYPE_OF = bytes((b >> 4) & 7 for b in range(256))
_IS_DELTA = bytes(1 if t >= OFS_DELTA else 0 for t in range(256))   # by type number
_KEPT_RUNS = re.compile(rb"\x01+")
_OFS = re.compile(rb"\x06")
_REFS = re.compile(rb"\x07")
# an entry header: the size varint, then (OFS_DELTA) the distance varint
_DISTANCE = re.compile(rb"[\x80-\xff]*[\x00-\x7f]([\x80-\xff]*[\x00-\x7f])", re.S)


def _decode_distance(raw: bytes) -> int:
    d = raw[0] & 0x7F
    for c in raw[1:]:
        d = ((d + 1) << 7) | (c & 0x7F)
    return d


_SHORT_DISTANCES = {bytes([c]): c for c in range(128)}
_SHORT_DISTANCES.update((bytes([c | 0x80, c2]), _decode_distance(bytes([c | 0x80, c2])))
                        for c in range(128) for c2 in range(128))


def _pick(seq, order: list) -> list:
    """``[seq[i] for i in order]`` in C."""
    if len(order) > 1:
        return list(itemgetter(*order)(seq))
    return [seq[i] for i in order]


# --- per-pack tables (cached) -------------------------------------------------

class _Layout:
    """A pack's entries as flat tables, in index order and (lazily) in offset order."""

    def __init__(self, pack) -> None:
        index = pack.index
        data = pack.data
        self.index = index
        self.data = data
        self.mm = data._mmap
        self.data_end = data.data_end
        self.hash_size = hs = pack.hash_algo.digest_size
        hx = 2 * hs
        n = len(index)
        self.n = n
        tables = _v2_tables(index, hs, n)
        if tables is None:
            entries = list(index.iterentries())
            ids = b"".join(e[0] for e in entries).hex().encode("ascii")
            offs = [e[1] for e in entries]
            crcs = [e[2] for e in entries]
            if None in crcs:
                crcs = None
        else:
            ids, offs, crcs = tables
        self.ids = [ids[i:i + hx] for i in range(0, n * hx, hx)]
        self.offs = offs
        self.crcs = crcs
        self.types = bytes(_pick(self.mm, offs)).translate(_TYPE_OF)
        _release(data)   # that touched a page per entry: all of them, for a big pack
        self.n_deltas = self.types.count(OFS_DELTA) + self.types.count(REF_DELTA)
        self.has_ref = REF_DELTA in self.types
        self._by_offset = None
        self._ofs: Optional[tuple[list[int], list[int]]] = None
        self._lock = threading.Lock()
        #: recent slice plans by the wanted entries (identical concurrent clones
        #: share one plan instead of each building its own tables)
        self._plans: "OrderedDict[bytes, SlicePlan]" = OrderedDict()

    def cached_plan(self, key: bytes) -> Optional["SlicePlan"]:
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
            return plan

    def remember_plan(self, key: bytes, plan: "SlicePlan") -> None:
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > _PLANS_KEPT:
                self._plans.popitem(last=False)

    def drop_plans(self) -> None:
        """Forget the cached plans (they point back at the layout: a cycle)."""
        with self._lock:
            self._plans.clear()

    def by_offset(self) -> "_OffsetOrder":
        bo = self._by_offset
        if bo is None:
            with self._lock:
                bo = self._by_offset
                if bo is None:
                    bo = self._by_offset = _OffsetOrder(self)
        return bo

    def ofs_bases(self) -> tuple[list[int], list[int]]:
        """(positions of the OFS_DELTAs, positions of their bases), in offset order.

        Computed once per pack, mostly in C: a regex picks each entry's
        distance bytes and a table decodes the one- and two-byte ones.
        """
        pair = self._ofs
        if pair is None:
            bo = self.by_offset()
            offs = bo.offs
            where = [m.start() for m in _OFS.finditer(bo.types)]
            at = _pick(offs, where)
            match = _DISTANCE.match
            mm = self.mm
            raw = [match(mm, o).group(1) for o in at]
            dist = list(map(_SHORT_DISTANCES.get, raw))
            k = -1
            try:
                while True:                  # the few distances of three bytes or more
                    k = dist.index(None, k + 1)
                    dist[k] = _decode_distance(raw[k])
            except ValueError:
                pass
            pos = dict(zip(offs, range(len(offs) - 1)))
            bases = list(map(pos.get, map(sub, at, dist)))
            if None in bases:
                k = bases.index(None)
                raise CorruptPackError(f"OFS_DELTA at {at[k]} has no entry at its base offset "
                                       f"{at[k] - dist[k]}")
            pair = self._ofs = (where, bases)
            _release(self.data)   # the distances were read from every delta's header
        return pair

    def ref_base(self, i: int) -> bytes:
        """Hex id of the base of the REF_DELTA at position ``i`` (offset order)."""
        _, _, base, _ = parse_entry_header(self.mm, self._by_offset.offs[i], self.hash_size)
        return base.hex().encode("ascii")

    def position(self, hex_id: bytes) -> Optional[int]:
        """Offset-order position of ``hex_id`` in this pack, or None."""
        off = self.index.find_offset(bytes.fromhex(hex_id.decode("ascii")))
        if off is None:
            return None
        offs = self.by_offset().offs
        i = bisect_left(offs, off, 0, self.n)
        return i if i < self.n and offs[i] == off else None


class _OffsetOrder:
    """The tables of a layout sorted by pack offset (``offs`` ends with data_end)."""

    def __init__(self, lay: _Layout) -> None:
        self.order = order = sorted(range(lay.n), key=lay.offs.__getitem__)
        self.ids = _pick(lay.ids, order)
        self.offs = _pick(lay.offs, order)
        self.offs.append(lay.data_end)
        self._lay_crcs = lay.crcs   # not the layout itself: no cycle, freed with the pack
        self._crcs: Optional[list] = None
        self.types = bytes(_pick(lay.types, order))
        self.is_delta = self.types.translate(_IS_DELTA)
        self.refs = [m.start() for m in _REFS.finditer(self.types)]

    @property
    def crcs(self) -> Optional[list]:
        """CRC32s in offset order (None for an index v1), picked when first needed."""
        if self._crcs is None and self._lay_crcs is not None:
            self._crcs = _pick(self._lay_crcs, self.order)
        return self._crcs


def _v2_tables(index, hs: int, n: int):
    """(hex ids joined, offsets, crcs) straight from an index v2's tables, or None."""
    try:
        data = index._data
        ids_at, crcs_at = index._ids_at, index._crcs_at
        offs_at, large_at = index._offsets_at, index._large_at
    except AttributeError:
        return None
    from .pack_index import _be_uint32s
    offs = _be_uint32s(data[offs_at:large_at])
    if n and max(offs) & _LARGE_FLAG:
        return None   # a pack over 2 GiB: take the generic route
    crcs = _be_uint32s(data[crcs_at:offs_at])
    ids = bytes(data[ids_at:crcs_at]).hex().encode("ascii")
    if len(ids) != 2 * hs * n or len(offs) != n or len(crcs) != n:
        return None
    return ids, offs, crcs


_LAYOUTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LAYOUTS_LOCK = threading.Lock()


def _release(data) -> None:
    release = getattr(data, "release_pages", None)
    if release is not None:
        release()


def cached_layout(pack) -> Optional[_Layout]:
    """The layout of ``pack`` if one was built already, else None (nothing is read)."""
    with _LAYOUTS_LOCK:
        return _LAYOUTS.get(pack)


def _layout(pack) -> _Layout:
    with _LAYOUTS_LOCK:
        lay = _LAYOUTS.get(pack)
    if lay is None:
        lay = _Layout(pack)
        with _LAYOUTS_LOCK:
            got = _LAYOUTS.get(pack)
            if got is not None:
                return got
            _LAYOUTS[pack] = lay
        # the plans refer to the layout: break that cycle when the pack goes,
        # so its tables (and the mapping) are freed at once, not by a later gc
        weakref.finalize(pack, lay.drop_plans)
    return lay


# --- the plan -----------------------------------------------------------------

class SlicePlan:
    """Which entries of one pack go out, as byte ranges and rewritten headers.

    ``count`` entries (``deltas`` of them deltas) take ``size`` bytes right
    after the pack header.  ``pieces`` are ``(start, end)`` ranges of the pack
    file or ``bytes`` (a rewritten entry header), in output order.
    """

    def __init__(self, lay: _Layout, keep: Optional[list], count: int, deltas: int,
                 pieces: list, size: int, runs: list, rewrites: dict) -> None:
        self.pack_layout = lay
        self.keep = keep            # offset-order flags; None: every entry, unchanged
        self.count = count
        self.deltas = deltas
        self.pieces = pieces
        self.size = size
        self._runs = runs           # (first, end, bytes removed before) per run of kept entries
        self._run_starts = [r[0] for r in runs]
        self._rewrites = rewrites   # position -> (new header, data start, growth)
        self._rw_pos = sorted(rewrites)
        growth, cum = 0, []
        for p in self._rw_pos:
            growth += rewrites[p][2]
            cum.append(growth)
        self._rw_cum = cum

    def ids(self) -> Iterable[bytes]:
        """Hex ids of the entries in the region."""
        lay = self.pack_layout
        if self.keep is None:
            return lay.ids
        return compress(lay.by_offset().ids, self.keep)

    def _growth_before(self, i: int) -> int:
        k = bisect_left(self._rw_pos, i)
        return self._rw_cum[k - 1] if k else 0

    def _out(self, i: int) -> int:
        """Output offset of the kept entry at offset-order position ``i``."""
        run = self._runs[bisect_right(self._run_starts, i) - 1]
        return self.pack_layout._by_offset.offs[i] - run[2] + self._growth_before(i)

    def out_offset(self, hex_id: bytes) -> Optional[int]:
        """Where ``hex_id`` is written, if it is in the region."""
        lay = self.pack_layout
        if self.keep is None:
            return lay.index.find_offset(bytes.fromhex(hex_id.decode("ascii")))
        i = lay.position(hex_id)
        if i is None or not self.keep[i]:
            return None
        return self._out(i)

    def chunks(self, head: bytes = b"") -> Iterator[bytes]:
        """``head`` then the region's bytes, in chunks of at most MAX_CHUNK.

        Pages already copied out are dropped from the process as the stream
        goes (see ``PackData.release_pages``), so streaming a pack does not
        leave the whole file in the server's RSS.
        """
        lay = self.pack_layout
        mm = lay.mm
        release = getattr(lay.data, "release_pages", None)
        released = 0
        buf = bytearray(head)
        for piece in self.pieces:
            if type(piece) is bytes:
                buf += piece
                continue
            s, e = piece
            if release is not None and s - released >= RELEASE_STEP:
                release(released, s)
                released = s
            while s < e:
                if not buf and e - s >= MAX_CHUNK:
                    yield mm[s:s + MAX_CHUNK]
                    s += MAX_CHUNK
                    if release is not None and s - released >= RELEASE_STEP:
                        release(released, s)
                        released = s
                    continue
                take = min(e - s, MAX_CHUNK - len(buf))
                buf += mm[s:s + take]
                s += take
                if len(buf) >= MAX_CHUNK:
                    yield bytes(buf)
                    buf.clear()
        if buf:
            yield bytes(buf)
        if release is not None:
            release(released, lay.data_end)

    def written(self) -> dict[bytes, tuple[int, int]]:
        """hex id -> (output offset, crc32) for every entry of the region."""
        lay = self.pack_layout
        if self.keep is None:
            crcs = lay.crcs
            if crcs is None:
                bo = lay.by_offset()
                crcs_o = [_crc(lay.mm, bo.offs[i], bo.offs[i + 1]) for i in range(lay.n)]
                return dict(zip(bo.ids, zip(bo.offs, crcs_o)))
            return dict(zip(lay.ids, zip(lay.offs, crcs)))
        bo = lay.by_offset()
        ids, offs, crcs = bo.ids, bo.offs, bo.crcs
        mm = lay.mm
        out: dict[bytes, tuple[int, int]] = {}
        rewrites = self._rewrites
        rw_pos = self._rw_pos
        growth = 0
        k = 0
        for first, end, removed in self._runs:
            s = first
            while True:
                r = rw_pos[k] if k < len(rw_pos) and rw_pos[k] < end else end
                shift = growth - removed
                if r > s:
                    seg_offs = map(add, offs[s:r], repeat(shift)) if shift else offs[s:r]
                    if crcs is not None:
                        out.update(zip(ids[s:r], zip(seg_offs, crcs[s:r])))
                    else:
                        out.update(zip(ids[s:r], zip(seg_offs, [
                            _crc(mm, offs[i], offs[i + 1]) for i in range(s, r)])))
                if r == end:
                    break
                header, data_at, grow = rewrites[r]
                crc = zlib.crc32(mm[data_at:offs[r + 1]], zlib.crc32(header))
                out[ids[r]] = (offs[r] + shift, crc)
                growth += grow
                k += 1
                s = r + 1
        return out


def _crc(mm, start: int, end: int) -> int:
    return zlib.crc32(mm[start:end])


def plan_slice_reuse(packs: Iterable, wanted: set, thin: set = frozenset(), *,
                     min_objects: int = SLICE_MIN_OBJECTS) -> Optional[SlicePlan]:
    """A plan to copy the wanted objects of the first pack holding most of them, or None.

    ``wanted`` and ``thin`` (objects the receiver has) are sets of hex ids.
    A pack qualifies when it holds at least ``min_objects`` and at least half
    of ``wanted``.  Objects of ``wanted`` outside the plan's :meth:`SlicePlan.ids`
    are left for the caller.
    """
    need = max(min_objects, (len(wanted) + 1) // 2, 1)
    for pack in packs:
        if not (hasattr(pack, "index") and hasattr(pack, "data")):
            continue   # not a file-backed pack
        try:
            if len(pack) < need:
                continue
            lay = _layout(pack)
            flags = list(map(wanted.__contains__, lay.ids))
            count = flags.count(True)
            if count < need:
                continue
            if count == lay.n and not lay.has_ref:
                return SlicePlan(lay, None, count, lay.n_deltas, [(12, lay.data_end)],
                                 lay.data_end - 12, [(0, lay.n, 0)], {})
            if thin:
                return _plan_subset(lay, flags, wanted, thin)
            key = bytes(flags)
            plan = lay.cached_plan(key)
            if plan is None:
                plan = _plan_subset(lay, flags, wanted, thin)
                lay.remember_plan(key, plan)
            return plan
        except _UNUSABLE:
            continue   # a damaged pack: the normal path reports it, object by object
    return None


# What reading a damaged (or vanished) pack's tables can raise.
_UNUSABLE = (PuregitError, OSError, ValueError, AttributeError, TypeError, IndexError)


def _plan_subset(lay: _Layout, flags: list, wanted: set, thin: set) -> SlicePlan:
    """The general case: gaps, re-encoded distances, REF_DELTA checks, exclusions."""
    bo = lay.by_offset()
    keep = _pick(flags, bo.order)
    n = lay.n
    offs = bo.offs
    ids = bo.ids
    try:
        first_gap = keep.index(False)
    except ValueError:
        first_gap = n

    def ref_ok(i: int) -> bool:
        h = lay.ref_base(i)
        if h in wanted:
            b = lay.position(h)
            return b is not None and b < i and keep[b]
        return h in thin

    for r in bo.refs:                     # REF_DELTAs in the gap-free prefix
        if r >= first_gap:
            break
        if not ref_ok(r):
            keep[r] = False
            first_gap = r
            break

    # Every sent delta after the first gap, in order: drop what cannot go.
    # ``todo`` gets (position, base position), or (position, ~base) for a
    # base the receiver has (the entry becomes a REF_DELTA).
    where, bases = lay.ofs_bases()
    k = bisect_left(where, first_gap)
    di, db = where[k:], bases[k:]
    refs = bo.refs[bisect_left(bo.refs, first_gap):]
    sent = list(map(keep.__getitem__, di))
    if not refs and all(compress(map(keep.__getitem__, db), sent)):
        ti = list(compress(di, sent))      # the usual case: every base is sent too
        tb = list(compress(db, sent))
    else:
        pairs: Iterable = zip(di, db)
        if refs:
            pairs = sorted([*pairs, *((r, -1) for r in refs)])
        ti, tb = [], []
        for i, b in pairs:
            if not keep[i]:
                continue
            if b >= 0:
                if keep[b]:
                    ti.append(i)
                    tb.append(b)
                    continue
                h = ids[b]
                if h not in wanted and h in thin:
                    ti.append(i)
                    tb.append(~b)
                else:
                    keep[i] = False
            elif not ref_ok(i):
                keep[i] = False
    del di, db, sent

    # Runs of kept entries, the bytes removed before each, and each entry's run.
    runs = []
    removed_at = [0]                       # by run number (1-based, as in ``run_of``)
    marks = bytearray(n)
    kept_bytes = 0
    for m in _KEPT_RUNS.finditer(bytes(keep)):
        a, e = m.span()
        removed = offs[a] - 12 - kept_bytes
        runs.append((a, e, removed))
        removed_at.append(removed)
        marks[a] = 1
        kept_bytes += offs[e] - offs[a]
    run_of = list(accumulate(marks))

    # Re-encode headers whose distance changed, in order: a header that grows
    # or shrinks shifts every later entry (``shift_at``/``shift_cum``).
    rewrites: dict[int, tuple[bytes, int, int]] = {}
    shift_at: list[int] = []
    shift_cum: list[int] = [0]
    mm = lay.mm
    hs = lay.hash_size

    def check(t: int) -> None:
        i, b = ti[t], tb[t]
        if b >= 0:
            ri = run_of[i]
            rb = run_of[b]
            if ri == rb and (not shift_at or shift_at[-1] < b):
                return                      # nothing between base and delta moved
            moved = (removed_at[ri] - removed_at[rb]) - (
                shift_cum[-1] - shift_cum[bisect_left(shift_at, b)])
            if not moved:
                return
            _, size, _, data_at = parse_entry_header(mm, offs[i], hs)
            header = encode_entry_header(OFS_DELTA, size) + encode_ofs_distance(
                offs[i] - offs[b] - moved)
        else:
            _, size, _, data_at = parse_entry_header(mm, offs[i], hs)
            header = encode_entry_header(REF_DELTA, size) + bytes.fromhex(ids[~b].decode("ascii"))
        grow = len(header) - (data_at - offs[i])
        rewrites[i] = (header, data_at, grow)
        if grow:
            shift_at.append(i)
            shift_cum.append(shift_cum[-1] + grow)

    # Only a delta whose base is in an earlier run, or a thin one, can change,
    # until some header changes size; after that every later one is checked.
    crossing = map(or_, map(ne, map(run_of.__getitem__, ti), map(run_of.__getitem__, tb)),
                   map(gt, repeat(0), tb))
    last = -1
    for t in compress(range(len(ti)), crossing):
        if shift_at:
            break
        check(t)
        last = t
    if shift_at:
        for t in range(last + 1, len(ti)):
            check(t)
    growth = shift_cum[-1]

    pieces: list = []
    rw_pos = sorted(rewrites)
    k = 0
    for a, e, _ in runs:
        start = offs[a]
        while k < len(rw_pos) and rw_pos[k] < e:
            r = rw_pos[k]
            header, data_at, _ = rewrites[r]
            if offs[r] > start:
                pieces.append((start, offs[r]))
            pieces.append(header)
            start = data_at
            k += 1
        pieces.append((start, offs[e]))
    count = keep.count(True)
    deltas = sum(compress(bo.is_delta, keep))
    return SlicePlan(lay, keep, count, deltas, pieces, kept_bytes + growth, runs, rewrites)
