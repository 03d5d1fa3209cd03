"""Reading pack files: entries, random access by id, delta chains.

A pack is ``PACK``, a version (2 or 3, the same format), an object count,
the entries, and a trailing checksum of everything before it.  Each entry is
a varint header (type in bits 4-6 of the first byte, size in the rest), an
OFS_DELTA's backwards distance or a REF_DELTA's base id, and a zlib stream.

Files are mmap'd; an object is read by seeking to its offset (from the
``.idx``) and inflating just that entry.  Delta chains are walked iteratively
down to a full object (or a cached base) and applied upwards; bases are kept
in a small LRU cache bounded in bytes, since neighbouring objects usually
share them.  ``get_stored_entry`` hands out an entry's compressed bytes as
stored so a pack writer can copy it without inflating.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import zlib
from collections import OrderedDict
from typing import BinaryIO, Callable, Iterator, NamedTuple, Optional

from .delta import DEFAULT_MAX_OBJECT_SIZE, apply_delta, delta_header_sizes
from .errors import (CorruptPackError, DeltaChainLoopError, MissingDeltaBaseError,
                     MissingObjectError, ObjectTooLargeError, PackChecksumError,
                     PackIndexError)
from .hashes import SHA1, HashAlgorithm
from .pack_index import PackIndex, load_pack_index

OFS_DELTA = 6
REF_DELTA = 7
DELTA_TYPES = (OFS_DELTA, REF_DELTA)
TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
PACK_SIGNATURE = b"PACK"
PACK_HEADER = struct.Struct(">4sII")
DEFAULT_CACHE_BYTES = 32 << 20
#: After this many bytes read from a pack's mapping, its pages are dropped from
#: the process (``madvise(MADV_DONTNEED)``; they stay in the page cache): a
#: walk or a stream of a big pack then never holds more than this of it.
RELEASE_BYTES = 32 << 20
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
_PAGE = mmap.PAGESIZE

ResolveExtRef = Callable[[bytes], Optional[tuple[int, bytes]]]
"""Given a binary id outside the pack, return (type number, body) or None."""


class StoredEntry(NamedTuple):
    """An entry as it sits in the pack, for copying without inflating.

    ``size`` is the size in the entry header (the delta's size for deltas);
    ``delta_base`` is the hex id of the base for types 6 and 7, else None;
    ``compressed`` is the entry's zlib stream exactly as stored.
    """

    type_num: int
    size: int
    delta_base: Optional[bytes]
    compressed: bytes
    offset: int


# --- entry headers --------------------------------------------------------

def read_pack_header(data) -> tuple[int, int]:
    """Return (version, object count) of a pack's first 12 bytes."""
    if len(data) < 12:
        raise CorruptPackError("pack is too short for its header")
    sig, version, count = PACK_HEADER.unpack_from(data, 0)
    if sig != PACK_SIGNATURE:
        raise CorruptPackError(f"not a pack (signature {bytes(sig)!r})")
    if version not in (2, 3):
        raise CorruptPackError(f"unsupported pack version {version}")
    return version, count


def parse_entry_header(data, offset: int, hash_size: int = 20):
    """Parse the entry header at ``offset``.

    Returns (type number, size, base, data offset) where base is the absolute
    offset of an OFS_DELTA's base, the binary id of a REF_DELTA's base, or None.
    """
    pos = offset
    try:
        c = data[pos]
        pos += 1
        type_num = (c >> 4) & 7
        size = c & 15
        shift = 4
        while c & 0x80:
            c = data[pos]
            pos += 1
            size |= (c & 0x7F) << shift
            shift += 7
            if shift > 67:
                raise CorruptPackError(f"entry header at {offset} is too long")
        base = None
        if type_num == OFS_DELTA:
            c = data[pos]
            pos += 1
            dist = c & 0x7F
            while c & 0x80:
                if dist > offset:
                    break
                c = data[pos]
                pos += 1
                dist = ((dist + 1) << 7) | (c & 0x7F)
            if dist == 0:
                raise CorruptPackError(f"OFS_DELTA at {offset} points at itself")
            if dist > offset - 12:
                raise CorruptPackError(f"OFS_DELTA at {offset} points before the pack start")
            base = offset - dist
        elif type_num == REF_DELTA:
            base = bytes(data[pos:pos + hash_size])
            if len(base) != hash_size:
                raise IndexError
            pos += hash_size
        elif type_num not in TYPE_NAMES:
            raise CorruptPackError(f"bad object type {type_num} at offset {offset}")
    except IndexError:
        raise CorruptPackError(f"pack is truncated in the entry header at {offset}") from None
    return type_num, size, base, pos


def encode_entry_header(type_num: int, size: int) -> bytes:
    """The type-and-size varint that starts every entry."""
    c = (type_num << 4) | (size & 15)
    size >>= 4
    out = bytearray()
    while size:
        out.append(c | 0x80)
        c = size & 0x7F
        size >>= 7
    out.append(c)
    return bytes(out)


def encode_ofs_distance(dist: int) -> bytes:
    """An OFS_DELTA's backwards distance in Git's offset encoding."""
    out = bytearray([dist & 0x7F])
    dist >>= 7
    while dist:
        dist -= 1
        out.append(0x80 | (dist & 0x7F))
        dist >>= 7
    out.reverse()
    return bytes(out)


def compress_bound(size: int) -> int:
    """An upper bound on zlib's output for ``size`` bytes, with slack for headers."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 64


# --- the base cache -------------------------------------------------------

class _BaseCache:
    """LRU of resolved objects by pack offset, bounded by total bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._d: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, offset: int):
        # No lock: each OrderedDict call is atomic, and losing a race with an
        # eviction only means the entry is gone (put holds the lock).
        hit = self._d.get(offset)
        if hit is not None:
            try:
                self._d.move_to_end(offset)
            except KeyError:
                pass
        return hit

    def put(self, offset: int, type_num: int, data: bytes) -> None:
        n = len(data)
        if n > self.limit // 2:
            return
        with self._lock:
            old = self._d.pop(offset, None)
            if old is not None:
                self._bytes -= len(old[1])
            self._d[offset] = (type_num, data)
            self._bytes += n
            while self._bytes > self.limit:
                _, (_, gone) = self._d.popitem(last=False)
                self._bytes -= len(gone)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
            self._bytes = 0


# --- pack data ------------------------------------------------------------

class PackData:
    """The ``.pack`` file: mmap'd, read by offset."""

    def __init__(self, filename: str | os.PathLike | None, file: Optional[BinaryIO] = None,
                 size: Optional[int] = None, hash_algo: HashAlgorithm = SHA1,
                 cache_bytes: int = DEFAULT_CACHE_BYTES,
                 max_object_size: int = DEFAULT_MAX_OBJECT_SIZE) -> None:
        self._filename = os.fspath(filename) if filename is not None else getattr(file, "name", None)
        self.hash_algo = hash_algo
        self.max_object_size = max_object_size
        f = file if file is not None else open(self._filename, "rb")
        try:
            fsize = os.fstat(f.fileno()).st_size if size is None else size
            if fsize < 12 + hash_algo.digest_size:
                raise CorruptPackError(f"{self._filename}: pack is too short ({fsize} bytes)")
            self._mmap = mmap.mmap(f.fileno(), fsize, access=mmap.ACCESS_READ)
        finally:
            if file is None:
                f.close()
        self._size = fsize
        self.version, self._num_objects = read_pack_header(self._mmap)
        self._cache = _BaseCache(cache_bytes)
        self._read_since_release = 0

    @classmethod
    def from_file(cls, file: BinaryIO, size: Optional[int] = None, **kw) -> "PackData":
        return cls(None, file=file, size=size, **kw)

    @classmethod
    def from_path(cls, path, **kw) -> "PackData":
        return cls(path, **kw)

    @property
    def filename(self) -> Optional[str]:
        return self._filename

    path = filename

    def __len__(self) -> int:
        return self._num_objects

    @property
    def num_objects(self) -> int:
        return self._num_objects

    @property
    def data_end(self) -> int:
        """Offset of the trailing checksum (where the entries end)."""
        return self._size - self.hash_algo.digest_size

    def get_stored_checksum(self) -> bytes:
        return self._mmap[self.data_end:]

    def calculate_checksum(self) -> bytes:
        h = self.hash_algo.new()
        mv = memoryview(self._mmap)
        try:
            end = self.data_end
            step = 1 << 22
            for p in range(0, end, step):
                h.update(mv[p:min(p + step, end)])
        finally:
            mv.release()
        return h.digest()

    def check(self) -> None:
        """Verify the trailing checksum (PackChecksumError if it is wrong)."""
        stored = self.get_stored_checksum()
        actual = self.calculate_checksum()
        if stored != actual:
            raise PackChecksumError(stored, actual, "pack trailer")

    # -- memory
    def release_pages(self, start: int = 0, end: Optional[int] = None) -> None:
        """Drop the mapped pages of ``[start, end)`` (whole pages inside it) from this process.

        The file is mapped read-only, so nothing is lost: the next access
        faults the page back in from the page cache.  Without this, every
        page a walk or a stream touched stays in the process's RSS for as long
        as the pack is open.  Safe while other threads read the mapping.
        """
        if _MADV_DONTNEED is None:
            return
        if end is None:
            end = self._size
        start = -(-start // _PAGE) * _PAGE if start else 0
        end = self._size if end >= self._size else end // _PAGE * _PAGE
        if end <= start:
            return
        try:
            self._mmap.madvise(_MADV_DONTNEED, start, end - start)
        except (ValueError, OSError):   # closed, or a platform without it
            pass

    def note_read(self, nbytes: int) -> None:
        """Count bytes read from the mapping; past RELEASE_BYTES drop every page."""
        n = self._read_since_release + nbytes
        if n < RELEASE_BYTES:
            self._read_since_release = n
            return
        self._read_since_release = 0
        self.release_pages()

    # -- single entries
    def entry_header_at(self, offset: int):
        """(type number, size, base, data offset) of the entry at ``offset``."""
        if offset < 12 or offset >= self.data_end:
            raise CorruptPackError(f"offset {offset} is outside the pack's entries")
        return parse_entry_header(self._mmap, offset, self.hash_algo.digest_size)

    def _inflate(self, pos: int, size: int) -> bytes:
        """Inflate the zlib stream at ``pos``, which must produce exactly ``size`` bytes."""
        if size > self.max_object_size:
            raise ObjectTooLargeError(f"object of {size} bytes exceeds limit {self.max_object_size}")
        end = self.data_end
        d = zlib.decompressobj()
        window = compress_bound(size)
        self.note_read(window)
        mm = self._mmap
        try:
            out = d.decompress(mm[pos:min(pos + window, end)], size + 1)
            pos += window
            if not d.eof and not d.unconsumed_tail:
                parts = [out]
                while not d.eof and pos < end and not d.unconsumed_tail:
                    parts.append(d.decompress(mm[pos:min(pos + (1 << 20), end)], size + 1))
                    pos += 1 << 20
                out = b"".join(parts)
        except zlib.error as e:
            raise CorruptPackError(f"bad zlib stream in pack entry ({e})") from None
        if not d.eof or len(out) != size:
            raise CorruptPackError(f"pack entry inflates to {len(out)}{'' if d.eof else '+'} bytes, "
                                   f"header says {size}")
        return out

    def get_compressed_data_at(self, offset: int, end: Optional[int] = None) -> bytes:
        """The raw zlib bytes of the entry at ``offset`` (up to ``end`` if known)."""
        _, size, _, pos = self.entry_header_at(offset)
        if end is None:
            d = zlib.decompressobj()
            n = 0
            p = pos
            stop = self.data_end
            while not d.eof and p < stop:
                piece = self._mmap[p:min(p + 65536, stop)]
                try:
                    while piece:
                        out = d.decompress(piece, 65536)
                        n += len(out)
                        piece = d.unconsumed_tail
                        if d.eof:
                            break
                except zlib.error as e:
                    raise CorruptPackError(f"bad zlib stream at {offset} ({e})") from None
                p += 65536
                if d.eof:
                    p = min(p, stop) - len(d.unused_data)
            if not d.eof:
                raise CorruptPackError(f"truncated zlib stream at {offset}")
            end = p
        return self._mmap[pos:end]

    def get_object_at(self, offset: int):
        """(type number, body) for a full object; for deltas (type, (base, delta bytes))."""
        type_num, size, base, pos = self.entry_header_at(offset)
        data = self._inflate(pos, size)
        if type_num in DELTA_TYPES:
            return type_num, (base, data)
        return type_num, data

    def resolve_object_at(self, offset: int,
                          ref_offset: Optional[Callable[[bytes], Optional[int]]] = None,
                          resolve_ext_ref: Optional[ResolveExtRef] = None) -> tuple[int, bytes]:
        """(type number, body) at ``offset``, with any delta chain applied.

        The chain is walked iteratively; ``ref_offset`` maps a REF_DELTA base id
        to an offset in this pack, ``resolve_ext_ref`` fetches bases outside it.
        """
        return self._resolve(offset, ref_offset, resolve_ext_ref, False)[:2]

    def resolve_with_delta(self, offset: int,
                           ref_offset: Optional[Callable[[bytes], Optional[int]]] = None,
                           resolve_ext_ref: Optional[ResolveExtRef] = None,
                           keep: bool = False
                           ) -> tuple[int, bytes, Optional[int], Optional[bytes]]:
        """Like ``resolve_object_at``, plus (base offset, delta) of the entry's own delta.

        Both are None for a full object; the offset is None for a base outside
        the pack.  A tree walk uses them to reuse what it learnt from the base.
        ``keep`` also puts the result in the base cache: in a walk over a
        history, the trees just read are the likeliest bases of the next ones.
        """
        type_num, data, base, delta = self._resolve(offset, ref_offset, resolve_ext_ref, keep)
        if delta is None:  # a full object, or found in the cache
            kind, size, base, pos = self.entry_header_at(offset)
            if kind < 5:
                return type_num, data, None, None
            if kind == REF_DELTA:
                base = ref_offset(base) if ref_offset is not None else None
            delta = self._inflate(pos, size)
        return type_num, data, base, delta

    def _resolve(self, offset: int, ref_offset, resolve_ext_ref, keep: bool):
        """(type, body, base offset, delta) with the last delta applied, if any."""
        cache = self._cache
        chain: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        cur = offset
        hs = self.hash_algo.digest_size
        mm = self._mmap
        end = self.data_end
        below: Optional[int] = cur  # offset of the object the next delta applies to
        fresh = False  # whether that object was just inflated (so worth caching)
        while True:
            hit = cache.get(cur)
            if hit is not None:
                type_num, data = hit
                break
            if cur < 12 or cur >= end:
                raise CorruptPackError(f"delta base offset {cur} is outside the pack")
            seen.add(cur)
            type_num, size, base, pos = parse_entry_header(mm, cur, hs)
            if type_num < 5:
                data = self._inflate(pos, size)
                fresh = True
                break
            chain.append((cur, pos, size))
            if type_num == OFS_DELTA:
                nxt = base
            else:
                nxt = ref_offset(base) if ref_offset is not None else None
                if nxt is None:
                    ext = resolve_ext_ref(base) if resolve_ext_ref is not None else None
                    if ext is None:
                        raise MissingDeltaBaseError(base.hex().encode("ascii"))
                    type_num, data = ext
                    below = None
                    break
            if nxt in seen:
                raise DeltaChainLoopError(f"delta chain at offset {offset} loops back to {nxt}")
            cur = nxt
        if below is not None:
            below = cur
        delta = top_base = None
        for i in range(len(chain) - 1, -1, -1):
            if fresh:
                cache.put(below, type_num, data)
            fresh = True
            top_base = below
            below, pos, size = chain[i]
            delta = self._inflate(pos, size)
            data = apply_delta(data, delta, self.max_object_size)
        if keep and (fresh or chain):
            cache.put(below, type_num, data)
        return type_num, data, top_base, delta

    def iterobjects(self, compute_crc32: bool = True) -> Iterator[tuple[int, int, object, Optional[int]]]:
        """Yield (offset, type number, body or (base, delta), crc32) in pack order.

        Walks the pack sequentially, so it needs no index.
        """
        mm = self._mmap
        hs = self.hash_algo.digest_size
        end = self.data_end
        pos = 12
        for _ in range(self._num_objects):
            if pos >= end:
                raise CorruptPackError("pack has fewer entries than its header says")
            type_num, size, base, dpos = parse_entry_header(mm, pos, hs)
            if size > self.max_object_size:
                raise ObjectTooLargeError(f"object of {size} bytes exceeds limit")
            d = zlib.decompressobj()
            p = dpos
            parts = []
            try:
                while not d.eof:
                    if p >= end:
                        raise CorruptPackError(f"truncated zlib stream at {pos}")
                    step = compress_bound(size) if p == dpos else 1 << 20
                    parts.append(d.decompress(mm[p:min(p + step, end)], size + 1))
                    p = min(p + step, end)
                    if d.unconsumed_tail:
                        break
            except zlib.error as e:
                raise CorruptPackError(f"bad zlib stream at {pos} ({e})") from None
            data = b"".join(parts)
            if not d.eof or len(data) != size:
                raise CorruptPackError(f"entry at {pos} inflates to {len(data)} bytes, header says {size}")
            nxt = p - len(d.unused_data)
            crc = zlib.crc32(mm[pos:nxt]) if compute_crc32 else None
            yield pos, type_num, ((base, data) if type_num in DELTA_TYPES else data), crc
            pos = nxt
        if pos != end:
            raise CorruptPackError("pack has data between its last entry and its checksum")

    # -- indexing (the work is done by pack_indexer)
    def _index(self, resolve_ext_ref: Optional[ResolveExtRef] = None):
        from .pack_indexer import index_existing_pack
        return index_existing_pack(self._mmap, self._size, self.hash_algo,
                                   resolve_ext_ref=resolve_ext_ref,
                                   max_object_size=self.max_object_size)

    def sorted_entries(self, resolve_ext_ref: Optional[ResolveExtRef] = None,
                       progress=None) -> list[tuple[bytes, int, int]]:
        """(binary id, offset, crc32) of every object, sorted by id."""
        return self._index(resolve_ext_ref).entries

    def iterentries(self, progress=None, resolve_ext_ref: Optional[ResolveExtRef] = None):
        return iter(self.sorted_entries(resolve_ext_ref, progress))

    def create_index(self, index_path: str | os.PathLike, version: int = 2, progress=None,
                     resolve_ext_ref: Optional[ResolveExtRef] = None) -> bytes:
        """Write an index for this pack at ``index_path``; return the pack checksum."""
        result = self._index(resolve_ext_ref)
        with open(index_path, "wb") as f:
            result.write_index(f, version, self.hash_algo)
        return result.checksum

    def create_index_v1(self, filename, progress=None, resolve_ext_ref=None) -> bytes:
        return self.create_index(filename, 1, progress, resolve_ext_ref)

    def create_index_v2(self, filename, progress=None, resolve_ext_ref=None) -> bytes:
        return self.create_index(filename, 2, progress, resolve_ext_ref)

    def close(self) -> None:
        self._cache.clear()
        try:
            self._mmap.close()
        except BufferError:  # a caller still holds a view; the GC will unmap it
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- packs: data + index ----------------------------------------------------

class Pack:
    """A ``.pack`` with its ``.idx``, both opened lazily."""

    def __init__(self, basename: str | os.PathLike, hash_algo: HashAlgorithm = SHA1,
                 resolve_ext_ref: Optional[ResolveExtRef] = None,
                 data: Optional[PackData] = None, index: Optional[PackIndex] = None) -> None:
        self.basename = os.fspath(basename) if basename is not None else None
        self.hash_algo = hash_algo
        self.resolve_ext_ref = resolve_ext_ref
        self._data = data
        self._index = index
        self._lock = threading.Lock()
        self._rev: Optional[list[int]] = None
        self._by_offset = None   # pack_reuse's offset-order tables, once asked for
        self.mtime = 0.0
        if self.basename is not None:
            try:
                self.mtime = os.path.getmtime(self.basename + ".pack")
            except OSError:
                pass

    @classmethod
    def from_objects(cls, data: PackData, idx: PackIndex) -> "Pack":
        pack = cls(None, hash_algo=data.hash_algo, data=data, index=idx)
        pack.check_length_and_checksum()
        return pack

    @classmethod
    def from_lazy_objects(cls, data_fn, idx_fn) -> "Pack":
        return cls.from_objects(data_fn(), idx_fn())

    @property
    def _data_path(self) -> str:
        return self.basename + ".pack"

    @property
    def _idx_path(self) -> str:
        return self.basename + ".idx"

    @property
    def index(self) -> PackIndex:
        idx = self._index
        if idx is None:
            with self._lock:
                idx = self._index
                if idx is None:
                    idx = load_pack_index(self._idx_path, self.hash_algo)
                    self._index = idx
        return idx

    @property
    def data(self) -> PackData:
        data = self._data
        if data is None:
            with self._lock:
                data = self._data
                if data is None:
                    data = PackData(self._data_path, hash_algo=self.hash_algo)
                    try:
                        self._check_pair(data, self.index if self._index is not None
                                         else load_pack_index(self._idx_path, self.hash_algo))
                    except BaseException:
                        data.close()
                        raise
                    self._data = data
        return data

    def _check_pair(self, data: PackData, idx: PackIndex) -> None:
        if self._index is None:
            self._index = idx
        if len(idx) != len(data):
            raise PackIndexError(f"{self.basename}: index has {len(idx)} objects, pack has {len(data)}")
        if idx.get_pack_checksum() != data.get_stored_checksum():
            raise PackIndexError(f"{self.basename}: index is for a different pack "
                                 f"({idx.get_pack_checksum().hex()} != "
                                 f"{data.get_stored_checksum().hex()})")

    def check_length_and_checksum(self) -> None:
        """Raise PackIndexError if the index does not belong to the pack."""
        self._check_pair(self.data, self.index)

    def name(self) -> bytes:
        """The pack's checksum in hex (the name in ``pack-<name>.pack``)."""
        return self.index.get_pack_checksum().hex().encode("ascii")

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, sha) -> bool:
        return sha in self.index

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.index)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.basename!r})"

    def _bin(self, sha) -> bytes:
        n = len(sha)
        if n == self.hash_algo.digest_size:
            return bytes(sha)
        try:
            return bytes.fromhex(sha.decode("ascii") if isinstance(sha, bytes) else sha)
        except (ValueError, UnicodeDecodeError):
            raise MissingObjectError(sha) from None

    def _offset(self, sha) -> int:
        off = self.index.find_offset(self._bin(sha))
        if off is None:
            raise MissingObjectError(sha)
        return off

    def get_raw(self, sha) -> tuple[int, bytes]:
        """(type number, body) of an object in this pack, deltas resolved."""
        return self.data.resolve_object_at(self._offset(sha), self.index.find_offset,
                                           self.resolve_ext_ref)

    def __getitem__(self, sha):
        from .objects import ShaFile
        type_num, body = self.get_raw(sha)
        hexsha = sha if len(sha) == self.hash_algo.hex_size else bytes(sha).hex().encode("ascii")
        return ShaFile.from_raw_string(type_num, body, hexsha, self.hash_algo)

    get_object = __getitem__

    def get_unpacked_object_at(self, offset: int):
        return self.data.get_object_at(offset)

    def iterobjects(self) -> Iterator:
        """Every object, parsed (in id order)."""
        for hexsha in self:
            yield self[hexsha]

    # -- stored entries (for pack writers that copy)
    def _revindex(self) -> list[int]:
        """Entry offsets in pack order, then the end of the entries.

        Taken from the pack's ``pack_reuse`` layout when a clone or a big
        fetch built one (no second sorted copy and offset map); else sorted
        from the index.
        """
        rev = self._rev
        bo = self._offset_order()
        if bo is not None:
            return bo.offs
        if rev is None:
            rev = list(self.index.sorted_offsets())
            rev.append(self.data.data_end)
            self._rev = rev
        return rev

    def _offset_order(self):
        """The offset-order tables of this pack's ``pack_reuse`` layout, if one was built.

        Only an existing layout is used: building one reads a byte of every
        entry, i.e. every page of the pack, which a small fetch from a big
        pack must not pay for (the index alone gives the offsets).
        """
        bo = self._by_offset
        if bo is None and self.basename is not None:
            from .pack_reuse import _UNUSABLE, cached_layout
            lay = cached_layout(self)
            if lay is None:
                return None
            try:
                bo = self._by_offset = lay.by_offset()
            except _UNUSABLE:
                return None
        return bo

    def _id_at(self, offset: int) -> bytes:
        """Hex id of the entry starting at ``offset`` (KeyError if none does)."""
        bo = self._offset_order()
        if bo is None:
            return self.index.object_sha1(offset).hex().encode("ascii")
        import bisect
        offs = bo.offs
        i = bisect.bisect_left(offs, offset, 0, len(offs) - 1)
        if i < len(offs) - 1 and offs[i] == offset:
            return bo.ids[i]
        raise KeyError(offset)

    def _stored_at(self, offset: int, next_offset: int) -> StoredEntry:
        data = self.data
        type_num, size, base, pos = data.entry_header_at(offset)
        if next_offset <= pos:
            raise CorruptPackError(f"entry at {offset} overlaps the next one")
        if type_num == OFS_DELTA:
            try:
                base = self._id_at(base)
            except KeyError:
                raise CorruptPackError(f"OFS_DELTA at {offset} has no object at its base "
                                       f"offset {base}") from None
        elif type_num == REF_DELTA:
            base = base.hex().encode("ascii")
        return StoredEntry(type_num, size, base, data._mmap[pos:next_offset], offset)

    def get_stored_entry(self, sha) -> StoredEntry:
        """The entry for ``sha`` as stored (see StoredEntry)."""
        import bisect
        offset = self._offset(sha)
        rev = self._revindex()
        i = bisect.bisect_right(rev, offset)
        return self._stored_at(offset, rev[i])

    def iter_stored_entries(self) -> Iterator[tuple[bytes, StoredEntry]]:
        """(hex id, StoredEntry) for every entry, in pack order."""
        rev = self._revindex()
        bo = self._offset_order()
        if bo is not None and bo.offs is rev:
            ids = bo.ids
        else:
            idx = self.index
            ids = [idx.object_sha1(off).hex().encode("ascii") for off in rev[:-1]]
        for i in range(len(rev) - 1):
            yield ids[i], self._stored_at(rev[i], rev[i + 1])

    # -- verification
    def check(self) -> None:
        """Verify everything: both checksums, that the index matches, every object and CRC."""
        data = self.data
        idx = self.index
        data.check()
        idx.check()
        self.check_length_and_checksum()
        actual = data.sorted_entries(self.resolve_ext_ref)
        expected = list(idx.iterentries())
        if len(actual) != len(expected):
            raise PackIndexError(f"{self.basename}: index lists {len(expected)} objects, "
                                 f"pack holds {len(actual)}")
        for (s1, o1, c1), (s2, o2, c2) in zip(actual, expected):
            if s1 != s2 or o1 != o2 or (c2 is not None and c1 != c2):
                raise PackIndexError(f"{self.basename}: index entry {s2.hex()}@{o2} does not "
                                     f"match the pack ({s1.hex()}@{o1})")

    def keep(self, msg: Optional[bytes] = None) -> str:
        """Write a ``.keep`` file so that repacks leave this pack alone."""
        path = self.basename + ".keep"
        with open(path, "wb") as f:
            if msg:
                f.write(msg + b"\n")
        return path

    def close(self) -> None:
        if self._data is not None:
            self._data.close()
        if self._index is not None:
            self._index.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PackedObjectReader:
    """Reads many objects from a list of packs during one walk.

    ``read(binsha)`` returns (type, body, key, base key, delta), or None when no
    pack has the object.  ``key`` names where the object sits (pack, offset)
    and ``base key``/``delta`` are the base and delta its own entry stores
    (None for full objects), so a tree walk can reuse the work it did on
    that base.  After many lookups in one pack its id table is
    loaded into a dict: a full walk looks up nearly every object, and there a
    binary search in Python costs more than building the dict once.
    """

    def __init__(self, packs) -> None:
        self._packs = list(packs)
        self._stride = max(1, len(self._packs))
        self._finds = [p.index.find_offset for p in self._packs]
        self._budget = [len(p.index) >> 3 for p in self._packs]

    def _find(self, i: int, binsha: bytes) -> Optional[int]:
        budget = self._budget[i]
        if budget >= 0:
            if budget:
                self._budget[i] = budget - 1
            else:
                self._budget[i] = -1
                ids = {sha: off for sha, off, _ in self._packs[i].index.iterentries()}
                self._finds[i] = ids.get
        return self._finds[i](binsha)

    def get_raw(self, binsha: bytes) -> Optional[tuple[int, bytes]]:
        """(type number, body), or None if no pack has the object."""
        for i, pack in enumerate(self._packs):
            off = self._find(i, binsha)
            if off is not None:
                return pack.data.resolve_object_at(off, self._finds[i], pack.resolve_ext_ref)
        return None

    def read(self, binsha: bytes, keep: bool = False):
        """(type number, body, key, base key or None, delta or None) or None if absent.

        ``keep``: cache the object as a likely delta base (see resolve_with_delta).
        """
        for i, pack in enumerate(self._packs):
            off = self._find(i, binsha)
            if off is not None:
                type_num, body, base, delta = pack.data.resolve_with_delta(
                    off, self._finds[i], pack.resolve_ext_ref, keep)
                n = self._stride
                return type_num, body, off * n + i, (None if base is None else base * n + i), delta
        return None


def __getattr__(name: str):
    """Writer functions live in their own modules; import them on first use."""
    if name == "create_delta":
        from .delta_create import create_delta
        return create_delta
    if name in ("write_pack_objects", "write_pack", "write_pack_data", "PackWriter"):
        from . import pack_writer
        return getattr(pack_writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PackData", "Pack", "PackedObjectReader", "PackIndex", "StoredEntry", "apply_delta", "delta_header_sizes",
           "load_pack_index", "read_pack_header", "parse_entry_header", "encode_entry_header",
           "encode_ofs_distance", "OFS_DELTA", "REF_DELTA", "DELTA_TYPES"]
