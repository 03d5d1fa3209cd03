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

import os
import struct
import threading
from binascii import hexlify, unhexlify
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


class BitmapIndex:
    """A pack's bitmaps plus its pack-order tables."""

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
        # pack order: positions sorted by offset
        entries = sorted((off, sha) for sha, off, _ in idx.iterentries())
        self.ids = [sha for _, sha in entries]               # binary ids in pack order
        self.offsets = [off for off, _ in entries]
        self.num_objects = len(self.ids)
        self.pos_of = {sha: i for i, sha in enumerate(self.ids)}
        by_sha = sorted(self.ids)
        self.types = []
        for _ in range(4):
            pos, bits = _ewah_at(data, pos)
            self.types.append(bits)
        self._raw: dict = {}          # binary commit id -> (xor offset, ewah pos, index)
        order = []
        for k in range(count):
            if pos + 6 > len(data):
                raise BitmapError("truncated bitmap entry")
            idx_pos, xor_off, _flags = struct.unpack_from(">IBB", data, pos)
            if idx_pos >= len(by_sha) or xor_off > k:
                raise BitmapError("bad bitmap entry")
            ewah_pos = pos + 6
            bit_size, n_words = struct.unpack_from(">II", data, ewah_pos)
            pos = ewah_pos + 8 + 8 * n_words + 4
            if pos > len(data):
                raise BitmapError("truncated bitmap")
            sha = by_sha[idx_pos]
            order.append(sha)
            self._raw[sha] = (xor_off, ewah_pos, k)
        self._order = order
        self._data = data
        self._cache: dict = {}
        self._lock = threading.Lock()

    def has(self, sha_bin: bytes) -> bool:
        return sha_bin in self._raw

    def get(self, sha_bin: bytes) -> Optional[int]:
        """The reachability bitset of a bitmapped commit, or None."""
        got = self._cache.get(sha_bin)
        if got is not None:
            return got
        raw = self._raw.get(sha_bin)
        if raw is None:
            return None
        chain = []
        cur = sha_bin
        while True:
            xor_off, ewah_pos, k = self._raw[cur]
            chain.append((cur, ewah_pos))
            if not xor_off:
                break
            cur = self._order[k - xor_off]
            if cur in self._cache:
                break
        value = self._cache.get(cur, 0) if cur in self._cache else 0
        for sha, ewah_pos in reversed(chain):
            if sha in self._cache:
                value = self._cache[sha]
                continue
            _, bits = _ewah_at(self._data, ewah_pos)
            value ^= bits
            self._cache[sha] = value
        return self._cache[sha_bin]

    def type_of(self, pos: int) -> int:
        bit = 1 << pos
        for t, bits in zip((COMMIT, TREE, BLOB, TAG), self.types):
            if bits & bit:
                return t
        return 0


#: Bitmaps kept in memory (one per pack; each costs ~150 bytes per object).
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
    if got is not None:
        return got if got.pack is pack or _same_pack(got.pack, pack) else None
    with _LOAD_LOCK:   # concurrent first clones load it once, not once each
        with _CACHE_LOCK:
            got = _CACHE.get(key)
        if got is not None:
            return got if got.pack is pack or _same_pack(got.pack, pack) else None
        return _load(pack, path, key)


def _load(pack, path: str, key) -> Optional[BitmapIndex]:
    try:
        with open(path, "rb") as f:
            data = f.read()
        bm = BitmapIndex(pack, data, pack.hash_algo.digest_size)
    except (BitmapError, OSError, struct.error, KeyError, ValueError):
        return None
    with _CACHE_LOCK:
        for k in [k for k in _CACHE if k[0] == path]:
            del _CACHE[k]
        _CACHE[key] = bm
        while len(_CACHE) > CACHE_MAX:    # oldest first (dicts keep insertion order)
            del _CACHE[next(iter(_CACHE))]
    return bm


def _same_pack(a, b) -> bool:
    return getattr(a, "basename", None) == getattr(b, "basename", None)


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
