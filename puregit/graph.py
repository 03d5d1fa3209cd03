"""Reachability walks over an object store.

The walk reads raw object bodies through a ``get_raw(hex_id) -> (type_num,
bytes)`` function and parses only what it needs (a commit's tree and parents,
a tree's entries), so it works the same over memory, loose and packed stores.
Each object is visited once.
"""

from __future__ import annotations

import binascii
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from itertools import accumulate, chain, compress
from operator import itemgetter, not_
from typing import Callable, Iterable, Iterator, Optional

from .delta import delta_copy_runs
from .errors import MissingObjectError, ObjectFormatError
from .hashes import SHA1, HashAlgorithm

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
GITLINK_MODE = 0o160000
DIR_MODE = 0o40000

GetRaw = Callable[[bytes], "tuple[int, bytes]"]


def commit_tree_and_parents(body: bytes) -> tuple[bytes, list[bytes]]:
    """Read just ``tree`` and ``parent`` headers of a commit body (fast path)."""
    if body[:5] != b"tree ":
        raise ObjectFormatError("commit does not start with a tree header")
    nl = body.find(b"\n")
    tree = body[5:nl]
    parents = []
    pos = nl + 1
    while body.startswith(b"parent ", pos):
        nl = body.find(b"\n", pos)
        if nl < 0:
            raise ObjectFormatError("truncated parent header")
        parents.append(body[pos + 7:nl])
        pos = nl + 1
    return tree, parents


def commit_time(body: bytes) -> int:
    """The committer time of a commit body (0 when unreadable)."""
    at = body.find(b"\ncommitter ")
    if at < 0:
        return 0
    nl = body.find(b"\n", at + 1)
    line = body[at + 11:nl]
    gt = line.rfind(b">")
    try:
        return int(line[gt + 1:].split()[0])
    except (ValueError, IndexError):
        return 0


def tag_target(body: bytes) -> tuple[bytes, bytes]:
    """(hex id, type name) of the object a tag body points at."""
    if body[:7] != b"object ":
        raise ObjectFormatError("tag does not start with an object header")
    nl = body.find(b"\n")
    target = body[7:nl]
    tl = body.find(b"\n", nl + 1)
    line = body[nl + 1:tl]
    if line[:5] != b"type ":
        raise ObjectFormatError("tag lacks a type header")
    return target, line[5:]


_ENTRY_RE = {}


def _entry_re(digest_size: int):
    """Regexes for one tree entry: with groups (mode, name, binary id), and whole."""
    pats = _ENTRY_RE.get(digest_size)
    if pats is None:
        pats = (re.compile(rb"([0-7]+) ([^\0]+)\0(.{%d})" % digest_size, re.S),
                re.compile(rb"[0-7]+ [^\0]+\0.{%d}" % digest_size, re.S))
        _ENTRY_RE[digest_size] = pats
    return pats


def parse_tree_entries(body: bytes, digest_size: int = 20) -> list[tuple[bytes, bytes, bytes]]:
    """(mode text, name, binary id) for every entry, parsed in C by one regex.

    ``findall`` would silently skip malformed stretches, so the matches must
    tile the body: their lengths (each field plus the space and the NUL)
    must add up to the body's length.  An entry's match from its first byte
    is unique, so tiling matches are exactly what an anchored parse finds.
    """
    entries = _entry_re(digest_size)[0].findall(body)
    if sum(map(len, chain.from_iterable(entries))) + 2 * len(entries) != len(body):
        raise ObjectFormatError("malformed tree")
    return entries


def iter_tree_entries(body: bytes, digest_size: int = 20) -> Iterator[tuple[int, bytes]]:
    """Yield (mode, hex id) for each entry of a tree body without building objects."""
    hexlify = binascii.hexlify
    for mode, _, sha in parse_tree_entries(body, digest_size):
        yield int(mode, 8), hexlify(sha)


def iter_tree_entries_named(body: bytes, digest_size: int = 20) -> Iterator[tuple[bytes, int, bytes]]:
    """Yield (name, mode, hex id) for each tree entry."""
    hexlify = binascii.hexlify
    for mode, name, sha in parse_tree_entries(body, digest_size):
        yield name, int(mode, 8), hexlify(sha)


_DIR_MODES = frozenset((b"40000", b"040000"))
_GITLINK_MODES = frozenset((b"160000",))


class TreeScanner:
    """Finds, tree by tree, the entries whose objects a walk has not seen yet.

    After a tree is scanned, every object it names is in ``seen`` (gitlinks
    aside: they are never followed).  Most packed trees are deltas of another
    tree, and a stretch the delta copies from its base is, byte for byte, a
    run of the base's entries: when the base was scanned earlier those
    entries cannot name anything new, so only the few entries around
    inserted bytes are parsed and looked up.  The same holds the other way
    round (a base scanned after one of its delta children).  To find entry
    boundaries inside copied stretches the entry offsets of recently scanned
    trees are kept, up to ``budget`` entries (4 bytes each).  Two deltas of
    one unscanned base are compared through it.  Walking git.git's history
    (16.5M tree entries) this parses about a tenth of the entries.
    """

    def __init__(self, seen: set, digest_size: int = 20, budget: int = 1 << 22) -> None:
        self.seen = seen
        self.digest_size = digest_size
        self._entry = _entry_re(digest_size)[1]
        self._starts: OrderedDict = OrderedDict()  # key -> array of entry starts + end
        self._held = 0
        self._budget = budget
        self._pending: dict = {}  # base key -> (key, delta) of a child scanned first

    def scan(self, body: bytes, key=None, base_key=None, delta: Optional[bytes] = None
             ) -> list[tuple[bytes, bytes, bytes]]:
        """(mode, name, binary id) of entries naming unseen objects, in tree order.

        Those objects are added to ``seen``.  ``key`` identifies where the
        tree is stored, ``base_key``/``delta`` the base and delta it was built
        from (see ``pack.PackedObjectReader``); without them the tree is
        parsed in full.  Raises ObjectFormatError for a malformed tree.
        """
        ref = None
        if len(body) > 0xFFFFFFFF:  # offsets are kept as 32-bit numbers
            return self._scan_huge(body)
        if key is not None:
            scanned = self._starts
            if base_key is not None and delta is not None:
                known = scanned.get(base_key)
                if known is not None:
                    ref = delta_copy_runs(delta), known
                else:
                    sibling = self._pending.get(base_key)
                    if sibling is not None and sibling[0] in scanned:
                        # this tree -> base -> a scanned tree made from the same base
                        back = sorted((b, b + e - s, s) for s, e, b in delta_copy_runs(sibling[1]))
                        ref = _compose_runs(delta_copy_runs(delta), back), scanned[sibling[0]]
                    if len(self._pending) > 65536:
                        self._pending.clear()
                    self._pending[base_key] = (key, delta)
            if ref is None:
                child = self._pending.pop(key, None)
                if child is not None and child[0] in scanned:
                    runs = sorted((b, b + e - s, s) for s, e, b in delta_copy_runs(child[1]))
                    ref = runs, scanned[child[0]]
        new: list = []
        if ref is None:
            starts = self._scan_all(body, new)
        else:
            starts = self._scan_against(body, ref[0], ref[1], new)
        if key is not None:
            self._remember(key, starts)
        return new

    def _scan_huge(self, body: bytes) -> list:
        new = []
        seen = self.seen
        for mode, name, sha in parse_tree_entries(body, self.digest_size):
            if sha not in seen and mode not in _GITLINK_MODES:
                seen.add(sha)
                new.append((mode, name, sha))
        return new

    def _take(self, entry: bytes, new: list) -> None:
        """Record one entry whose id may be unseen."""
        d = self.digest_size
        sha = entry[-d:]
        if sha in self.seen:
            return
        sp = entry.index(b" ")
        mode = entry[:sp]
        if mode in _GITLINK_MODES:
            return
        self.seen.add(sha)
        new.append((mode, entry[sp + 1:-d - 1], sha))

    def _scan_all(self, body: bytes, new: list) -> array:
        """Parse every entry; the id look-ups run in C.  Returns the entry starts."""
        entries = self._entry.findall(body)
        starts = array("I", accumulate(map(len, entries), initial=0))
        if starts[-1] != len(body):  # matches must tile the body (see parse_tree_entries)
            raise ObjectFormatError("malformed tree")
        fresh = map(not_, map(self.seen.__contains__,
                              map(itemgetter(slice(-self.digest_size, None)), entries)))
        take = self._take
        for entry in compress(entries, fresh):  # lazy: duplicates see earlier adds
            take(entry, new)
        return starts

    def _scan_against(self, body: bytes, runs, known: array, new: list) -> array:
        """Parse ``body`` except runs of entries shared with a scanned tree.

        See :func:`split_against_base`.  Returns the entry starts of ``body``
        (and its end).
        """
        starts, pieces = split_against_base(body, runs, known, self._entry.match)
        if starts is None:
            raise ObjectFormatError("malformed tree")
        take = self._take
        for piece in pieces:
            if piece.__class__ is not tuple:
                take(piece.group(), new)
        return starts

    def _remember(self, key, starts: array) -> None:
        self._starts[key] = starts
        self._held += len(starts)
        while self._held > self._budget:
            _, old = self._starts.popitem(last=False)
            self._held -= len(old)


def split_against_base(body: bytes, runs: list, known: array, match,
                       keep_starts: bool = True) -> tuple:
    """Split a tree built by a delta into runs of its base's entries and the rest.

    ``runs`` are the delta's copies (start, end, base start), sorted by start
    (``delta.delta_copy_runs``); ``known`` are the base's entry starts and
    its end; ``match(body, pos)`` matches one entry.  From an entry boundary
    of ``body`` that maps to an entry boundary of the base, the base entries
    that fit in the run are byte-for-byte entries of ``body`` and are not
    parsed.  Returns ``(starts, pieces)``: the entry starts of ``body`` and
    its end (an empty array unless ``keep_starts``), and in tree order
    either the match of an entry parsed here or, for a run of base entries,
    ``(offset of its first entry, offset of its last entry)`` in ``body``.
    ``(None, None)`` if an entry does not parse.
    """
    last = len(known) - 1
    starts = array("I")
    pieces: list = []
    p = 0
    n = len(body)
    # The four lines parsing one entry are written out three times below: as a
    # local function they cost 5% of a whole clone walk (measured).
    try:
        for start, end, other in runs:
            while p < start:
                m = match(body, p)
                if keep_starts:
                    starts.append(p)
                pieces.append(m)
                p = m.end()
            while p < end:
                q = other + p - start
                i = bisect_left(known, q)
                if i <= last and known[i] == q:
                    j = bisect_right(known, other + end - start) - 1
                    if j > i:
                        shift = p - q
                        # an entry edited in place keeps its length: usually no shift
                        if keep_starts:
                            starts.extend(known[i:j] if not shift
                                          else map(shift.__add__, known[i:j]))
                        pieces.append((p, known[j - 1] + shift))
                        p = known[j] + shift
                        continue
                m = match(body, p)
                if keep_starts:
                    starts.append(p)
                pieces.append(m)
                p = m.end()
        while p < n:
            m = match(body, p)
            if keep_starts:
                starts.append(p)
            pieces.append(m)
            p = m.end()
    except AttributeError:   # match() found no entry: None has no .end()
        return None, None
    if keep_starts:
        starts.append(n)
    return starts, pieces


def _compose_runs(ab: list, bc: list) -> list:
    """Runs a -> c from runs a -> b and b -> c, each sorted by start.

    A run is (start, end, other start): x[start:end] == y[other start:...].
    """
    starts = [r[0] for r in bc]
    n = len(bc)
    out = []
    for a_s, a_e, b_s in ab:
        b_e = b_s + a_e - a_s
        i = max(bisect_right(starts, b_s) - 1, 0)
        while i < n and bc[i][0] < b_e:
            s, e, c = bc[i]
            lo = s if s > b_s else b_s
            hi = e if e < b_e else b_e
            if lo < hi:
                start, end, other = a_s + lo - b_s, a_s + hi - b_s, c + lo - s
                if out and out[-1][1] == start and out[-1][2] + start - out[-1][0] == other:
                    start, other = out.pop()[::2]  # continues the previous run
                out.append((start, end, other))
            i += 1
    return out


class TreeWalker:
    """The tree half of every object walk: what lies below trees, each object once.

    Shared by :class:`ReachabilityWalker` and ``upload_walk.ObjectWalk``.
    ``seen`` holds the binary ids already handled (sent, or known to the
    other side); :meth:`mark` adds a tree and everything below it (the
    "edges" of an incremental walk), :meth:`walk` yields what is new below a
    tree.  Trees are read through ``reader`` (a ``pack.PackedObjectReader``)
    when it has them, so the :class:`TreeScanner` can skip the entries a
    deltified tree shares with its base; otherwise through ``get_raw(hex
    id) -> (type, body)``.  Malformed trees raise ObjectFormatError.

    ``walk`` takes an optional filter (duck-typed, see
    ``upload_walk.ObjectFilter``) deciding what is sent and how deep:

    * ``type_ok(TREE)``: are trees sent (they are walked either way);
    * ``blob_ok(size_fn, depth)``: is a blob at ``depth`` sent (``size_fn()``
      gives its size);
    * ``tree_ok(depth)``: are trees at ``depth`` sent and entered;
    * ``tree_depth``: None unless ``tree_ok``/``blob_ok`` depend on depth.
      Then an object omitted deep down may still be sent when met higher up,
      and a tree met again nearer the top is walked again (as cgit's
      ``tree:<depth>``), so that walk parses every entry instead of scanning.
    """

    def __init__(self, get_raw: GetRaw, digest_size: int = 20, reader=None,
                 seen: Optional[set] = None) -> None:
        self.get_raw = get_raw
        self.digest_size = digest_size
        self.reader = reader
        self.seen: set = set() if seen is None else seen
        self.scanner = TreeScanner(self.seen, digest_size)

    def read_tree(self, binsha: bytes, sha: Optional[bytes] = None, delta: bool = True):
        """(body, key, base key, delta) of a tree; MissingObjectError if absent.

        ``delta=False``: just the body (the rest None), a little cheaper.
        """
        reader = self.reader
        got = None
        if reader is not None:
            if delta:
                got = reader.read(binsha, True)
            else:
                got = reader.get_raw(binsha)
                if got is not None:
                    got = got[0], got[1], None, None, None
        if got is None:
            if sha is None:
                sha = binascii.hexlify(binsha)
            try:
                type_num, body = self.get_raw(sha)
            except KeyError:
                raise MissingObjectError(sha) from None
            got = type_num, body, None, None, None
        if got[0] != TREE:
            raise ObjectFormatError(f"{sha or binascii.hexlify(binsha)!r} is not a tree")
        return got[1:]

    def flush(self) -> Iterator[tuple[bytes, int, bytes]]:
        """What the last walks left to do (nothing here; see pack_graph)."""
        return iter(())

    def mark(self, tree: bytes) -> None:
        """Add a tree (binary id) and everything below it to ``seen``.

        Trees missing locally are skipped (a shallow or partial other side).
        """
        seen = self.seen
        if tree in seen:
            return
        seen.add(tree)
        scan = self.scanner.scan
        read = self.read_tree
        stack = [tree]
        while stack:
            try:
                body, key, base_key, delta = read(stack.pop())
            except MissingObjectError:
                continue
            for mode, _, child in scan(body, key, base_key, delta):
                if mode in _DIR_MODES:
                    stack.append(child)

    def walk(self, tree: bytes, path: bytes = b"", flt=None,
             blob_size: Optional[Callable[[bytes], int]] = None,
             depth_of: Optional[dict] = None) -> Iterator[tuple[bytes, int, bytes]]:
        """(hex id, type, path) of the unseen objects below ``tree`` (binary id).

        Depth first, each tree's new entries in tree order.  ``tree`` itself
        is the caller's (sent or not) and sits at depth 0.  With a filter,
        ``blob_size(hex id)`` gives blob sizes and ``depth_of`` (tree ->
        depth it was walked at) is kept for depth-limited filters.
        """
        if flt is None:
            return self._walk_all(tree, path)
        if flt.tree_depth is not None:
            return self._walk_depth(tree, path, flt, blob_size, depth_of if depth_of is not None else {})
        return self._walk_filtered(tree, path, flt, blob_size)

    def _walk_all(self, tree: bytes, path: bytes):
        """The unfiltered walk: the hot loop of clones and pack writing."""
        hexlify = binascii.hexlify
        read = self.read_tree
        scan = self.scanner.scan
        dirs = _DIR_MODES
        stack = [(tree, None, path)]
        while stack:
            binsha, sha, base = stack.pop()
            body, key, base_key, delta = read(binsha, sha)
            subtrees = []
            prefix = base + b"/" if base else b""
            for mode, name, child in scan(body, key, base_key, delta):
                hexchild = hexlify(child)
                if mode in dirs:
                    yield hexchild, TREE, prefix + name
                    subtrees.append((child, hexchild, prefix + name))
                else:
                    yield hexchild, BLOB, prefix + name
            if subtrees:
                stack.extend(reversed(subtrees))

    def _walk_filtered(self, tree: bytes, path: bytes, flt, blob_size):
        """A filter that does not depend on depth: omitted objects are omitted for good."""
        hexlify = binascii.hexlify
        read = self.read_tree
        scan = self.scanner.scan
        dirs = _DIR_MODES
        send_trees = flt.type_ok(TREE)
        blob_ok = flt.blob_ok
        stack = [(tree, None, path, 1)]
        while stack:
            binsha, sha, base, depth = stack.pop()
            body, key, base_key, delta = read(binsha, sha)
            subtrees = []
            prefix = base + b"/" if base else b""
            for mode, name, child in scan(body, key, base_key, delta):
                hexchild = hexlify(child)
                if mode in dirs:
                    if send_trees:
                        yield hexchild, TREE, prefix + name
                    subtrees.append((child, hexchild, prefix + name, depth + 1))
                elif blob_ok(lambda: blob_size(hexchild), depth):
                    yield hexchild, BLOB, prefix + name
            if subtrees:
                stack.extend(reversed(subtrees))

    def _walk_depth(self, tree: bytes, path: bytes, flt, blob_size, depth_of: dict):
        """A depth-limited filter: every entry parsed, trees revisited nearer the top."""
        hexlify = binascii.hexlify
        seen = self.seen
        digest = self.digest_size
        send_trees = flt.type_ok(TREE)
        blob_ok = flt.blob_ok
        dirs = _DIR_MODES
        gitlinks = _GITLINK_MODES
        stack = [(tree, path, 1)]
        while stack:
            sha, base, depth = stack.pop()
            subtrees = []
            prefix = base + b"/" if base else b""
            trees_ok = flt.tree_ok(depth)
            for mode, name, child in parse_tree_entries(self.read_tree(sha, None, False)[0], digest):
                if mode in dirs:
                    if child in seen:
                        # a tree first met deeper down is walked again from here
                        if depth >= depth_of.get(child, -1):
                            continue
                    if not trees_ok:
                        continue
                    first = child not in seen
                    seen.add(child)
                    depth_of[child] = depth
                    if first and send_trees:
                        yield hexlify(child), TREE, prefix + name
                    subtrees.append((child, prefix + name, depth + 1))
                elif child in seen or mode in gitlinks:
                    continue
                elif blob_ok(lambda: blob_size(hexlify(child)), depth):
                    seen.add(child)
                    yield hexlify(child), BLOB, prefix + name
            stack.extend(reversed(subtrees))


class ReachabilityWalker:
    """Objects reachable from ``include`` tips but not from ``exclude`` tips.

    Commits reachable from an excluded tip are not sent; the trees of the
    excluded commits at the boundary are marked seen first, so unchanged
    subtrees and blobs are skipped (as ``git rev-list --objects`` does with
    edge marking).  ``exclude`` ids that are missing locally are ignored, as a
    server ignores ``have`` lines for objects it lacks.
    """

    def __init__(self, get_raw: GetRaw, hash_algo: HashAlgorithm = SHA1,
                 has: Optional[Callable[[bytes], bool]] = None,
                 include_tree_edges: bool = True, packs: Optional[Iterable] = None):
        """``packs``: read these first (see PackedObjectReader), which tells the
        tree scanner which base each tree was built from."""
        self.get_raw = get_raw
        self.hash_algo = hash_algo
        self.has = has
        self.include_tree_edges = include_tree_edges
        self._reader = None
        self._packs = list(packs) if packs else []
        if self._packs:
            from .pack import PackedObjectReader
            self._reader = PackedObjectReader(self._packs)

    def _raw(self, sha: bytes, packed: bool = True) -> tuple[int, bytes]:
        if packed and self._reader is not None and len(sha) == self.hash_algo.hex_size:
            try:
                got = self._reader.get_raw(binascii.unhexlify(sha))
            except binascii.Error:
                got = None
            if got is not None:
                return got
        try:
            return self.get_raw(sha)
        except KeyError:
            raise MissingObjectError(sha) from None

    def _peel(self, sha: bytes, emit: Optional[list]) -> tuple[bytes, int, bytes]:
        """Follow tags to a non-tag; tags passed are appended to ``emit``."""
        seen = set()
        while True:
            type_num, body = self._raw(sha)
            if type_num != TAG:
                return sha, type_num, body
            if sha in seen:
                raise ObjectFormatError("tag loop")
            seen.add(sha)
            if emit is not None:
                emit.append((sha, TAG))
            sha = tag_target(body)[0]

    def uninteresting_commits(self, exclude: Iterable[bytes]) -> tuple[set, list]:
        """All commits reachable from ``exclude`` plus its non-commit objects."""
        seen: set = set()
        others = []
        stack = []
        for sha in exclude:
            if self.has is not None and not self.has(sha):
                continue
            try:
                peeled, type_num, body = self._peel(sha, None)
            except MissingObjectError:
                continue
            if type_num == COMMIT:
                stack.append(peeled)
            else:
                others.append((peeled, type_num))
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            try:
                type_num, body = self._raw(sha)
            except MissingObjectError:
                continue  # shallow boundary on the excluded side
            stack.extend(p for p in commit_tree_and_parents(body)[1] if p not in seen)
        return seen, others

    def walk(self, include: Iterable[bytes], exclude: Iterable[bytes] = (),
             shallow: Iterable[bytes] = ()) -> Iterator[tuple[bytes, int, Optional[bytes]]]:
        """Yield (hex id, type number, path or None) for each object to send.

        ``shallow`` commits are sent but their parents are not followed.
        Trees, blobs and tags already handled are remembered by binary id so
        that the common case (an entry seen before) costs one set lookup.
        """
        exclude = list(exclude)
        excluded_commits, excluded_other = self.uninteresting_commits(exclude)
        shallow = set(shallow)
        graph = None
        if not exclude and not shallow and self._packs:
            # A walk of everything: read the packs' trees in pack order first.
            from .pack_graph import PackGraph
            graph = PackGraph.build(self._packs, self.hash_algo.digest_size)
        known_commits = graph.commits if graph is not None else {}
        seen: set = set()  # binary ids of trees, blobs and tags
        unhex = binascii.unhexlify
        digest = self.hash_algo.digest_size

        # Mark the trees of boundary commits (and excluded non-commits) seen.
        edge_trees = []
        for sha, type_num in excluded_other:
            if type_num == TREE:
                edge_trees.append(sha)
            else:
                seen.add(unhex(sha))

        commits_out = []
        tips = []
        tags_out: list = []
        for sha in include:
            peeled, type_num, body = self._peel(sha, tags_out)
            tips.append((peeled, type_num, body))
        for sha, type_num in tags_out:
            if unhex(sha) not in seen:
                seen.add(unhex(sha))
                yield sha, TAG, None

        stack = [t[0] for t in tips if t[1] == COMMIT]
        roots = [(t[0], t[1]) for t in tips if t[1] != COMMIT]
        seen_commits: set = set()
        while stack:
            sha = stack.pop()
            if sha in seen_commits or sha in excluded_commits:
                continue
            seen_commits.add(sha)
            info = known_commits.get(sha)
            if info is None:
                type_num, body = self._raw(sha)
                if type_num != COMMIT:
                    raise ObjectFormatError(f"{sha!r} is not a commit")
                tree, parents = commit_tree_and_parents(body)
            else:
                tree, parents = info[0], info[1]
            commits_out.append((sha, tree))
            if sha in shallow:
                continue
            for p in parents:
                if p in excluded_commits:
                    if self.include_tree_edges:
                        try:
                            edge_trees.append(commit_tree_and_parents(self._raw(p)[1])[0])
                        except MissingObjectError:
                            pass
                elif p not in seen_commits:
                    stack.append(p)

        if graph is not None:
            from .pack_graph import PackGraphTreeWalker
            trees = PackGraphTreeWalker(graph, self.get_raw, digest, self._reader, seen)
        else:
            trees = TreeWalker(self.get_raw, digest, self._reader, seen)
        for tree in edge_trees:
            trees.mark(unhex(tree))

        for sha, _ in commits_out:
            yield sha, COMMIT, None
        for sha, type_num in roots:
            if unhex(sha) in seen:
                continue
            seen.add(unhex(sha))
            yield sha, type_num, b"" if type_num != COMMIT else None
            if type_num == TREE:
                yield from trees.walk(unhex(sha))
        for _, tree in commits_out:
            if unhex(tree) not in seen:
                seen.add(unhex(tree))
                yield tree, TREE, b""
                yield from trees.walk(unhex(tree))
        yield from trees.flush()
