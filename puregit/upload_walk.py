"""Which objects upload-pack sends: commit graph, shallow boundaries, filters.

Everything here is a function of an object store (``get_raw``) and ids; no
I/O besides reading objects.  The walk follows ``git rev-list --objects``:

* commits are walked newest first with UNINTERESTING marks propagated from
  the client's ``have``\\s, stopping once only uninteresting commits are
  left (plus a little slop for clock skew), so an incremental fetch reads a
  few commits, not the whole history;
* the trees of uninteresting parents of sent commits ("edges") are marked
  seen first, so unchanged subtrees and blobs are not sent again; the ids
  found there are also the bases a thin pack may delta against;
* shallow commits are sent without their parents;
* a partial-clone filter (:class:`ObjectFilter`) decides which trees and
  blobs are sent and how deep trees are walked.

Trees and blobs are walked by ``graph.TreeWalker`` (shared with
``graph.ReachabilityWalker``); this module picks the commits and the edges.
"""

from __future__ import annotations

import heapq
from binascii import hexlify, unhexlify
from itertools import chain
from typing import Callable, Iterable, Iterator, Optional
from urllib.parse import unquote_to_bytes

from .errors import MissingObjectError, ObjectFormatError, ServerError
from .graph import (COMMIT, TREE, BLOB, TAG, TreeWalker, commit_time, commit_tree_and_parents,
                    parse_tree_entries, tag_target, _DIR_MODES, _GITLINK_MODES)

__all__ = ["CommitGraph", "ObjectFilter", "FilterError", "ObjectWalk", "INFINITE_DEPTH"]

INFINITE_DEPTH = 0x7FFFFFFF
_SLOP = 5
_TYPE_BY_NAME = {b"commit": COMMIT, b"tree": TREE, b"blob": BLOB, b"tag": TAG}


class FilterError(ServerError):
    """A filter spec is malformed or not supported."""


class CommitGraph:
    """Cached (tree, parents, commit time) per commit; parsed once per request."""

    def __init__(self, get_raw: Callable[[bytes], tuple]) -> None:
        self.get_raw = get_raw
        self._info: dict[bytes, tuple[bytes, list, int]] = {}
        #: a ``pack.PackedObjectReader`` over the store's packs, set by the first
        #: ObjectWalk that has one: a clone reads every commit, faster through it
        self.reader = None

    def _read(self, sha: bytes) -> tuple[int, bytes]:
        reader = self.reader
        if reader is not None:
            try:
                got = reader.get_raw(unhexlify(sha))
            except (ValueError, TypeError):   # not a hex id: let get_raw judge it
                got = None
            if got is not None:
                return got
        try:
            return self.get_raw(sha)
        except KeyError:
            raise MissingObjectError(sha) from None

    def info(self, sha: bytes) -> tuple[bytes, list, Optional[int]]:
        """(tree, parents, time or None: ask :meth:`time`)."""
        got = self._info.get(sha)
        if got is None:
            type_num, body = self._read(sha)
            if type_num != COMMIT:
                raise ObjectFormatError(f"{sha!r} is not a commit")
            tree, parents = commit_tree_and_parents(body)
            got = (tree, parents, commit_time(body))
            self._info[sha] = got
        return got

    def forget(self) -> None:
        """Drop what was cached (it is read again if asked): a pack is about to stream."""
        self._info = {}
        self.reader = None

    def parents(self, sha: bytes) -> list:
        return self.info(sha)[1]

    def time(self, sha: bytes) -> int:
        got = self.info(sha)
        if got[2] is None:   # known from a pack graph, which leaves the time out
            type_num, body = self._read(sha)
            got = (got[0], got[1], commit_time(body))
            self._info[sha] = got
        return got[2]

    def peel(self, sha: bytes) -> tuple[bytes, int]:
        """Follow tags: (id, type) of the first non-tag object."""
        for _ in range(64):
            type_num, body = self._read(sha)
            if type_num != TAG:
                if type_num == COMMIT and sha not in self._info:
                    tree, parents = commit_tree_and_parents(body)
                    self._info[sha] = (tree, parents, commit_time(body))
                return sha, type_num
            sha = tag_target(body)[0]
        raise ObjectFormatError("tag chain too long")

    def is_reachable(self, targets: set, tips: Iterable[bytes], min_time: int = 0,
                     stop: Optional[set] = None) -> set:
        """Which of ``targets`` are reachable from ``tips`` (commits only).

        Commits older than ``min_time`` are not walked through (cgit uses the
        same cutoff; commit times are only a heuristic there too).
        """
        found = set()
        seen = set()
        stack = list(tips)
        while stack and len(found) < len(targets):
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            if c in targets:
                found.add(c)
            if stop is not None and c in stop:
                continue
            try:
                parents = self.parents(c)
                t = self.time(c)
            except (MissingObjectError, ObjectFormatError):
                continue
            if t < min_time:
                continue
            stack.extend(parents)
        return found


# --- filters ---------------------------------------------------------------

class ObjectFilter:
    """A parsed ``--filter`` spec: ``blob:none``, ``blob:limit=N[kmg]``,
    ``tree:DEPTH``, ``object:type=T`` or ``combine:A+B`` (parts %-encoded).

    ``type_ok(type)``, ``blob_ok(size_fn, depth)`` and ``tree_ok(depth)`` say
    whether an object is sent and whether trees at ``depth`` are entered;
    ``tree_depth`` is None unless those depend on depth.  That is the filter
    protocol of ``graph.TreeWalker.walk``.
    """

    def __init__(self, spec: bytes, max_tree_depth: Optional[int] = None) -> None:
        self.spec = spec
        self.blob_none = False
        self.blob_limit: Optional[int] = None
        self.tree_depth: Optional[int] = None
        self.types: Optional[set] = None
        self.kinds: list[str] = []
        self._parse(spec, max_tree_depth, top=True)

    def _parse(self, spec: bytes, max_tree_depth, top: bool) -> None:
        if top and spec.startswith(b"combine:"):
            parts = spec[8:].split(b"+")
            if not spec[8:] or not all(parts):
                raise FilterError(f"invalid filter-spec '{_s(spec)}'")
            for p in parts:
                sub = unquote_to_bytes(p)
                if sub.startswith(b"combine:"):
                    raise FilterError(f"invalid filter-spec '{_s(spec)}'")
                self._parse(sub, max_tree_depth, top=False)
            self.kinds.append("combine")
            return
        if spec == b"blob:none":
            self.blob_none = True
            self.kinds.append("blob:none")
        elif spec.startswith(b"blob:limit="):
            n = _parse_size(spec[11:])
            if n is None:
                raise FilterError(f"invalid filter-spec '{_s(spec)}'")
            self.blob_limit = n if self.blob_limit is None else min(self.blob_limit, n)
            self.kinds.append("blob:limit")
        elif spec.startswith(b"tree:"):
            d = spec[5:]
            if not d.isdigit() or len(d) > 10 or (max_tree_depth is not None
                                                  and int(d) > max_tree_depth):
                raise FilterError("expected 'tree:<depth>'")
            n = int(d)
            self.tree_depth = n if self.tree_depth is None else min(self.tree_depth, n)
            self.kinds.append("tree")
        elif spec.startswith(b"object:type="):
            t = _TYPE_BY_NAME.get(spec[12:])
            if t is None:
                raise FilterError(f"invalid filter-spec '{_s(spec)}'")
            self.types = {t} if self.types is None else self.types & {t}
            self.kinds.append("object:type")
        elif spec.startswith(b"sparse:"):
            raise FilterError(f"filter '{_s(spec.partition(b'=')[0])}' not supported")
        else:
            raise FilterError(f"invalid filter-spec '{_s(spec)}'")

    def needs_trees(self) -> bool:
        return self.tree_depth is None or self.tree_depth > 0 or \
            (self.types is not None and self.types & {TREE, BLOB} != set())

    def type_ok(self, type_num: int) -> bool:
        return self.types is None or type_num in self.types

    def blob_ok(self, size_fn: Callable[[], int], depth: int) -> bool:
        if self.blob_none or not self.type_ok(BLOB):
            return False
        if self.tree_depth is not None and depth >= self.tree_depth:
            return False
        if self.blob_limit is not None and size_fn() >= self.blob_limit:
            return False
        return True

    def tree_ok(self, depth: int) -> bool:
        if self.tree_depth is not None and depth >= self.tree_depth:
            return False
        return True


def _s(b: bytes) -> str:
    return b[:200].decode("utf-8", "replace")


def _parse_size(text: bytes) -> Optional[int]:
    mult = 1
    if text[-1:].lower() in (b"k", b"m", b"g"):
        mult = {b"k": 1 << 10, b"m": 1 << 20, b"g": 1 << 30}[text[-1:].lower()]
        text = text[:-1]
    if not text.isdigit() or len(text) > 18:
        return None
    return int(text) * mult


# --- the walk ----------------------------------------------------------------

_BATCH = 4096   # items per list handed out by ObjectWalk.batches


class ObjectWalk:
    """Objects reachable from ``wants`` minus those reachable from ``haves``.

    Iterate to get ``(hex id, type, path)``; afterwards ``sent_commits`` holds
    the commits sent and ``edge_objects`` the ids the client is known to have
    (possible thin-pack bases).  ``shallow`` commits are sent without parents;
    ``have_shallow`` limits the walk of the client's side the same way.
    """

    def __init__(self, store, graph: CommitGraph, wants: Iterable[bytes],
                 haves: Iterable[bytes] = (), shallow: Iterable[bytes] = (),
                 object_filter: Optional[ObjectFilter] = None,
                 blob_size: Optional[Callable[[bytes], int]] = None) -> None:
        self.store = store
        self.graph = graph
        self.wants = list(dict.fromkeys(wants))
        self.haves = list(dict.fromkeys(haves))
        self.shallow = set(shallow)
        self.filter = object_filter
        self.blob_size = blob_size or (lambda sha: len(store.get_raw(sha)[1]))
        self.digest = store.hash_algo.digest_size
        self.sent_commits: list = []
        self.edge_objects: set = set()
        self.count = 0

    # -- commits
    def _walk_commits(self, tips: list, have_commits: list) -> tuple[list, set, set]:
        """Date-ordered walk; returns (interesting commits, uninteresting set, edges)."""
        g = self.graph
        shallow = self.shallow
        if not have_commits:
            # A clone: no marks to propagate, a plain depth-first walk will do.
            out = []
            seen = set()
            stack = list(reversed(tips))
            while stack:
                c = stack.pop()
                if c in seen:
                    continue
                seen.add(c)
                out.append(c)
                if c in shallow:
                    continue
                for p in reversed(g.parents(c)):
                    if p not in seen:
                        stack.append(p)
            return out, set(), set()

        uninteresting: set = set()
        processed: set = set()
        queued: set = set()
        heap: list = []
        live: set = set()   # queued and not (yet) uninteresting
        seq = 0

        def push(c):
            nonlocal seq
            if c in queued:
                return
            try:
                t = g.time(c)
            except (MissingObjectError, ObjectFormatError):
                if c in uninteresting:
                    return
                raise
            queued.add(c)
            seq += 1
            heapq.heappush(heap, (-t, seq, c))
            if c not in uninteresting:
                live.add(c)

        def mark(c):
            stack = [c]
            while stack:
                x = stack.pop()
                if x in uninteresting:
                    continue
                uninteresting.add(x)
                live.discard(x)
                if x in processed and x not in shallow:
                    try:
                        stack.extend(g.parents(x))
                    except (MissingObjectError, ObjectFormatError):
                        pass

        for h in have_commits:
            mark(h)
            push(h)
        for c in tips:
            push(c)
        out = []
        slop = _SLOP
        while heap:
            if not live:
                slop -= 1
                if slop <= 0:
                    break
            _, _, c = heapq.heappop(heap)
            live.discard(c)
            processed.add(c)
            if c in uninteresting:
                if c in shallow:
                    continue
                try:
                    parents = g.parents(c)
                except (MissingObjectError, ObjectFormatError):
                    continue  # the client side may end at our shallow boundary
                for p in parents:
                    mark(p)
                    push(p)
                continue
            out.append(c)
            if c in shallow:
                continue
            for p in g.parents(c):
                push(p)
        interesting = [c for c in out if c not in uninteresting]
        edges = set()
        for c in interesting:
            if c in shallow:
                continue
            for p in g.parents(c):
                if p in uninteresting:
                    edges.add(p)
        return interesting, uninteresting, edges

    # -- trees
    def _raw(self, sha: bytes):
        try:
            return self.store.get_raw(sha)
        except KeyError:
            raise MissingObjectError(sha) from None

    def _tree_walker(self, seen: set) -> TreeWalker:
        """The shared tree walk (graph.TreeWalker), reading packs directly when the store has them.

        A walk of everything (a clone: no haves, shallow or filter) reads the
        packs' commits and trees in pack order first (see pack_graph).
        """
        reader = None
        packs = getattr(self.store, "_walk_packs", None)
        packs = packs() if packs is not None else None
        if packs:
            from .pack import PackedObjectReader
            reader = PackedObjectReader(packs)
            if not self.haves and not self.shallow and self.filter is None:
                from .pack_graph import PackGraph, PackGraphTreeWalker
                graph = PackGraph.build(packs, self.digest, parallel=True)
                if graph is not None:
                    info = self.graph._info
                    for sha, got in graph.commits.items():
                        info.setdefault(sha, got)
                    return PackGraphTreeWalker(graph, self.store.get_raw, self.digest, reader, seen)
        return TreeWalker(self.store.get_raw, self.digest, reader, seen)

    def __iter__(self) -> Iterator[tuple[bytes, int, Optional[bytes]]]:
        return chain.from_iterable(self.batches())

    def batches(self) -> Iterator[list]:
        """The walk's ``(hex id, type, path)`` items, in lists of a few thousand.

        A clone walks tens of thousands of objects: handing them over a list
        at a time costs far less than a generator step per object, and the
        caller still gets control often enough for keepalives.
        """
        out: list = []
        g = self.graph
        flt = self.filter
        seen: set = set()       # hex ids of tags and commits
        seen_bin: set = set()   # binary ids of trees and blobs
        trees = self._tree_walker(seen_bin)
        if g.reader is None and trees.reader is not None and g.get_raw == self.store.get_raw:
            g.reader = trees.reader
        tips, roots = [], []
        for w in self.wants:
            sha = w
            for _ in range(64):
                type_num, body = self._raw(sha)
                if type_num != TAG:
                    break
                if sha not in seen:   # wanted tags are sent whatever the filter
                    seen.add(sha)
                    out.append((sha, TAG, None))
                sha = tag_target(body)[0]
            if type_num == COMMIT:
                tips.append(sha)
            else:
                roots.append((sha, type_num))
        have_commits = []
        for h in self.haves:
            try:
                sha, type_num = g.peel(h)
            except (MissingObjectError, ObjectFormatError):
                continue
            if type_num == COMMIT:
                have_commits.append(sha)
            elif type_num == TREE:
                trees.mark(unhexlify(sha))
            else:
                seen_bin.add(unhexlify(sha))
        commits, _, edges = self._walk_commits(tips, have_commits)
        for e in edges:
            try:
                trees.mark(unhexlify(g.info(e)[0]))
            except MissingObjectError:
                pass
        self.edge_objects = {hexlify(b) for b in seen_bin}
        self.sent_commits = commits
        if flt is None or flt.type_ok(COMMIT):
            out.extend([(c, COMMIT, None) for c in commits])
        depth_of = {} if flt is not None and flt.tree_depth is not None else None
        for sha, type_num in roots:  # explicitly wanted trees and blobs are always sent
            b = unhexlify(sha)
            if b in seen_bin:
                continue
            seen_bin.add(b)
            out.append((sha, type_num, b""))
            if type_num == TREE and (flt is None or flt.tree_ok(1)):
                out.extend(trees.walk(b, b"", flt, self.blob_size, depth_of))
        if flt is not None and not flt.needs_trees():
            yield out
            return
        walk_into = getattr(trees, "walk_into", None) if flt is None else None
        for c in commits:
            tree = unhexlify(g.info(c)[0])
            if tree in seen_bin:
                if depth_of is None or depth_of.get(tree, -1) <= 0:
                    continue
            first = tree not in seen_bin
            seen_bin.add(tree)
            if flt is not None:
                if not flt.tree_ok(0):
                    continue
                if depth_of is not None:
                    depth_of[tree] = 0
                if first and flt.type_ok(TREE):
                    out.append((hexlify(tree), TREE, b""))
            else:
                out.append((hexlify(tree), TREE, b""))
            if walk_into is not None:
                walk_into(tree, b"", out)
            else:
                out.extend(trees.walk(tree, b"", flt, self.blob_size, depth_of))
            if len(out) >= _BATCH:
                yield out
                out = []
        out.extend(trees.flush())
        yield out


def shallow_boundary(graph: CommitGraph, wants: Iterable[bytes], depth: int,
                     stop: set = frozenset()) -> tuple[list, set]:
    """cgit's ``get_shallow_commits``: (new shallow commits, not-shallow set).

    Commits closer than ``depth`` to a want are not shallow; those at
    distance ``depth - 1`` become the boundary.  ``stop`` commits (the
    server's own shallow boundary) end the walk.
    """
    dist: dict = {}
    frontier = []
    for w in wants:
        if w not in dist:
            dist[w] = 0
            frontier.append(w)
    not_shallow: set = set()
    boundary: list = []
    d = 0
    while frontier:
        nxt = []
        for c in frontier:
            if d + 1 >= depth or c in stop:
                boundary.append(c)
                continue
            not_shallow.add(c)
            for p in graph.parents(c):
                if p not in dist:
                    dist[p] = d + 1
                    nxt.append(p)
        frontier = nxt
        d += 1
    return [b for b in boundary if b not in not_shallow], not_shallow


def commits_since(graph: CommitGraph, wants: Iterable[bytes], since: int,
                  not_reachable_from: Iterable[bytes] = ()) -> tuple[list, set]:
    """``deepen-since``/``deepen-not``: (boundary commits, kept non-boundary commits).

    Commits newer than ``since`` and not reachable from the ``deepen-not``
    commits are kept; a kept commit with a parent that is not kept is a
    boundary (sent as shallow), as ``rev-list --boundary`` finds them.
    """
    excluded: set = set()
    stack = list(not_reachable_from)
    while stack:
        c = stack.pop()
        if c in excluded:
            continue
        excluded.add(c)
        try:
            stack.extend(graph.parents(c))
        except MissingObjectError:
            pass
    kept: set = set()
    stack = [w for w in wants if w not in excluded and graph.time(w) >= since]
    while stack:
        c = stack.pop()
        if c in kept:
            continue
        kept.add(c)
        for p in graph.parents(c):
            if p not in kept and p not in excluded and graph.time(p) >= since:
                stack.append(p)
    boundary = [c for c in kept if any(p not in kept for p in graph.parents(c))]
    return boundary, kept - set(boundary)


# --- clones from a reachability bitmap ----------------------------------------

class BitmapPlan:
    """What a clone sends, computed from a ``.bitmap`` instead of a full walk.

    ``entries`` are (hex id, type, path) for the pack writer; ``whole_pack``
    is true when they are exactly the bitmapped pack's objects, which can then
    be streamed verbatim; ``sent`` answers "is this hex id in the pack?".
    """

    def __init__(self, bitmap, bits: int, extras: dict) -> None:
        self.bitmap = bitmap
        self.bits = bits
        self.extras = extras
        self.whole_pack = not extras and bits == (1 << bitmap.num_objects) - 1
        self._entries: Optional[list] = None

    @property
    def count(self) -> int:
        return bin(self.bits).count("1") + len(self.extras)

    @property
    def entries(self) -> list:
        if self._entries is None:
            from .bitmap import bits_to_positions
            ids = self.bitmap.ids
            out = []
            for t, tbits in zip((COMMIT, TREE, BLOB, TAG), self.bitmap.types):
                out.extend((hexlify(ids[p]), t, None)
                           for p in bits_to_positions(self.bits & tbits))
            out.extend((h, t, path) for h, (t, path) in self.extras.items())
            self._entries = out
        return self._entries

    def contains(self, hexid: bytes) -> bool:
        if hexid in self.extras:
            return True
        pos = self.bitmap.pos_of.get(unhexlify(hexid))
        return pos is not None and bool(self.bits >> pos & 1)


def bitmap_plan(store, graph: CommitGraph, wants: Iterable[bytes]) -> Optional[BitmapPlan]:
    """Objects reachable from ``wants`` using the first pack that has a bitmap.

    Commits newer than the bitmapped ones (and objects outside that pack) are
    walked the usual way; returns None when no bitmap is available.
    """
    from .bitmap import load_bitmap
    bm = None
    for pack in getattr(store, "packs", ()):
        bm = load_bitmap(pack)
        if bm is not None:
            break
    if bm is None:
        return None
    pos_of = bm.pos_of
    bits = 0
    new_pos: set = set()
    extras: dict = {}
    stack = []
    root_trees = []
    for w in wants:
        sha = w
        for _ in range(64):
            type_num, body = graph.get_raw(sha)
            if type_num != TAG:
                break
            p = pos_of.get(unhexlify(sha))
            if p is None:
                extras[sha] = (TAG, None)
            else:
                new_pos.add(p)
            sha = tag_target(body)[0]
        if type_num == COMMIT:
            stack.append(sha)
        elif type_num == TREE:
            root_trees.append(sha)   # e.g. a tag of a tree: walked below
        elif type_num == BLOB:
            p = pos_of.get(unhexlify(sha))
            if p is None:
                extras[sha] = (BLOB, b"")
            else:
                new_pos.add(p)
    trees = list(root_trees)
    seen = set()
    rest = []
    for c in stack:   # tips with a bitmap first: they cover most of the history
        got = bm.get(unhexlify(c))
        if got is not None:
            bits |= got
        else:
            rest.append(c)
    stack = rest
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        cb = unhexlify(c)
        p = pos_of.get(cb)
        if p is not None and bits >> p & 1:
            continue
        got = bm.get(cb)
        if got is not None:
            bits |= got
            continue
        if p is None:
            extras[c] = (COMMIT, None)
        else:
            new_pos.add(p)
        tree, parents, _ = graph.info(c)
        trees.append(tree)
        stack.extend(parents)
    if new_pos:
        bits |= sum(1 << p for p in new_pos)
    # trees of commits outside the bitmaps: skip whatever the bitmaps cover
    digest = store.hash_algo.digest_size
    todo = []
    for t in trees:
        tb = unhexlify(t)
        p = pos_of.get(tb)
        if p is not None:
            if bits >> p & 1 or p in new_pos:
                continue
            new_pos.add(p)
        elif t in extras:
            continue
        else:
            extras[t] = (TREE, b"")
        todo.append((tb, b""))
    added = set()
    while todo:
        tb, base = todo.pop()
        type_num, body = store.get_raw(hexlify(tb))
        for mode, name, child in parse_tree_entries(body, digest):
            if mode in _GITLINK_MODES:
                continue
            p = pos_of.get(child)
            if p is not None:
                if p in added or bits >> p & 1:
                    continue
                added.add(p)
            else:
                h = hexlify(child)
                if h in extras:
                    continue
                path = base + b"/" + name if base else name
                extras[h] = (TREE if mode in _DIR_MODES else BLOB, path)
            if mode in _DIR_MODES:
                todo.append((child, base + b"/" + name if base else name))
    if added:
        bits |= sum(1 << p for p in added)
    if new_pos:
        bits |= sum(1 << p for p in new_pos)
    return BitmapPlan(bm, bits, extras)
