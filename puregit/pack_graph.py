"""Commit and tree edges of whole packs, read in pack order, for walks of everything.

A clone or ``pack-objects --all`` walks every tree of a history.  Reading
them in walk order costs an index lookup, a base-cache lookup and a chain
walk per tree; reading them in *pack order* the way ``pack_indexer``
resolves deltas (each family from its full base down, the base in hand)
costs one inflate and one delta application each.  :class:`PackGraph` does
that once per walk and keeps, per tree, only what a walk needs:

* the tree's delta base (None for a full entry) and
* the entries it does not copy whole from that base (raw ``mode name\\0id``
  bytes) -- usually a handful, found the way ``graph.TreeScanner`` finds
  them.  Full trees are not kept: the walker reads and parses those;

and per commit its tree, parents and time.  :class:`PackGraphTreeWalker`
then walks from the wanted trees: a tree's copied entries are entries of its
base, so once the base is known reachable only the new entries need looking
at.  A tree whose base turns out unreachable is re-read and walked whole at
the end (:meth:`PackGraphTreeWalker.flush`), so the result is exact.
Anything odd while building (a malformed object, a deep chain) just leaves
that object out: the walker then reads it the ordinary way, which reports it.
"""

from __future__ import annotations

import zlib
from array import array
import re
from binascii import hexlify, unhexlify
from itertools import accumulate
from typing import Iterator, Optional

from .delta import apply_delta
from .forking import cores as _cores, in_child as _in_child
from .errors import PuregitError
from .graph import (_DIR_MODES, _GITLINK_MODES, BLOB, TREE, TreeWalker, _entry_re,
                    commit_tree_and_parents, split_against_base)
from .pack import parse_entry_header

__all__ = ["PackGraph", "PackGraphTreeWalker", "MIN_OBJECTS", "PARALLEL_MIN_ROOTS"]

MIN_OBJECTS = 2000          # below this a plain walk is as fast
_MAX_HELD = 256 << 20       # bytes of bases held on one family's stack
_MAX_DEPTH = 10_000
_FULL_COMMIT_OR_TREE = re.compile(rb"[\x01\x02]")   # over the entry types in pack order


class PackGraph:
    """``trees``: binary id -> (base binary id or None, new raw entries);
    ``commits``: hex id -> (tree hex id, parent hex ids, None): the commit time
    is not read here (``upload_walk.CommitGraph`` reads it when asked)."""

    def __init__(self, digest_size: int = 20) -> None:
        self.digest_size = digest_size
        self.trees: dict[bytes, tuple[Optional[bytes], bytes]] = {}
        self.commits: dict[bytes, tuple[bytes, list, int]] = {}
        #: full (not deltified) trees: binary id -> (pack number, entry), read on demand
        self.full: dict[bytes, tuple[int, int]] = {}
        self._inflaters: list = []
        self._grouped, self._whole = _entry_re(digest_size)

    @classmethod
    def build(cls, packs, digest_size: int = 20, parallel: bool = False) -> Optional["PackGraph"]:
        """The graph of every commit and tree in ``packs``; None if not worth it.

        ``parallel``: on a machine with several cores, hand half of the delta
        families of a big pack to a forked child process (see
        ``forking.in_child``).  Meant for servers, where a clone waits on this.
        """
        packs = [p for p in packs if hasattr(p, "data") and hasattr(p, "index")]
        if sum(len(p) for p in packs) < MIN_OBJECTS:
            return None
        graph = cls(digest_size)
        for pack in packs:
            graph._add_pack(pack, parallel)
        return graph

    # -- reading one pack
    def _add_pack(self, pack, parallel: bool = False) -> None:
        from .pack_reuse import _layout
        hs = self.digest_size
        data = pack.data
        mm = data._mmap
        max_size = data.max_object_size
        note_read = getattr(data, "note_read", lambda n: None)
        lay = _layout(pack)            # the pack's tables, shared with pack writing
        bo = lay.by_offset()
        ids = bo.ids                   # hex ids in pack order
        offs = bo.offs                 # their offsets, then the end of the entries
        kids: dict[int, list] = {}
        where, bases = lay.ofs_bases()
        for k, b in zip(where, bases):
            got = kids.get(b)
            if got is None:
                kids[b] = [k]
            else:
                got.append(k)
        for k in bo.refs:
            b = lay.position(lay.ref_base(k))
            if b is not None:
                kids.setdefault(b, []).append(k)

        def inflate(i: int) -> bytes:
            _, size, _, pos = parse_entry_header(mm, offs[i], hs)
            if size > max_size:
                raise PuregitError("object too large")
            stop = offs[i + 1]
            out = zlib.decompress(mm[pos:stop], 15, size or 1)
            note_read(stop - pos)   # pages read in pack order leave the RSS as we go
            if len(out) != size:
                raise PuregitError("entry size mismatch")
            return out

        types = bo.types
        pack_no = len(self._inflaters)
        self._inflaters.append(inflate)

        commits = self.commits

        def family(i: int) -> None:
            if types[i] == 2 and i not in kids:
                # A whole tree that is nobody's base: the walker reads it, if
                # it is reached at all (a malformed one is reported then).
                self.full.setdefault(unhexlify(ids[i]), (pack_no, i))
                return
            try:
                body = inflate(i)
            except (zlib.error, PuregitError):
                return
            if types[i] == 1:
                if i in kids:
                    self._commit_family(i, body, kids, ids, inflate, max_size)
                    return
                try:   # most commits are whole and nobody's delta base
                    tree, parents = commit_tree_and_parents(body)
                except (PuregitError, ValueError):
                    return
                if ids[i] not in commits:
                    commits[ids[i]] = (tree, parents, None)
            else:
                self._tree_family(i, body, kids, ids, inflate, max_size, pack_no)

        roots = [m.start() for m in _FULL_COMMIT_OR_TREE.finditer(types)]
        if parallel and len(roots) >= PARALLEL_MIN_ROOTS and _cores() > 1:
            meet = _Meeting(len(roots))
            got = _in_child(lambda: meet.take_from_end(roots, family),
                            lambda: (self.trees, self.commits, self.full),
                            lambda: meet.take_from_start(roots, family))
            if got is not None:
                # Families are disjoint; one both sides took has equal results.
                trees, commits, full = got
                self.full.update(full)
                self.trees.update(trees)
                self.commits.update(commits)
                return
            roots = roots[meet.parent_done:]   # the child failed: do the rest here
        for i in roots:
            family(i)

    def _commit_family(self, i, body, kids, shas, inflate, max_size) -> None:
        commits = self.commits
        stack = [(i, body)]
        while stack:
            j, body = stack.pop()
            try:
                tree, parents = commit_tree_and_parents(body)
                commits.setdefault(shas[j], (tree, parents, None))
            except (PuregitError, ValueError):
                pass
            if len(stack) > _MAX_DEPTH:
                return
            for k in kids.get(j, ()):
                try:
                    stack.append((k, apply_delta(body, inflate(k), max_size)))
                except (zlib.error, PuregitError):
                    continue

    def _tree_family(self, i, body, kids, shas, inflate, max_size, pack_no=0) -> None:
        """Resolve a full tree's delta family depth-first, scanning each tree against its base."""
        trees = self.trees
        known = self._full(body)
        if known is not None:   # where it is, not its body: the walker inflates it again
            self.full.setdefault(unhexlify(shas[i]), (pack_no, i))
        # frame: [body, entry starts (None if malformed), binary id, children, next child]
        stack = [[body, known, unhexlify(shas[i]), kids.get(i, ()), 0]]
        held = len(body)
        while stack:
            frame = stack[-1]
            children = frame[3]
            k = frame[4]
            if k >= len(children):
                stack.pop()
                held -= len(frame[0])
                continue
            frame[4] = k + 1
            child = children[k]
            runs: list = []
            try:
                result = apply_delta(frame[0], inflate(child), max_size, runs)
            except (zlib.error, PuregitError):
                continue
            base_known = frame[1]
            has_kids = child in kids
            if base_known is not None and len(result) <= 0xFFFFFFFF:
                got = self._against(result, runs, base_known, has_kids)
                starts = None
                if got is not None:
                    starts, new = got
                    trees.setdefault(unhexlify(shas[child]), (frame[2], new))
            else:
                starts = self._full(result)
            if has_kids:
                if held + len(result) > _MAX_HELD or len(stack) > _MAX_DEPTH:
                    continue   # too much in hand: its deltas are read the ordinary way
                stack.append([result, starts, unhexlify(shas[child]), kids[child], 0])
                held += len(result)

    def _full(self, body: bytes) -> Optional[array]:
        """Entry starts (and the end) of a tree, or None if it does not parse."""
        if len(body) > 0xFFFFFFFF:
            return None
        starts = array("I", accumulate(map(len, self._whole.findall(body)), initial=0))
        return starts if starts[-1] == len(body) else None

    def _against(self, body: bytes, runs: list, known: array, keep: bool = True):
        """(entry starts, raw entries not copied whole from the base), or None if malformed.

        ``keep``: whether the entry starts are wanted (for the tree's own deltas).
        """
        starts, pieces = split_against_base(body, runs, known, self._whole.match, keep)
        if starts is None:
            return None
        return starts, b"".join([m.group() for m in pieces if m.__class__ is not tuple])


PARALLEL_MIN_ROOTS = 4000   # delta families below which forking costs more than it saves


class _Meeting:
    """Two processes share a list of families: the parent from the start, the child from the end.

    Families differ a lot in cost and a forked child runs slower than its
    parent, so a fixed split leaves one side waiting.  Instead each side
    publishes, in a shared anonymous mapping, the index it is about to take,
    and stops once the other side has taken a *lower* (child) or *higher*
    (parent) one.  With strict comparisons every index is taken by at least
    one side; a stale read only makes both take the same family, whose
    results are then equal.
    """

    def __init__(self, n: int) -> None:
        import mmap
        self.n = n
        # Whole aligned 8-byte cells, written and read with one machine move
        # each (``struct.pack_into`` zeroes before it writes: a reader could
        # see the zero).
        self.claims = memoryview(mmap.mmap(-1, 16)).cast("q")
        self.claims[0] = -1     # the parent's claim
        self.claims[1] = n      # the child's claim
        self.parent_done = 0

    def take_from_start(self, roots: list, work) -> None:
        claims = self.claims
        for k, root in enumerate(roots):
            claims[0] = k
            if claims[1] < k:
                break          # the child has done this one and everything after
            work(root)
            self.parent_done = k + 1

    def take_from_end(self, roots: list, work) -> None:
        claims = self.claims
        for k in range(len(roots) - 1, -1, -1):
            claims[1] = k
            if claims[0] > k:
                break          # the parent has done this one and everything before
            work(roots[k])
# The child's share of the families, as slots of every five: 2 of 5.  A forked
# child runs slower (copy-on-write faults) and must send its result back, so
# an even split left the parent waiting ~0.1 s of a 0.3 s build (measured on
# dulwich: parent 0.19 s, child 0.24 s + transfer).
_CHILD_SLOTS = (1, 3)


def _full_body(graph: PackGraph, binsha: bytes) -> Optional[bytes]:
    """A full tree of the graph's packs, inflated again; None if not one (or unreadable)."""
    loc = graph.full.get(binsha)
    if loc is None:
        return None
    try:
        return graph._inflaters[loc[0]](loc[1])
    except (zlib.error, PuregitError):
        return None


class PackGraphTreeWalker(TreeWalker):
    """``TreeWalker`` for unfiltered walks that reads trees from a :class:`PackGraph`.

    Callers must exhaust :meth:`flush` after their last ``walk``: it walks
    in full the trees whose delta base was never reached.
    """

    def __init__(self, graph: PackGraph, get_raw, digest_size: int = 20, reader=None,
                 seen: Optional[set] = None) -> None:
        super().__init__(get_raw, digest_size, reader, seen)
        self.graph = graph
        self._deferred: list = []
        self._parse = _entry_re(digest_size)[0].findall

    def _walk_all(self, tree: bytes, path: bytes):
        out: list = []
        self.walk_into(tree, path, out)
        return iter(out)

    def walk_into(self, tree: bytes, path: bytes, out: list) -> None:
        """The unfiltered walk below ``tree``, appended to ``out`` (see ``walk``)."""
        append = out.append
        trees = self.graph.trees
        seen = self.seen
        parse = self._parse
        dirs = _DIR_MODES
        gitlinks = _GITLINK_MODES
        deferred = self._deferred
        stack = [(tree, path)]
        while stack:
            binsha, base_path = stack.pop()
            info = trees.get(binsha)
            if info is None:
                raw = _full_body(self.graph, binsha)
                if raw is None:
                    raw = self.read_tree(binsha, None, False)[0]
                entries = self._entries(raw)
            else:
                base, raw = info
                if base is not None and base not in seen:
                    deferred.append((binsha, base_path))
                entries = parse(raw)
            prefix = base_path + b"/" if base_path else b""
            subtrees = []
            for mode, name, child in entries:
                if child in seen or mode in gitlinks:
                    continue
                seen.add(child)
                if mode in dirs:
                    append((hexlify(child), TREE, prefix + name))
                    subtrees.append((child, prefix + name))
                else:
                    append((hexlify(child), BLOB, prefix + name))
            if subtrees:
                stack.extend(reversed(subtrees))

    def _entries(self, body: bytes) -> list:
        from .graph import parse_tree_entries
        return parse_tree_entries(body, self.digest_size)

    def flush(self) -> Iterator[tuple[bytes, int, bytes]]:
        """Walk whole the trees whose delta base is not reachable after all."""
        seen = self.seen
        trees = self.graph.trees
        while self._deferred:
            pending, self._deferred = self._deferred, []
            for binsha, path in pending:
                if trees[binsha][0] in seen:
                    continue   # the base was reached later: its entries are walked
                body = self.read_tree(binsha, None, False)[0]
                prefix = path + b"/" if path else b""
                for mode, name, child in self._entries(body):
                    if child in seen or mode in _GITLINK_MODES:
                        continue
                    seen.add(child)
                    if mode in _DIR_MODES:
                        yield hexlify(child), TREE, prefix + name
                        walked: list = []
                        self.walk_into(child, prefix + name, walked)
                        yield from walked
                    else:
                        yield hexlify(child), BLOB, prefix + name
