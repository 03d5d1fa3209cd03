"""Reading Git's reachability bitmaps (``pack-*.bitmap``) for fast clones.

A ``.bitmap`` file (``gitformat-pack``, "bitmap format") stores, for some
commits of one pack, the set of pack objects reachable from that commit as an
EWAH-compressed bitset whose bit *i* is the *i*-th object in pack (offset)
order, plus one bitset per object type.  A clone then needs no tree parsing:
OR the bitmaps of the wanted commits (walking only the few commits newer than
the newest bitmapped ones) and read the objects off the bits.

Bitsets are Python ints (bit *i* = pack position *i*), so OR/AND/XOR run in C.
Only version 1 is read; unknown required flags make the file unusable (None),
never an error for the caller.
"""

from __future__ import annotations

import copy
import os
import struct
import threading
from array import array
from binascii import hexlify, unhexlify
from bisect import bisect_left
from typing import Iterable, Optional

from .errors import PackError

__all__ = ["BitmapIndex", "BitmapError", "decode_ewah", "load_bitmap"]

BITMAP_OPT_FULL_DAG = 0x1
BITMAP_OPT_HASH_CACHE = 0x4
BITMAP_OPT_LOOKUP_TABLE = 0x10
BITMAP_OPT_PSEUDO_MERGES = 0x20
_KNOWN_FLAGS = BITMAP_OPT_FULL_DAG | BITMAP_OPT_HASH_CACHE | BITMAP_OPT_LOOKUP_TABLE

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4


class BitmapError(PackError):
    """A bitmap file is malformed."""


def _ewah_at(data, pos: int) -> tuple[int, int]:
    """(end position, bitset as int) of the EWAH bitmap starting at ``pos``."""
    if pos + 8 > len(data):
        raise BitmapError("truncated EWAH header")
    bit_size, n_words = struct.unpack_from(">II", data, pos)
    start = pos + 8
    end = start + 8 * n_words + 4
    if end > len(data):
        raise BitmapError("truncated EWAH bitmap")
    words = struct.unpack_from(">%dQ" % n_words, data, start)
    return end, decode_ewah(words, bit_size)


def decode_ewah(words: Iterable[int], bit_size: int) -> int:
    """Expand EWAH words (run-length words followed by literal words) to an int."""
    out = bytearray()
    words = list(words)
    i = 0
    n = len(words)
    ones = b"\xff" * 8
    while i < n:
        rlw = words[i]
        i += 1
        running_bit = rlw & 1
        run_len = (rlw >> 1) & 0xFFFFFFFF
        lit = rlw >> 33
        if run_len:
            out += (ones if running_bit else bytes(8)) * run_len
        if lit:
            if i + lit > n:
                raise BitmapError("EWAH literal words run past the end")
            out += struct.pack("<%dQ" % lit, *words[i:i + lit])
            i += lit
    value = int.from_bytes(out, "little")
    if bit_size < len(out) * 8:
        value &= (1 << bit_size) - 1
    return value


class _PackOrderIds:
    """Binary ids in pack order, packed in one ``bytes``: ``ids[p]``, ``len(ids)``.

    A list of 165k ``bytes`` objects costs ~9 MB; this costs ``n * hash size``.
    """

    __slots__ = ("_blob", "_hs", "_n")

    def __init__(self, blob: bytes, hs: int) -> None:
        self._blob = blob
        self._hs = hs
        self._n = len(blob) // hs

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, p: int) -> bytes:
        if p < 0:
            p += self._n
        if not 0 <= p < self._n:
            raise IndexError("pack position out of range")
        s = p * self._hs
        return self._blob[s:s + self._hs]

    def __iter__(self):
        blob, hs = self._blob, self._hs
        return (blob[s:s + hs] for s in range(0, len(blob), hs))


class _Positions:
    """binary id -> pack position (``get``, ``in``, ``[]``) by binary search of the sorted ids.

    Replaces a dict of every object (~60 bytes an entry); a bitmap clone looks
    up only the few objects outside the bitmaps.
    """

    __slots__ = ("_ids", "_pos", "_hs", "_fan")

    def __init__(self, sorted_ids: bytes, pos: array, hs: int) -> None:
        self._ids = sorted_ids
        self._pos = pos
        self._hs = hs
        firsts = sorted_ids[0::hs]
        self._fan = [bisect_left(firsts, b) for b in range(257)]

    def __len__(self) -> int:
        return len(self._pos)

    def get(self, binsha: bytes, default=None):
        hs = self._hs
        if len(binsha) != hs:
            return default
        b = binsha[0]
        lo, hi = self._fan[b], self._fan[b + 1]
        ids = self._ids
        while lo < hi:
            mid = (lo + hi) >> 1
            s = mid * hs
            cur = ids[s:s + hs]
            if cur < binsha:
                lo = mid + 1
            elif cur > binsha:
                hi = mid
            else:
                return self._pos[mid]
        return default

    def __contains__(self, binsha) -> bool:
        return self.get(binsha) is not None

    def __getitem__(self, binsha: bytes) -> int:
        got = self.get(binsha)
        if got is None:
            raise KeyError(binsha)
        return got


#: Bytes of decoded bitsets kept per bitmap file (one bitset is num_objects / 8 bytes).
DECODED_CACHE_BYTES = 8 << 20


class BitmapIndex:
    """A pack's bitmaps plus its pack-order tables.

    The tables depend only on the files, so one copy is cached per ``.bitmap``
    file (without the pack) and :func:`load_bitmap` hands out light copies
    bound to the caller's ``pack``: the cache never keeps a pack (its mmap,
    index and base cache) alive.
    """

    def __init__(self, pack, data: bytes, hash_size: int = 20) -> None:
        self.pack = pack
        if len(data) < 12 + hash_size or data[:4] != b"BITM":
            raise BitmapError("not a bitmap file")
        version, flags, count = struct.unpack_from(">HHI", data, 4)
        if version != 1:
            raise BitmapError(f"unsupported bitmap version {version}")
        if flags & ~_KNOWN_FLAGS & 0xFFFF or not flags & BITMAP_OPT_FULL_DAG:
            raise BitmapError(f"unsupported bitmap flags {flags:#x}")
        pos = 12
        checksum = data[pos:pos + hash_size]
        pos += hash_size
        idx = pack.index
        if checksum != idx.get_pack_checksum():
            raise BitmapError("bitmap does not belong to this pack")
        by_sha, offs = _index_tables(idx, hash_size)     # id order
        n = len(offs)
        # pack order: positions sorted by offset (built with few temporaries:
        # this runs once per bitmap file, while other clones are being served)
        hs = hash_size
        order = sorted(range(n), key=offs.__getitem__)
        order = array("I", order) if array("I").itemsize == 4 else array("L", order)
        ids = bytearray(n * hs)
        pos_by_idx = array(order.typecode, bytes(order.itemsize * n))
        q = 0
        for p, i in enumerate(order):
            s = i * hs
            ids[q:q + hs] = by_sha[s:s + hs]
            pos_by_idx[i] = p
            q += hs
        self.ids = _PackOrderIds(bytes(ids), hs)
        del ids
        self.offsets = array("Q", sorted(offs))
        del order
        self.num_objects = n
        self.pos_of = _Positions(by_sha, pos_by_idx, hs)
        self.types = []
        for _ in range(4):
            pos, bits = _ewah_at(data, pos)
            self.types.append(bits)
        self._raw: dict = {}          # binary commit id -> (xor offset, ewah pos, index)
        ordered = []
        for k in range(count):
            if pos + 6 > len(data):
                raise BitmapError("truncated bitmap entry")
            idx_pos, xor_off, _flags = struct.unpack_from(">IBB", data, pos)
            if idx_pos >= n or xor_off > k:
                raise BitmapError("bad bitmap entry")
            ewah_pos = pos + 6
            bit_size, n_words = struct.unpack_from(">II", data, ewah_pos)
            pos = ewah_pos + 8 + 8 * n_words + 4
            if pos > len(data):
                raise BitmapError("truncated bitmap")
            sha = by_sha[idx_pos * hs:(idx_pos + 1) * hs]
            ordered.append(sha)
            self._raw[sha] = (xor_off, ewah_pos, k)
        self._order = ordered
        self._data = data
        self._cache: dict = {}
        self._cache_bytes = [0]
        self._lock = threading.Lock()

    def bound(self, pack) -> "BitmapIndex":
        """A copy for ``pack`` sharing every table (and the decoded-bitset cache)."""
        other = copy.copy(self)
        other.pack = pack
        return other

    def has(self, sha_bin: bytes) -> bool:
        return sha_bin in self._raw

    def get(self, sha_bin: bytes) -> Optional[int]:
        """The reachability bitset of a bitmapped commit, or None."""
        cache = self._cache
        got = cache.get(sha_bin)
        if got is not None:
            return got
        raw = self._raw.get(sha_bin)
        if raw is None:
            return None
        chain = []
        cur = sha_bin
        value = 0
        while True:
            xor_off, ewah_pos, k = self._raw[cur]
            chain.append((cur, ewah_pos))
            if not xor_off:
                break
            cur = self._order[k - xor_off]
            hit = cache.get(cur)
            if hit is not None:
                value = hit
                break
        size = (self.num_objects + 7) >> 3
        for sha, ewah_pos in reversed(chain):
            _, bits = _ewah_at(self._data, ewah_pos)
            value ^= bits
            self._remember(sha, value, size)
        return value

    def _remember(self, sha: bytes, value: int, size: int) -> None:
        """Cache a decoded bitset; past the byte budget the cache starts over."""
        with self._lock:
            if self._cache_bytes[0] + size > DECODED_CACHE_BYTES:
                self._cache.clear()
                self._cache_bytes[0] = 0
            if sha not in self._cache:
                self._cache[sha] = value
                self._cache_bytes[0] += size

    def type_of(self, pos: int) -> int:
        bit = 1 << pos
        for t, bits in zip((COMMIT, TREE, BLOB, TAG), self.types):
            if bits & bit:
                return t
        return 0


def _index_tables(idx, hs: int) -> tuple:
    """(binary ids joined, in id order; their offsets) of a pack index."""
    try:
        data = idx._data
        ids_at, crcs_at = idx._ids_at, idx._crcs_at
        offs_at, large_at = idx._offsets_at, idx._large_at
        from .pack_index import _be_uint32s
        offs = _be_uint32s(data[offs_at:large_at])
        if not (len(offs) and max(offs) & 0x80000000):
            ids = bytes(data[ids_at:crcs_at])
            if len(ids) == hs * len(offs) == hs * len(idx):
                return ids, offs
    except AttributeError:
        pass
    ids, offs = [], array("Q")
    for sha, off, _ in idx.iterentries():
        ids.append(sha)
        offs.append(off)
    return b"".join(ids), offs


#: Bitmaps kept in memory (one per pack; each costs ~50 bytes per object).
CACHE_MAX = 8
_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()
_LOAD_LOCK = threading.Lock()


def load_bitmap(pack) -> Optional[BitmapIndex]:
    """The BitmapIndex of a ``Pack`` (cached per file), or None if it has none."""
    base = getattr(pack, "basename", None)
    if base is None:
        return None
    path = os.fspath(base) + ".bitmap"
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        got = _CACHE.get(key)
    if got is None:
        with _LOAD_LOCK:   # concurrent first clones load it once, not once each
            with _CACHE_LOCK:
                got = _CACHE.get(key)
            if got is None:
                got = _load(pack, path, key)
                if got is None:
                    return None
    return got.bound(pack) if _same_pack(got, pack) else None


def _load(pack, path: str, key) -> Optional[BitmapIndex]:
    try:
        with open(path, "rb") as f:
            data = f.read()
        bm = BitmapIndex(pack, data, pack.hash_algo.digest_size)
    except (BitmapError, OSError, struct.error, KeyError, ValueError):
        return None
    bm.pack = None               # the cache keeps the tables, never the pack
    bm.basename = getattr(pack, "basename", None)
    with _CACHE_LOCK:
        for k in [k for k in _CACHE if k[0] == path]:
            del _CACHE[k]
        _CACHE[key] = bm
        while len(_CACHE) > CACHE_MAX:    # oldest first (dicts keep insertion order)
            del _CACHE[next(iter(_CACHE))]
    return bm


def _same_pack(bm, pack) -> bool:
    return getattr(bm, "basename", None) == getattr(pack, "basename", None)


def bits_to_positions(bits: int) -> list:
    """Positions of the set bits, ascending."""
    s = bin(bits)[:1:-1]
    out = []
    find = s.find
    i = find("1")
    while i >= 0:
        out.append(i)
        i = find("1", i + 1)
    return out


def hexid(sha_bin: bytes) -> bytes:
    return hexlify(sha_bin)


def binid(sha_hex: bytes) -> bytes:
    return unhexlify(sha_hex)
