"""Indexing a pack stream, as ``git index-pack --stdin [--fix-thin]`` does.

Two passes, bounded memory:

1. ``PackScanner`` is fed the stream in chunks of any size.  It parses entry
   headers, inflates each entry once with a ``decompressobj`` (to find where
   it ends and to check it), hashes full objects as they inflate, computes
   each entry's CRC32 and the pack checksum, and keeps only a compact table
   per entry (offset, type, size, CRC, id).  Inflated data is thrown away.
2. ``pack_resolve.Resolver`` re-reads the pack (pread or a buffer) and resolves deltas the
   way git does: deltas are grouped by base (offset or id); starting from
   each full object, its children are resolved depth-first while the base is
   in hand, so each delta is inflated and applied exactly once.  Bases held on
   the stack are bounded in bytes; when over budget the oldest are dropped
   and rebuilt from the pack if needed again.

Thin packs: REF_DELTA bases that are not in the pack are looked up through
``resolve_ext_ref`` and appended as full objects; the header count and the
trailing checksum are then rewritten, as git's ``--fix-thin`` does.

Everything declared by the stream (counts, sizes, offsets) is checked before
it is trusted, and on any error the temp files are removed.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import tempfile
import zlib
from array import array
from dataclasses import dataclass, field
from functools import partial
from typing import Optional

from .delta import DEFAULT_MAX_OBJECT_SIZE, delta_header_sizes
from .errors import (CorruptPackError, DeltaError, MissingDeltaBaseError, ObjectTooLargeError,
                     PackChecksumError)
from .hashes import SHA1, HashAlgorithm
from .pack import (PACK_HEADER, PACK_SIGNATURE, compress_bound, encode_entry_header,
                   ResolveExtRef)
from .pack_index import write_pack_index_tables
from .pack_resolve import Inspect, Resolver, _PreadView  # noqa: F401  (Inspect re-exported)

_TYPE_NAMES = (b"", b"commit", b"tree", b"blob", b"tag")

_FEED_STEP = 1 << 20          # how much input to hand zlib at once when streaming
_OUT_CHUNK = 1 << 22          # inflate big objects in pieces of this size
_SMALL = 1 << 20              # objects up to this size take the one-call fast path
_JOIN = 1 << 16               # bytes joined to a header cut by a chunk boundary


@dataclass
class IndexResult:
    """What indexing produced: the checksum, the sorted tables and (for streams) file names."""

    checksum: bytes
    tables: tuple                      # (sorted ids as one bytes, offsets, crc32s) in id order
    num_objects: int
    pack_path: Optional[str] = None
    idx_path: Optional[str] = None
    thin_bases_added: int = 0
    stats: dict = field(default_factory=dict)
    hash_size: int = 20

    @property
    def name(self) -> str:
        return self.checksum.hex()

    @property
    def entries(self) -> list[tuple[bytes, int, int]]:
        """(binary id, offset, crc32) sorted by id (built on demand: it is big)."""
        ids, offsets, crcs = self.tables
        hs = self.hash_size
        return [(ids[i * hs:(i + 1) * hs], offsets[i], crcs[i]) for i in range(len(offsets))]

    def write_index(self, f, version: int = 2, hash_algo: HashAlgorithm = SHA1) -> bytes:
        ids, offsets, crcs = self.tables
        return write_pack_index_tables(f, ids, offsets, crcs, self.checksum, version, hash_algo)


class _Partial:
    """An entry whose zlib stream continues into the next chunk."""

    __slots__ = ("start", "typ", "size", "base", "hdr_len", "d", "h", "produced", "crc", "head")

    def __init__(self, start, typ, size, base, hdr_len, h):
        self.start = start
        self.typ = typ
        self.size = size
        self.base = base
        self.hdr_len = hdr_len
        self.d = zlib.decompressobj()
        self.h = h
        self.produced = 0
        self.crc = 0
        self.head = b""


class PackScanner:
    """Pass 1: parse a pack stream fed in chunks, keeping a compact entry table."""

    def __init__(self, hash_algo: HashAlgorithm = SHA1, out=None,
                 max_object_size: int = DEFAULT_MAX_OBJECT_SIZE) -> None:
        self.hash_algo = hash_algo
        self.hs = hash_algo.digest_size
        self.max_object_size = max_object_size
        self._out = out
        self._buf = b""
        self._abs = 0                   # stream offset of _buf[0]
        self._pack_hash = hash_algo.new()
        self._remaining: Optional[int] = None
        self._cur: Optional[_Partial] = None
        self.trailer: Optional[bytes] = None
        self.num_objects = 0
        self.version = 0
        # the entry table, in pack order
        self.offsets = array("Q")
        self.sizes = array("Q")
        self.crcs = array("I")
        self.types = bytearray()
        self.hdr_lens = bytearray()
        self.shas = bytearray()         # hs bytes per entry; zeros for deltas until resolved
        self.ofs_kids = array("I")       # OFS_DELTA entries ...
        self.ofs_bases = array("Q")      # ... and their base offsets
        self.ref_children: dict[bytes, list[int]] = {}
        self.delta_count = 0
        #: see Inspect; whole commits, trees and tags seen while streaming are
        #: inspected here (their index goes into ``inspected``), the rest in pass 2
        self.inspect: Optional[Inspect] = None
        self.inspected: set = set()
        self.stream_size = 0

    # -- input
    def feed(self, data) -> None:
        """Take the next chunk of the stream."""
        if not data:
            return
        if self._out is not None:
            self._out.write(data)
        self.stream_size += len(data)
        while data:
            if self.trailer is not None:
                raise CorruptPackError("pack has junk after its trailing checksum")
            if self._buf:
                # A header was cut at the end of the last chunk: join it with a
                # little of this one only, never copying a whole big chunk.
                self._buf = bytes(self._buf) + bytes(data[:_JOIN])
                data = data[_JOIN:]
            else:
                self._buf = data
                data = b""
            self._process(False)

    def finish(self) -> None:
        """The stream has ended: everything must have been complete."""
        self._process(True)
        if self.trailer is None:
            raise CorruptPackError("pack stream is truncated"
                                   + ("" if self._remaining is None else
                                      f" ({self._remaining} of {self.num_objects} objects missing)"
                                      if self._remaining else " (no trailing checksum)"))

    # -- parsing
    def _process(self, final: bool) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        if self._remaining is None:
            if n < 12:
                if final:
                    raise CorruptPackError("pack stream is truncated in its header")
                return
            sig, version, count = PACK_HEADER.unpack_from(buf, 0)
            if sig != PACK_SIGNATURE:
                raise CorruptPackError(f"not a pack stream (signature {bytes(sig)!r})")
            if version not in (2, 3):
                raise CorruptPackError(f"unsupported pack version {version}")
            self.version = version
            self.num_objects = self._remaining = count
            pos = 12
        mv = memoryview(buf)
        try:
            if self._remaining or self._cur is not None:
                pos = self._entries(buf, mv, pos, n, final)
            if self._cur is None and self._remaining == 0:
                self._pack_hash.update(mv[:pos])
                hashed = pos
                if n - pos >= self.hs:
                    trailer = bytes(mv[pos:pos + self.hs])
                    if n - pos > self.hs:
                        raise CorruptPackError("pack has junk after its trailing checksum")
                    actual = self._pack_hash.digest()
                    if trailer != actual:
                        raise PackChecksumError(trailer, actual, "pack stream trailer")
                    self.trailer = trailer
                    pos = n
                elif final:
                    raise CorruptPackError("pack stream is truncated in its trailing checksum")
            else:
                self._pack_hash.update(mv[:pos])
                hashed = pos
            self._abs += hashed
            self._buf = bytes(mv[hashed:]) if hashed < n else b""
        finally:
            mv.release()

    def _entries(self, buf, mv, pos: int, n: int, final: bool) -> int:
        """Consume whole entries from ``buf``; return the position reached."""
        if self._cur is not None:
            pos = self._continue(mv, pos, n)
            if self._cur is not None:
                return pos
        hs = self.hs
        absbase = self._abs
        max_size = self.max_object_size
        offsets_append = self.offsets.append
        sizes_append = self.sizes.append
        crcs_append = self.crcs.append
        types_append = self.types.append
        hdr_append = self.hdr_lens.append
        shas_extend = self.shas.extend
        zero_id = b"\0" * hs
        new_hash = self.hash_algo.new
        ofs_kids_append = self.ofs_kids.append
        ofs_bases_append = self.ofs_bases.append
        ref_children = self.ref_children
        decompressobj = zlib.decompressobj
        crc32 = zlib.crc32
        remaining = self._remaining
        index = self.num_objects - remaining
        inspect = self.inspect
        while remaining:
            start = pos
            abs_start = absbase + start
            try:
                c = buf[pos]
                pos += 1
                typ = (c >> 4) & 7
                size = c & 15
                shift = 4
                while c & 0x80:
                    c = buf[pos]
                    pos += 1
                    size |= (c & 0x7F) << shift
                    shift += 7
                    if shift > 67:
                        raise CorruptPackError(f"entry header at {abs_start} is too long")
                base = None
                if typ > 4:
                    if typ == 6:
                        c = buf[pos]
                        pos += 1
                        dist = c & 0x7F
                        while c & 0x80:
                            if dist > abs_start:
                                break
                            c = buf[pos]
                            pos += 1
                            dist = ((dist + 1) << 7) | (c & 0x7F)
                        if dist == 0:
                            raise CorruptPackError(f"OFS_DELTA at {abs_start} points at itself")
                        if dist > abs_start - 12:
                            raise CorruptPackError(
                                f"OFS_DELTA at {abs_start} points before the pack start")
                        base = abs_start - dist
                    elif typ == 7:
                        base = bytes(mv[pos:pos + hs])
                        pos += hs
                        if pos > n:
                            raise IndexError
                    else:
                        raise CorruptPackError(f"bad object type 5 at offset {abs_start}")
                elif typ == 0:
                    raise CorruptPackError(f"bad object type 0 at offset {abs_start}")
            except IndexError:
                if final:
                    raise CorruptPackError(
                        f"pack stream is truncated ({remaining} of {self.num_objects} objects "
                        f"missing)") from None
                pos = start
                break
            if size > max_size:
                raise ObjectTooLargeError(
                    f"object at offset {abs_start} declares {size} bytes, limit {max_size}")
            hdr_len = pos - start
            h = new_hash(b"%s %d\0" % (_TYPE_NAMES[typ], size)) if typ < 5 else None
            if size <= _SMALL:
                # Fast path: the whole entry is (usually) in the buffer.
                d = decompressobj()
                chunk = mv[pos:pos + compress_bound(size)]
                try:
                    out = d.decompress(chunk, size + 1)
                except zlib.error as e:
                    raise CorruptPackError(f"bad zlib stream in entry at {abs_start} ({e})") from None
                if d.eof:
                    if len(out) != size:
                        raise CorruptPackError(f"entry at {abs_start} inflates to {len(out)} "
                                               f"bytes, header says {size}")
                    end = pos + len(chunk) - len(d.unused_data)
                    if h is not None:
                        h.update(out)
                        digest = h.digest()
                        shas_extend(digest)
                        if inspect is not None and typ != 3:
                            inspect(index, typ, out, digest, None, None)
                            self.inspected.add(index)
                    else:
                        shas_extend(zero_id)
                        self._check_delta_head(out, abs_start)
                        if typ == 6:
                            ofs_kids_append(index)
                            ofs_bases_append(base)
                        else:
                            kids = ref_children.get(base)
                            if kids is None:
                                ref_children[base] = [index]
                            else:
                                kids.append(index)
                    offsets_append(abs_start)
                    sizes_append(size)
                    crcs_append(crc32(mv[start:end]))
                    types_append(typ)
                    hdr_append(hdr_len)
                    pos = end
                    remaining -= 1
                    index += 1
                    continue
                if d.unconsumed_tail or len(out) > size:
                    raise CorruptPackError(f"entry at {abs_start} inflates to more than "
                                           f"its declared {size} bytes")
                # The stream goes on past what we handed zlib: continue slowly.
                p = _Partial(abs_start, typ, size, base, hdr_len, h)
                p.d = d
                pos += len(chunk)
                p.crc = crc32(mv[start:pos])
                self._took(p, out)
            else:
                p = _Partial(abs_start, typ, size, base, hdr_len, h)
                p.crc = crc32(mv[start:pos])
            self._remaining = remaining
            self._cur = p
            pos = self._continue(mv, pos, n)
            remaining = self._remaining
            index = self.num_objects - remaining
            if self._cur is not None:
                return pos
        self._remaining = remaining
        return pos

    def _took(self, p: _Partial, out: bytes) -> None:
        """Account for inflated output of a partial entry."""
        if not out:
            return
        p.produced += len(out)
        if p.produced > p.size:
            raise CorruptPackError(f"entry at {p.start} inflates to more than its declared "
                                   f"{p.size} bytes")
        if p.h is not None:
            p.h.update(out)
        elif len(p.head) < 32:
            p.head += out[:32]

    def _continue(self, mv, pos: int, n: int) -> int:
        """Feed the current partial entry from ``mv[pos:n]``; return the new position."""
        p = self._cur
        d = p.d
        crc_from = pos
        try:
            while not d.eof:
                tail = d.unconsumed_tail
                if tail:
                    out = d.decompress(tail, _OUT_CHUNK)
                elif pos < n:
                    piece = mv[pos:pos + _FEED_STEP]
                    pos += len(piece)
                    out = d.decompress(piece, _OUT_CHUNK)
                else:
                    p.crc = zlib.crc32(mv[crc_from:pos], p.crc)
                    return pos
                self._took(p, out)
        except zlib.error as e:
            raise CorruptPackError(f"bad zlib stream in entry at {p.start} ({e})") from None
        pos -= len(d.unused_data)
        if p.produced != p.size:
            raise CorruptPackError(f"entry at {p.start} inflates to {p.produced} bytes, "
                                   f"header says {p.size}")
        p.crc = zlib.crc32(mv[crc_from:pos], p.crc)
        index = self.num_objects - self._remaining
        if p.h is not None:
            self.shas.extend(p.h.digest())
        else:
            self.shas.extend(b"\0" * self.hs)
            self._check_delta_head(p.head, p.start)
            if p.typ == 6:
                self.ofs_kids.append(index)
                self.ofs_bases.append(p.base)
            else:
                self.ref_children.setdefault(p.base, []).append(index)
        self.offsets.append(p.start)
        self.sizes.append(p.size)
        self.crcs.append(p.crc)
        self.types.append(p.typ)
        self.hdr_lens.append(p.hdr_len)
        self._remaining -= 1
        self._cur = None
        return pos

    def _check_delta_head(self, head: bytes, at: int) -> None:
        """Refuse a delta that declares a result above the limit, before resolving it."""
        self.delta_count += 1
        try:
            _, result_size, _ = delta_header_sizes(head)
        except DeltaError as e:
            raise DeltaError(f"delta at offset {at}: {e}") from None
        if result_size > self.max_object_size:
            raise ObjectTooLargeError(f"delta at offset {at} declares a result of {result_size} "
                                      f"bytes, limit {self.max_object_size}")


# --- driving both passes ----------------------------------------------------

def _sorted_tables(scan: PackScanner) -> tuple[bytes, array, array]:
    """Sort the entry table by id without a Python object per entry.

    A clone's peak memory is reached here, so the order is found by a
    counting sort on each id's first two bytes (arrays only), and only
    the few ids sharing those bytes are compared whole.
    """
    hs = scan.hs
    n = len(scan.offsets)
    shas = scan.shas
    k = bytearray(2 * n)
    k[0::2] = shas[0::hs]
    k[1::2] = shas[1::hs]
    keys = array("H", bytes(k))
    del k
    if sys.byteorder == "little":
        keys.byteswap()                  # keys[i] == first two bytes of id i, big-endian
    ends = array("I", bytes(4 * 65537))
    for key in keys:
        ends[key + 1] += 1
    total = 0
    for b in range(65537):
        total += ends[b]
        ends[b] = total
    order = array("I", bytes(4 * n))
    for i, key in enumerate(keys):       # stable placement; ends[b] moves to bucket b's end
        p = ends[key]
        order[p] = i
        ends[key] = p + 1
    del keys
    prev = 0
    for b in range(65536):
        end = ends[b]
        if end - prev > 1:
            order[prev:end] = array("I", sorted(order[prev:end],
                                                key=lambda i: shas[i * hs:(i + 1) * hs]))
        prev = end
    ids = bytearray(n * hs)
    pos = 0
    for i in order:
        ids[pos:pos + hs] = shas[i * hs:(i + 1) * hs]
        pos += hs
    offsets = scan.offsets
    crcs = scan.crcs
    return (bytes(ids), array("Q", map(offsets.__getitem__, order)),
            array("I", map(crcs.__getitem__, order)))


def index_existing_pack(data, size: int, hash_algo: HashAlgorithm = SHA1,
                        resolve_ext_ref: Optional[ResolveExtRef] = None,
                        max_object_size: int = DEFAULT_MAX_OBJECT_SIZE) -> IndexResult:
    """Index a complete pack already in memory or mmap'd (no copy is made)."""
    scan = PackScanner(hash_algo, None, max_object_size)
    mv = memoryview(data)
    try:
        step = 1 << 24
        for p in range(0, size, step):
            scan.feed(mv[p:min(p + step, size)])
        scan.finish()
        Resolver(scan, mv, size - hash_algo.digest_size, resolve_ext_ref).run()
    finally:
        mv.release()
    return IndexResult(scan.trailer, _sorted_tables(scan), len(scan.offsets),
                       hash_size=hash_algo.digest_size)


def _iter_source(source, chunk_size: int = 1 << 16):
    """Chunks from a read(n) callable, a file-like object, or an iterable of bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield source
        return
    read = getattr(source, "read", None)
    if read is None and callable(source):
        read = source
    if read is not None:
        while True:
            data = read(chunk_size)
            if not data:
                return
            yield data
    else:
        for data in source:
            if data:
                yield data


def _resolving_meter(report, done: int, total: int) -> None:
    """git's "Resolving deltas" line, to be overwritten by the next one."""
    report(b"Resolving deltas: %3d%% (%d/%d)\r" % (done * 100 // total, done, total))


class PackIndexer:
    """Index a pack stream into temp files in ``pack_dir``.

    Feed it with ``feed(chunk)`` and call ``finish()``; or use
    :func:`index_pack_stream`.  ``finish`` returns an :class:`IndexResult`
    whose ``pack_path``/``idx_path`` are the temp files (the caller moves them
    into place with :func:`install_pack`).  On error, nothing is left behind.
    """

    def __init__(self, pack_dir: str | os.PathLike, hash_algo: HashAlgorithm = SHA1,
                 fix_thin: bool = False, resolve_ext_ref: Optional[ResolveExtRef] = None,
                 max_object_size: int = DEFAULT_MAX_OBJECT_SIZE, index_version: int = 2,
                 compression_level: int = -1, progress=None,
                 inspect: Optional[Inspect] = None, parallel: bool = False) -> None:
        self.pack_dir = os.fspath(pack_dir)
        self.inspect = inspect
        self.parallel = parallel
        self.hash_algo = hash_algo
        self.fix_thin = fix_thin
        self.resolve_ext_ref = resolve_ext_ref
        self.index_version = index_version
        self.compression_level = compression_level
        self.progress = progress
        os.makedirs(self.pack_dir, exist_ok=True)
        fd, self.pack_path = tempfile.mkstemp(dir=self.pack_dir, prefix="tmp_pack_")
        self.idx_path: Optional[str] = None
        self._f = os.fdopen(fd, "w+b")
        self._scan = PackScanner(hash_algo, self._f, max_object_size)
        self._scan.inspect = inspect
        self._done = False

    # -- progress of the incoming stream (read-only)
    @property
    def complete(self) -> bool:
        """True once the whole pack, including its trailing checksum, has been fed.

        The checksum has been verified by then.  A reader of a live connection
        must stop reading here rather than wait for EOF: a pushing client keeps
        its side open until it gets the report, so EOF never comes.
        """
        return self._scan.trailer is not None

    @property
    def num_objects(self) -> int:
        """The object count announced in the pack header (0 until the header arrives).

        With ``finish()``'s thin-pack fixing, the final pack may hold more
        (see ``IndexResult.num_objects``); this is what the sender announced.
        """
        return self._scan.num_objects

    @property
    def objects_received(self) -> int:
        """How many entries of the stream have been fully scanned so far.

        For progress meters ("Receiving objects: n/num_objects"); bases
        appended by ``finish()`` to complete a thin pack are not counted.
        """
        scan = self._scan
        remaining = scan._remaining
        return 0 if remaining is None else scan.num_objects - remaining

    def feed(self, data) -> None:
        try:
            self._scan.feed(data)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Close and remove the temp files."""
        self._done = True
        try:
            self._f.close()
        except OSError:
            pass
        for p in (self.pack_path, self.idx_path):
            if p:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass

    def finish(self) -> IndexResult:
        try:
            return self._finish()
        except BaseException:
            self.abort()
            raise

    def _finish(self) -> IndexResult:
        scan = self._scan
        scan.finish()
        f = self._f
        f.flush()
        hs = self.hash_algo.digest_size
        received = scan.stream_size
        if received == 0:
            raise CorruptPackError("empty pack stream")
        data_end = received - hs
        appended: list[int] = []
        level = self.compression_level

        def append_base(typ: int, body: bytes) -> int:
            """Write a thin pack's missing base as a full entry; return its index."""
            if not self.fix_thin:
                raise MissingDeltaBaseError(b"", "thin pack given but fix_thin is off")
            if not appended:
                f.seek(data_end)
                f.truncate()
            off = f.tell()
            hdr = encode_entry_header(typ, len(body))
            raw = hdr + zlib.compress(body, level)
            f.write(raw)
            j = len(scan.offsets)
            scan.offsets.append(off)
            scan.sizes.append(len(body))
            scan.crcs.append(zlib.crc32(raw))
            scan.types.append(typ)
            scan.hdr_lens.append(len(hdr))
            h = self.hash_algo.new(b"%s %d\0" % (_TYPE_NAMES[typ], len(body)))
            h.update(body)
            scan.shas.extend(h.digest())
            appended.append(j)
            return j

        # pread, not mmap: mapped pages of the received pack would count as this
        # process's memory (its RSS grew by the pack's size); the page cache does not.
        meter = None if self.progress is None else partial(_resolving_meter, self.progress)
        resolver = Resolver(scan, _PreadView(f.fileno(), received), data_end,
                             self.resolve_ext_ref if self.fix_thin else None,
                             append_base if self.fix_thin else None, inspect=self.inspect,
                             parallel=self.parallel, progress=meter)
        added = resolver.run()
        checksum = scan.trailer
        if added:
            checksum = self._rewrite_header_and_trailer(len(scan.offsets))
        f.close()
        result = IndexResult(checksum, _sorted_tables(scan), len(scan.offsets), self.pack_path,
                             None, added, {"deltas": scan.delta_count, "bytes": received},
                             hs)
        fd, self.idx_path = tempfile.mkstemp(dir=self.pack_dir, prefix="tmp_idx_")
        with os.fdopen(fd, "wb") as idx:
            result.write_index(idx, self.index_version, self.hash_algo)
        result.idx_path = self.idx_path
        self._done = True
        return result

    def _rewrite_header_and_trailer(self, count: int) -> bytes:
        """After appending thin bases: new object count, new trailing checksum."""
        f = self._f
        f.flush()
        f.seek(8)
        f.write(struct.pack(">I", count))
        f.flush()
        h = self.hash_algo.new()
        f.seek(0)
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
        digest = h.digest()
        f.seek(0, os.SEEK_END)
        f.write(digest)
        f.flush()
        return digest


def index_pack_stream(source, pack_dir: str | os.PathLike, hash_algo: HashAlgorithm = SHA1,
                      fix_thin: bool = False, resolve_ext_ref: Optional[ResolveExtRef] = None,
                      max_object_size: int = DEFAULT_MAX_OBJECT_SIZE, progress=None,
                      chunk_size: int = 1 << 16) -> IndexResult:
    """Index a pack from ``source`` (read callable, file, or iterable of chunks) into temp files."""
    indexer = PackIndexer(pack_dir, hash_algo, fix_thin, resolve_ext_ref, max_object_size,
                          progress=progress)
    try:
        for chunk in _iter_source(source, chunk_size):
            indexer._scan.feed(chunk)
    except BaseException:
        indexer.abort()
        raise
    return indexer.finish()


def index_pack_file(path: str | os.PathLike, pack_dir: str | os.PathLike,
                    hash_algo: HashAlgorithm = SHA1,
                    resolve_ext_ref: Optional[ResolveExtRef] = None,
                    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE,
                    index_version: int = 2) -> IndexResult:
    """Index a complete pack file in place, writing its index to a temp file in ``pack_dir``."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 12 + hash_algo.digest_size:
            raise CorruptPackError(f"pack is too short ({size} bytes)")
        mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
    try:
        result = index_existing_pack(mm, size, hash_algo, resolve_ext_ref, max_object_size)
    finally:
        mm.close()
    fd, idx_path = tempfile.mkstemp(dir=os.fspath(pack_dir), prefix="tmp_idx_")
    try:
        with os.fdopen(fd, "wb") as idx:
            result.write_index(idx, index_version, hash_algo)
    except BaseException:
        os.unlink(idx_path)
        raise
    result.pack_path = path
    result.idx_path = idx_path
    return result


def load_pack_objects(result: IndexResult, pack_dir: str | os.PathLike,
                      hash_algo: HashAlgorithm = SHA1) -> dict[bytes, tuple[int, bytes]]:
    """Every object of an indexed pack as {hex id: (type, body)} (for memory stores)."""
    from .pack import Pack
    basename = install_pack(result, pack_dir)
    out = {}
    with Pack(basename, hash_algo) as pack:
        ids = result.tables[0]
        hs = hash_algo.digest_size
        for i in range(0, len(ids), hs):
            sha = ids[i:i + hs]
            out[sha.hex().encode("ascii")] = pack.get_raw(sha)
    return out


def install_pack(result: IndexResult, pack_dir: str | os.PathLike) -> str:
    """Move indexed temp files into place: the ``.pack`` first, the ``.idx`` last.

    Readers list packs by their ``.idx``, so they never see an index without
    its pack.  Returns the pack's basename.  If the pack is already installed,
    the temp files are discarded.
    """
    pack_dir = os.fspath(pack_dir)
    basename = os.path.join(pack_dir, "pack-" + result.name)
    try:
        if os.path.exists(basename + ".idx") and os.path.exists(basename + ".pack"):
            return basename
        for path in (result.pack_path, result.idx_path):
            os.chmod(path, 0o444)
        os.replace(result.pack_path, basename + ".pack")
        os.replace(result.idx_path, basename + ".idx")
        return basename
    finally:
        for path in (result.pack_path, result.idx_path):
            try:
                os.unlink(path)
            except (FileNotFoundError, TypeError):
                pass


__all__ = ["PackScanner", "PackIndexer", "IndexResult", "index_pack_stream",
           "index_existing_pack", "index_pack_file", "install_pack", "load_pack_objects"]
