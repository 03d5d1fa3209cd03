"""Pack index (``.idx``) files, versions 1 and 2: reading by id and writing.

An index maps object ids to offsets in its pack.  Both versions start with a
fan-out table (256 big-endian counts: how many ids have a first byte <= i), so
a lookup narrows to the ids sharing a first byte and binary-searches those in
the sorted id table.  Files are mmap'd and nothing is parsed up front except
the fan-out table, so opening a pack of a million objects costs nothing.

Version 2 (``\\377tOc``, version 2): fan-out, ids, CRC32s, 31-bit offsets
whose high bit points into a table of 64-bit offsets (packs over 2 GiB), then
the pack checksum and the index checksum.  Version 1: fan-out, then
(4-byte offset, id) records, then the two checksums.  SHA-256 repositories use
version 2 with 32-byte ids, so the hash algorithm is a parameter.
"""

from __future__ import annotations

import bisect
import mmap
import os
import struct
from array import array
from typing import BinaryIO, Iterable, Iterator, Optional

from .errors import PackIndexError
from .hashes import SHA1, HashAlgorithm

IDX_V2_MAGIC = b"\377tOc"
_FANOUT = struct.Struct(">256I")
_LARGE_FLAG = 0x80000000


def _to_bin(sha, algo: HashAlgorithm) -> Optional[bytes]:
    """Binary id from a hex or binary id; None if it cannot be one."""
    n = len(sha)
    if n == algo.digest_size:
        return bytes(sha)
    if n == algo.hex_size:
        try:
            return bytes.fromhex(sha.decode("ascii") if isinstance(sha, bytes) else sha)
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def _be_uint32s(data) -> array:
    """Decode a run of big-endian uint32s in C (array + byteswap)."""
    a = array("I")
    if a.itemsize != 4:  # pragma: no cover - exotic platforms
        a = array("L")
    a.frombytes(bytes(data))
    if struct.pack("=I", 1) != struct.pack(">I", 1):
        a.byteswap()
    return a


class PackIndex:
    """Common behaviour of every index; subclasses supply the table access."""

    hash_algo: HashAlgorithm = SHA1

    # -- what subclasses provide
    def __len__(self) -> int:
        raise NotImplementedError

    def _find(self, binsha: bytes) -> int:
        """Position of ``binsha`` in the sorted table, or -1."""
        raise NotImplementedError

    def _offset_at(self, i: int) -> int:
        raise NotImplementedError

    def iterentries(self) -> Iterator[tuple[bytes, int, Optional[int]]]:
        """Yield (binary id, pack offset, CRC32 or None) in id order."""
        raise NotImplementedError

    def get_pack_checksum(self) -> bytes:
        raise NotImplementedError

    def get_stored_checksum(self) -> bytes:
        raise NotImplementedError

    def calculate_checksum(self) -> bytes:
        raise NotImplementedError

    # -- shared API
    def __contains__(self, sha) -> bool:
        binsha = _to_bin(sha, self.hash_algo)
        return binsha is not None and self._find(binsha) >= 0

    def object_offset(self, sha) -> int:
        """Offset in the pack of a hex or binary id; KeyError if absent."""
        binsha = _to_bin(sha, self.hash_algo)
        i = self._find(binsha) if binsha is not None else -1
        if i < 0:
            raise KeyError(sha)
        return self._offset_at(i)

    def find_offset(self, binsha: bytes) -> Optional[int]:
        """Offset of a binary id, or None (the fast path for pack readers)."""
        i = self._find(binsha)
        return self._offset_at(i) if i >= 0 else None

    def iter_sha(self) -> Iterator[bytes]:
        for sha, _, _ in self.iterentries():
            yield sha

    def __iter__(self) -> Iterator[bytes]:
        """Hex ids, in id order (Dulwich yields hex here)."""
        for sha in self.iter_sha():
            yield sha.hex().encode("ascii")

    def _offset_map(self) -> dict[int, bytes]:
        m = getattr(self, "_offsets_to_sha", None)
        if m is None:
            m = {offset: sha for sha, offset, _ in self.iterentries()}
            self._offsets_to_sha = m  # published in one step
        return m

    def object_sha1(self, offset: int) -> bytes:
        """Binary id of the object at pack ``offset`` (KeyError if none starts there)."""
        return self._offset_map()[offset]

    object_id_at = object_sha1

    def sorted_offsets(self) -> list[int]:
        """All object offsets in pack order (a reverse index)."""
        s = getattr(self, "_sorted_offsets", None)
        if s is None:
            s = sorted(self._offset_map())
            self._sorted_offsets = s
        return s

    def check(self) -> None:
        """Verify the index's own trailing checksum."""
        stored = self.get_stored_checksum()
        actual = self.calculate_checksum()
        if stored != actual:
            raise PackIndexError(f"index checksum mismatch: stored {stored.hex()}, "
                                 f"computed {actual.hex()}")

    def __eq__(self, other) -> bool:
        if not isinstance(other, PackIndex):
            return NotImplemented
        return (self.get_pack_checksum() == other.get_pack_checksum()
                and list(self.iterentries()) == list(other.iterentries()))

    __hash__ = None  # type: ignore[assignment]

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MemoryPackIndex(PackIndex):
    """An index held in a dict (tests, and packs built in memory)."""

    def __init__(self, entries: Iterable[tuple[bytes, int, Optional[int]]],
                 pack_checksum: Optional[bytes] = None, hash_algo: HashAlgorithm = SHA1) -> None:
        self.hash_algo = hash_algo
        self._entries = sorted(entries)
        self._by_sha = {sha: i for i, (sha, _, _) in enumerate(self._entries)}
        self._pack_checksum = pack_checksum

    def __len__(self) -> int:
        return len(self._entries)

    def _find(self, binsha: bytes) -> int:
        return self._by_sha.get(binsha, -1)

    def _offset_at(self, i: int) -> int:
        return self._entries[i][1]

    def iterentries(self):
        return iter(self._entries)

    def get_pack_checksum(self) -> bytes:
        return self._pack_checksum

    def get_stored_checksum(self) -> bytes:
        return b""

    def calculate_checksum(self) -> bytes:
        return b""


class _FilePackIndex(PackIndex):
    """An mmap'd index file; subclasses know the layout."""

    version = 0

    def __init__(self, filename: str | os.PathLike, file: Optional[BinaryIO] = None,
                 contents=None, size: Optional[int] = None,
                 hash_algo: HashAlgorithm = SHA1) -> None:
        self._filename = os.fspath(filename) if filename is not None else None
        self.hash_algo = hash_algo
        self._mmap = None
        if contents is not None:
            self._data = contents
        else:
            f = file if file is not None else open(self._filename, "rb")
            try:
                fsize = os.fstat(f.fileno()).st_size if size is None else size
                if fsize == 0:
                    raise PackIndexError(f"{self._filename}: empty index file")
                self._mmap = mmap.mmap(f.fileno(), fsize, access=mmap.ACCESS_READ)
            finally:
                if file is None:
                    f.close()
            self._data = self._mmap
        self._parse_layout()

    @property
    def path(self) -> Optional[str]:
        return self._filename

    def _fail(self, msg: str):
        raise PackIndexError(f"{self._filename or '<index>'}: {msg}")

    def _read_fanout(self, at: int) -> None:
        hs = self.hash_algo.digest_size
        if len(self._data) < at + 1024 + 2 * hs:
            self._fail("index file is too short")
        fan = _FANOUT.unpack_from(self._data, at)
        prev = 0
        for v in fan:
            if v < prev:
                self._fail("fan-out table is not monotonic")
            prev = v
        # _lo[b] .. _hi[b]: the positions of ids starting with byte b
        self._hi = fan
        self._lo = (0,) + fan[:255]
        self._n = fan[255]

    def __len__(self) -> int:
        return self._n

    def _find(self, binsha: bytes) -> int:
        try:
            first = binsha[0]
        except IndexError:
            return -1
        lo = self._lo[first]
        hi = self._hi[first]
        data = self._data
        base = self._ids_at
        step = self._id_step
        hs = self.hash_algo.digest_size
        while lo < hi:
            mid = (lo + hi) >> 1
            p = base + mid * step
            s = data[p:p + hs]
            if s < binsha:
                lo = mid + 1
            elif s == binsha:
                return mid
            else:
                hi = mid
        return -1

    def get_pack_checksum(self) -> bytes:
        hs = self.hash_algo.digest_size
        return bytes(self._data[len(self._data) - 2 * hs:len(self._data) - hs])

    def get_stored_checksum(self) -> bytes:
        hs = self.hash_algo.digest_size
        return bytes(self._data[len(self._data) - hs:])

    def calculate_checksum(self) -> bytes:
        hs = self.hash_algo.digest_size
        h = self.hash_algo.new()
        h.update(memoryview(self._data)[:len(self._data) - hs])
        return h.digest()

    def close(self) -> None:
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
            self._data = b""


class PackIndex1(_FilePackIndex):
    """Version 1: fan-out, then (offset, id) records."""

    version = 1

    def _parse_layout(self) -> None:
        hs = self.hash_algo.digest_size
        self._read_fanout(0)
        self._id_step = 4 + hs
        self._ids_at = 1024 + 4
        if len(self._data) != 1024 + self._n * (4 + hs) + 2 * hs:
            self._fail(f"index v1 size {len(self._data)} does not fit {self._n} objects")

    def _offset_at(self, i: int) -> int:
        return struct.unpack_from(">I", self._data, 1024 + i * self._id_step)[0]

    def iterentries(self):
        hs = self.hash_algo.digest_size
        data = self._data
        step = self._id_step
        p = 1024
        for _ in range(self._n):
            yield bytes(data[p + 4:p + 4 + hs]), struct.unpack_from(">I", data, p)[0], None
            p += step


class PackIndex2(_FilePackIndex):
    """Version 2: separate id, CRC32 and offset tables, 64-bit offsets for big packs."""

    version = 2

    def _parse_layout(self) -> None:
        hs = self.hash_algo.digest_size
        data = self._data
        if len(data) < 8 or bytes(data[:4]) != IDX_V2_MAGIC:
            self._fail("not a version 2 index (bad magic)")
        (version,) = struct.unpack_from(">I", data, 4)
        if version != 2:
            self._fail(f"unsupported index version {version}")
        self._read_fanout(8)
        n = self._n
        self._id_step = hs
        self._ids_at = 8 + 1024
        self._crcs_at = self._ids_at + n * hs
        self._offsets_at = self._crcs_at + 4 * n
        self._large_at = self._offsets_at + 4 * n
        extra = len(data) - (self._large_at + 2 * hs)
        if extra < 0 or extra % 8 or extra // 8 > n:
            self._fail(f"index v2 size {len(data)} does not fit {n} objects")
        self._n_large = extra // 8

    def _offset_at(self, i: int) -> int:
        (off,) = struct.unpack_from(">I", self._data, self._offsets_at + 4 * i)
        if off & _LARGE_FLAG:
            j = off & ~_LARGE_FLAG
            if j >= self._n_large:
                self._fail(f"64-bit offset index {j} is out of range")
            (off,) = struct.unpack_from(">Q", self._data, self._large_at + 8 * j)
        return off

    def crc32_at(self, i: int) -> int:
        return struct.unpack_from(">I", self._data, self._crcs_at + 4 * i)[0]

    def object_crc32(self, sha) -> Optional[int]:
        binsha = _to_bin(sha, self.hash_algo)
        i = self._find(binsha) if binsha is not None else -1
        if i < 0:
            raise KeyError(sha)
        return self.crc32_at(i)

    def iterentries(self):
        hs = self.hash_algo.digest_size
        n = self._n
        data = self._data
        crcs = _be_uint32s(data[self._crcs_at:self._offsets_at])
        offs = _be_uint32s(data[self._offsets_at:self._large_at])
        large = None
        p = self._ids_at
        for i in range(n):
            off = offs[i]
            if off & _LARGE_FLAG:
                if large is None:
                    raw = bytes(data[self._large_at:self._large_at + 8 * self._n_large])
                    large = struct.unpack(f">{self._n_large}Q", raw)
                j = off & ~_LARGE_FLAG
                if j >= self._n_large:
                    self._fail(f"64-bit offset index {j} is out of range")
                off = large[j]
            yield bytes(data[p:p + hs]), off, crcs[i]
            p += hs


def load_pack_index(path: str | os.PathLike, hash_algo: HashAlgorithm = SHA1) -> PackIndex:
    """Open an index file, picking the class from its header."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        return load_pack_index_file(path, f, hash_algo)


def load_pack_index_file(path, f: BinaryIO, hash_algo: HashAlgorithm = SHA1) -> PackIndex:
    """Open an index from an open file (which may be closed afterwards)."""
    start = f.read(4)
    f.seek(0)
    if start == IDX_V2_MAGIC:
        return PackIndex2(path, file=f, hash_algo=hash_algo)
    return PackIndex1(path, file=f, hash_algo=hash_algo)


# --- writing --------------------------------------------------------------

class _HashingWriter:
    """Write through to ``f`` while hashing, so the trailer costs no re-read."""

    def __init__(self, f, algo: HashAlgorithm) -> None:
        self.f = f
        self.h = algo.new()

    def write(self, data) -> None:
        self.h.update(data)
        self.f.write(data)


def _fanout(ids: bytes, hs: int) -> bytes:
    """Fan-out table of a sorted id table (one bisect per first byte, in C)."""
    firsts = ids[0::hs]
    return _FANOUT.pack(*[bisect.bisect_right(firsts, b) for b in range(256)])


def _be_array(values, typecode: str) -> bytes:
    a = values if isinstance(values, array) and values.typecode == typecode else array(typecode, values)
    if struct.pack("=I", 1) != struct.pack(">I", 1):
        a = array(typecode, a)
        a.byteswap()
    return a.tobytes()


def write_pack_index_tables(f: BinaryIO, ids: bytes, offsets, crcs, pack_checksum: bytes,
                            version: Optional[int] = 2, hash_algo: HashAlgorithm = SHA1) -> bytes:
    """Write an index from tables already sorted by id; return the index checksum.

    ``ids`` is every binary id concatenated; ``offsets`` and ``crcs`` are
    sequences in the same order.  The bytes are those ``git index-pack``
    writes: offsets above 2^31-1 go to the 64-bit table, in id order.
    """
    hs = hash_algo.digest_size
    n = len(offsets)
    if len(ids) != n * hs or (crcs is not None and len(crcs) != n):
        raise PackIndexError("index tables have different lengths")
    w = _HashingWriter(f, hash_algo)
    if version in (None, 2):
        w.write(IDX_V2_MAGIC + struct.pack(">I", 2))
        w.write(_fanout(ids, hs))
        w.write(ids)
        w.write(_be_array(crcs if crcs is not None else [0] * n, "I"))
        if n and max(offsets) > 0x7FFFFFFF:
            small = []
            large = []
            for off in offsets:
                if off > 0x7FFFFFFF:
                    small.append(_LARGE_FLAG | len(large))
                    large.append(off)
                else:
                    small.append(off)
            w.write(_be_array(small, "I"))
            w.write(struct.pack(f">{len(large)}Q", *large))
        else:
            w.write(_be_array(offsets, "I"))
    elif version == 1:
        if n and max(offsets) > 0xFFFFFFFF:
            raise PackIndexError("pack offset too large for a version 1 index")
        w.write(_fanout(ids, hs))
        w.write(b"".join(struct.pack(">I", offsets[i]) + ids[i * hs:(i + 1) * hs]
                         for i in range(n)))
    else:
        raise PackIndexError(f"unsupported index version {version}")
    w.write(pack_checksum)
    digest = w.h.digest()
    f.write(digest)
    return digest


def _tables(entries, hash_algo: HashAlgorithm):
    entries = sorted(entries)
    ids = b"".join(e[0] for e in entries)
    if len(ids) != len(entries) * hash_algo.digest_size:
        raise PackIndexError("index entry ids have the wrong length")
    return ids, [e[1] for e in entries], [(e[2] or 0) & 0xFFFFFFFF for e in entries]


def write_pack_index_v2(f: BinaryIO, entries: Iterable[tuple[bytes, int, Optional[int]]],
                        pack_checksum: bytes, hash_algo: HashAlgorithm = SHA1) -> bytes:
    """Write a version 2 index of (binary id, offset, crc32) entries; return its checksum."""
    ids, offsets, crcs = _tables(entries, hash_algo)
    return write_pack_index_tables(f, ids, offsets, crcs, pack_checksum, 2, hash_algo)


def write_pack_index_v1(f: BinaryIO, entries: Iterable[tuple[bytes, int, Optional[int]]],
                        pack_checksum: bytes, hash_algo: HashAlgorithm = SHA1) -> bytes:
    """Write a version 1 index (offsets must fit in 32 bits); return its checksum."""
    ids, offsets, crcs = _tables(entries, hash_algo)
    return write_pack_index_tables(f, ids, offsets, None, pack_checksum, 1, hash_algo)


def write_pack_index(f: BinaryIO, entries, pack_checksum: bytes, version: Optional[int] = None,
                     hash_algo: HashAlgorithm = SHA1) -> bytes:
    """Write an index of the given version (default 2)."""
    if version in (None, 2):
        return write_pack_index_v2(f, entries, pack_checksum, hash_algo)
    if version == 1:
        return write_pack_index_v1(f, entries, pack_checksum, hash_algo)
    raise PackIndexError(f"unsupported index version {version}")


__all__ = ["PackIndex", "PackIndex1", "PackIndex2", "MemoryPackIndex", "load_pack_index",
           "load_pack_index_file", "write_pack_index", "write_pack_index_v1",
           "write_pack_index_v2", "write_pack_index_tables", "IDX_V2_MAGIC"]
