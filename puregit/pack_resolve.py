"""Pass 2 of indexing a pack: resolve every delta once, depth-first from its base.

``pack_indexer.PackScanner`` (pass 1) leaves a compact table per entry; the
:class:`Resolver` re-reads the received pack (``pread``, so its pages never
count in this process's memory), applies each delta while its base is in
hand, hashes the result, and hands commits, trees and tags to an optional
``inspect`` callback (receive-pack's fsck).  On a server the delta families
can be split with a forked child (``forking``).
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import os
import re
import zlib
from array import array
from typing import Callable, Optional

from .delta import apply_delta
from .errors import CorruptPackError, MissingDeltaBaseError
from .forking import cores, in_child
from .pack import OFS_DELTA, ResolveExtRef
from .ticker import ticking

__all__ = ["Inspect", "Resolver", "PARALLEL_MIN_DELTAS"]

_TYPE_NAMES = (b"", b"commit", b"tree", b"blob", b"tag")
_STACK_BUDGET = 64 << 20      # bases held while resolving deltas
PARALLEL_MIN_DELTAS = 20000   # fewer deltas than this: forking costs more than it saves
PROGRESS_SECONDS = 1.0        # how often the resolving meter moves (as git's)
_WHOLE_ENTRY = re.compile(rb"[\x01-\x04]")   # over the entry types, in pack order

Inspect = Callable[[int, int, bytes, bytes, Optional[int], Optional[list]], None]
"""``inspect(index, type, body, binary id, base index, copy runs)``: called for
every commit, tree and tag of a received pack while its body is in hand, bases
before their deltas.  ``base index`` is None for whole entries; ``copy runs``
(for trees built by a delta: ``delta.delta_copy_runs`` of it) tell which
stretches of the body are copies of the base."""


class _PreadView:
    """Read-only bytes-like view of the first ``size`` bytes of a file, via ``os.pread``."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.size)
            if step != 1:
                raise ValueError("only contiguous slices")
            return os.pread(self.fd, max(0, stop - start), start)
        if key < 0:
            key += self.size
        if not 0 <= key < self.size:
            raise IndexError("pack offset out of range")
        return os.pread(self.fd, 1, key)[0]


class Resolver:
    """Pass 2: resolve every delta once, depth-first from its base."""

    def __init__(self, scan, data, data_len: int,
                 resolve_ext_ref: Optional[ResolveExtRef] = None,
                 append_base: Optional[Callable[[int, bytes], int]] = None,
                 stack_budget: Optional[int] = None,
                 inspect: Optional[Inspect] = None, parallel: bool = False,
                 progress: Optional[Callable[[int, int], object]] = None) -> None:
        self.scan = scan
        #: ``progress(done, total)`` about every PROGRESS_SECONDS while resolving
        self.progress = progress
        self._done = 0                   # deltas resolved by this process
        self._side = 0                   # 0 here, 1 in a forked child
        self._counts = None              # both sides' counts, shared (see _ticker)
        self.inspect = inspect
        self.parallel = parallel
        self.data = data                 # mmap/memoryview of the pack as received
        self.data_len = data_len         # where the received entries end (trailer start)
        self.resolve_ext_ref = resolve_ext_ref
        self.append_base = append_base
        self.stack_budget = _STACK_BUDGET if stack_budget is None else stack_budget
        self.extra: dict[int, bytes] = {}   # appended thin bases: index -> id
        self.ref_base_of: dict[int, int] = {}            # REF_DELTA index -> base index
        self.max_size = scan.max_object_size
        self.resolved = bytearray(len(scan.offsets))   # a delta's type once resolved
        # OFS_DELTA children by base offset: two arrays sorted by base (12 bytes a delta)
        bases = scan.ofs_bases
        order = sorted(range(len(bases)), key=bases.__getitem__)
        kids = scan.ofs_kids
        self.kid_bases = array("Q", map(bases.__getitem__, order))
        self.kid_index = array("I", map(kids.__getitem__, order))
        del order

    def _inflate(self, j: int) -> bytes:
        s = self.scan
        offsets = s.offsets
        start = offsets[j] + s.hdr_lens[j]
        end = offsets[j + 1] if j + 1 < len(offsets) else self.data_len
        size = s.sizes[j]
        try:
            out = zlib.decompress(self.data[start:end], 15, size or 1)
        except zlib.error as e:
            raise CorruptPackError(f"bad zlib stream in entry at {offsets[j]} ({e})") from None
        if len(out) != size:
            raise CorruptPackError(f"entry at {offsets[j]} changed size while indexing")
        return out

    def _object(self, j: int) -> tuple[int, bytes]:
        """Rebuild entry j from the pack (rare: only after the stack dropped a base)."""
        s = self.scan
        chain = []
        while True:
            if j in self.extra:  # an appended thin base: fetch it again
                binsha = self.extra[j]
                typ, data = self.resolve_ext_ref(binsha)
                break
            t = s.types[j]
            if t < 5:
                typ, data = t, self._inflate(j)
                break
            chain.append(j)
            if t == 6:
                base_off = self._ofs_base(j)
                j = bisect.bisect_left(s.offsets, base_off)
            else:
                j = self.ref_base_of[j]
        for k in reversed(chain):
            data = apply_delta(data, self._inflate(k), self.max_size)
        return typ, data

    def _ofs_base(self, j: int) -> int:
        from .pack import parse_entry_header
        s = self.scan
        _, _, base, _ = parse_entry_header(self.data, s.offsets[j], s.hs)
        return base

    def _ofs_kids(self, offset: int) -> Optional[list[int]]:
        """The OFS_DELTA entries whose base is at ``offset``."""
        kb = self.kid_bases
        i = bisect.bisect_left(kb, offset)
        m = len(kb)
        if i == m or kb[i] != offset:
            return None
        k = i + 1
        while k < m and kb[k] == offset:
            k += 1
        return self.kid_index[i:k].tolist()

    def _kids(self, j: int, binsha: Optional[bytes]) -> Optional[list[int]]:
        s = self.scan
        kids = self._ofs_kids(s.offsets[j])
        if s.ref_children:
            if binsha is None:
                hs = s.hs
                binsha = bytes(s.shas[j * hs:(j + 1) * hs])
            more = s.ref_children.pop(binsha, None)
            if more:
                for k in more:
                    self.ref_base_of[k] = j
                kids = kids + more if kids else more
        return kids

    def _families(self, roots: list) -> None:
        """Inspect the whole entries ``roots`` and resolve the deltas below each."""
        s = self.scan
        types = s.types
        hs = s.hs
        ref_children = s.ref_children
        offsets = s.offsets
        ofs_kids = self._ofs_kids
        inspect = self.inspect
        for j in roots:
            typ = types[j]
            kids = ofs_kids(offsets[j])
            binsha = None
            if ref_children:
                binsha = bytes(s.shas[j * hs:(j + 1) * hs])
                more = ref_children.pop(binsha, None)
                if more:
                    for k in more:
                        self.ref_base_of[k] = j
                    kids = kids + more if kids else more
            data = None
            if inspect is not None and typ != 3 and j not in s.inspected:
                data = self._inflate(j)
                inspect(j, typ, data, binsha or bytes(s.shas[j * hs:(j + 1) * hs]), None, None)
            if kids:
                self.resolve_from(j, typ, data, kids)

    def _fork_state(self, refs_before: list):
        """What a forked child resolved, for :meth:`_merge_fork_state` (marshal-able)."""
        s = self.scan
        left = s.ref_children
        inspect = self.inspect.fork_state() if self.inspect is not None else None
        return (bytes(s.shas), bytes(self.resolved),
                [b for b in refs_before if b not in left], inspect)

    def _merge_fork_state(self, state) -> None:
        shas, resolved, popped, inspect = state
        s = self.scan
        # Each delta was resolved by one side; the other side's bytes for it are zero.
        s.shas[:] = (int.from_bytes(s.shas, "big") | int.from_bytes(shas, "big")).to_bytes(
            len(s.shas), "big")
        self.resolved[:] = (int.from_bytes(self.resolved, "big")
                            | int.from_bytes(resolved, "big")).to_bytes(len(self.resolved), "big")
        for b in popped:
            s.ref_children.pop(b, None)
        if inspect is not None:
            self.inspect.merge_fork_state(inspect)

    def resolve_from(self, j: int, typ: int, data: Optional[bytes], kids: list[int]) -> None:
        """Resolve every delta below the full object j (depth-first, iterative)."""
        s = self.scan
        hs = s.hs
        shas = s.shas
        resolved = self.resolved
        new_hash = s.hash_algo.new
        inflate = self._inflate
        max_size = self.max_size
        budget = self.stack_budget
        inspect = self.inspect
        if data is None:
            data = inflate(j)
        # frame: [data or None, type, children, next child, entry index]
        stack = [[data, typ, kids, 0, j]]
        held = len(data)
        while stack:
            frame = stack[-1]
            kids = frame[2]
            k = frame[3]
            if k >= len(kids):
                stack.pop()
                if frame[0] is not None:
                    held -= len(frame[0])
                continue
            frame[3] = k + 1
            base = frame[0]
            if base is None:
                base = self._object(frame[4])[1]
                frame[0] = base
                held += len(base)
            typ = frame[1]
            if k + 1 == len(kids):      # last child: let the base go before descending
                stack.pop()
                held -= len(base)
            child = kids[k]
            runs = [] if typ == 2 and inspect is not None else None
            result = apply_delta(base, inflate(child), max_size, runs)
            base = None
            h = new_hash(b"%s %d\0" % (_TYPE_NAMES[typ], len(result)))
            h.update(result)
            digest = h.digest()
            shas[child * hs:(child + 1) * hs] = digest
            resolved[child] = typ
            self._done += 1
            if not self._done & 255 and self._counts is not None:
                self._counts[self._side] = self._done
            if inspect is not None and typ != 3:
                inspect(child, typ, result, digest, frame[4], runs)
            grandkids = self._kids(child, digest)
            if grandkids:
                stack.append([result, typ, grandkids, 0, child])
                held += len(result)
                if held > budget:
                    for fr in stack[:-1]:
                        if fr[0] is not None:
                            held -= len(fr[0])
                            fr[0] = None
                            if held <= budget:
                                break

    def _child_families(self, roots: list) -> None:
        self._side, self._done = 1, 0
        self._families(roots)

    @contextlib.contextmanager
    def _ticker(self):
        """Report progress from a thread, adding up this process's and a child's counts.

        The counts live in a shared anonymous mapping (one aligned 8-byte
        cell per side, written every 256 deltas), so the meter keeps moving
        while the parent waits for its forked child.
        """
        total = self.scan.delta_count
        if self.progress is None or total == 0:
            yield
            return
        counts = self._counts = memoryview(mmap.mmap(-1, 16)).cast("q")
        try:
            with ticking(PROGRESS_SECONDS,
                         lambda: self.progress(min(counts[0] + counts[1], total), total),
                         "resolving progress"):
                yield
        finally:
            self._counts = None

    def run(self) -> int:
        """Resolve all deltas; append thin bases if allowed.  Return bases appended."""
        with self._ticker():
            return self._run()

    def _run(self) -> int:
        s = self.scan
        types = s.types
        n = len(s.offsets)
        ref_children = s.ref_children
        offsets = s.offsets
        ofs_kids = self._ofs_kids
        roots = [m.start() for m in _WHOLE_ENTRY.finditer(types)]
        inspect = self.inspect
        can_merge = inspect is None or hasattr(inspect, "fork_state")
        if (self.parallel and can_merge and s.delta_count >= PARALLEL_MIN_DELTAS
                and cores() > 1):
            refs_before = list(ref_children)
            if hasattr(inspect, "prepare_fork"):
                inspect.prepare_fork()
            got = in_child(lambda: self._child_families(roots[1::2]),
                            lambda: self._fork_state(refs_before),
                            lambda: self._families(roots[0::2]))
            if got is not None:
                self._merge_fork_state(got)
            else:
                self._families(roots[1::2])   # the child failed: its half is done here
        else:
            self._families(roots)
        added = 0
        if ref_children:
            # Thin pack: bases from outside, in the order their first delta appears.
            for binsha in sorted(ref_children, key=lambda b: ref_children[b][0]):
                kids = ref_children.pop(binsha, None)
                if not kids:
                    continue  # resolved meanwhile through another base
                ext = self.resolve_ext_ref(binsha) if self.resolve_ext_ref is not None else None
                if ext is None or self.append_base is None:
                    raise MissingDeltaBaseError(binsha.hex().encode("ascii"),
                                                f"missing delta base {binsha.hex()} "
                                                f"({len(kids)} deltas need it)")
                typ, data = ext
                j = self.append_base(typ, data)
                self.extra[j] = binsha
                added += 1
                for k in kids:
                    self.ref_base_of[k] = j
                more = ofs_kids(offsets[j])
                self.resolve_from(j, typ, data, kids + more if more else kids)
        if ref_children:
            b = next(iter(ref_children))
            raise MissingDeltaBaseError(b.hex().encode("ascii"))
        unresolved = [j for j in range(n) if types[j] == OFS_DELTA and not self.resolved[j]] \
            if self.resolved.count(0) > n - s.delta_count else []
        if unresolved:
            off = self._ofs_base(unresolved[0])
            i = bisect.bisect_left(offsets, off)
            if i < n and offsets[i] == off:
                raise MissingDeltaBaseError(b"", f"delta base at offset {off} was never resolved "
                                            f"(its own base is missing or the chain loops)")
            raise CorruptPackError(f"OFS_DELTA base offset {off} is not the start of an entry")
        return added
