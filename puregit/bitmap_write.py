"""Writing reachability bitmaps (``pack-*.bitmap``, version 1) for a pack.

Format (gitformat-pack, "bitmap format"): ``BITM``, version 1, flags
(FULL_DAG | HASH_CACHE), the number of bitmapped commits and the pack's
checksum; four EWAH bitmaps saying which pack positions are commits, trees,
blobs and tags; per selected commit its position in the ``.idx`` (id order),
an XOR offset (always 0 here), flags and the EWAH bitmap of everything
reachable from it; one name hash per object in pack order; a trailing
checksum.  Bit *i* is the *i*-th object of the pack in offset order.

Bitmaps are built incrementally along the commit graph, ancestors first
(see :class:`_Builder`): a commit's set is the OR of its parents' sets plus
what its tree adds, found by diffing the tree against the first parent's,
so each tree object is read about once however many commits share it.
Only a pack that holds everything reachable from the tips can be bitmapped.
"""

from __future__ import annotations

import binascii
import os
import struct
from typing import Iterable, Optional

from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate

from .errors import MissingObjectError, ObjectFormatError, PackError
from .graph import (BLOB, COMMIT, TAG, TREE, commit_time, commit_tree_and_parents, tag_target,
                    _DIR_MODES, _entry_re)
from .pack import OFS_DELTA, REF_DELTA, Pack, PackedObjectReader, parse_entry_header
from .pack_writer import pack_name_hash

BITMAP_OPT_FULL_DAG = 0x1
BITMAP_OPT_HASH_CACHE = 0x4
_ALL_ONES = (1 << 64) - 1
_MAX_RUN = (1 << 32) - 1
_MAX_LITERALS = (1 << 31) - 1

__all__ = ["encode_ewah", "write_bitmap", "select_commits", "BitmapWriteError"]


class BitmapWriteError(PackError):
    """The pack cannot be bitmapped (it lacks reachable objects)."""


def encode_ewah(bits: int, bit_size: int) -> bytes:
    """Serialise a bitset (int, bit i = position i) as git's EWAH: size, words, last RLW."""
    n = (bit_size + 63) >> 6
    words = struct.unpack("<%dQ" % n, bits.to_bytes(n * 8, "little")) if n else ()
    out: list = []
    rlw = 0
    i = 0
    while i < n:
        run = 0
        clean = words[i]
        if clean == 0 or clean == _ALL_ONES:
            while i < n and words[i] == clean and run < _MAX_RUN:
                run += 1
                i += 1
        start = i
        while i < n and words[i] != 0 and words[i] != _ALL_ONES and i - start < _MAX_LITERALS:
            i += 1
        rlw = len(out)
        out.append((1 if run and clean else 0) | (run << 1) | ((i - start) << 33))
        out.extend(words[start:i])
    return (struct.pack(">II", bit_size, len(out)) + struct.pack(">%dQ" % len(out), *out)
            + struct.pack(">I", rlw))


def select_commits(commits: list[bytes], tips: Iterable[bytes], every: int = 100) -> list[bytes]:
    """Commits to bitmap: every ref tip plus every ``every``-th commit of the walk."""
    known = set(commits)
    chosen = dict.fromkeys(t for t in tips if t in known)
    chosen.update(dict.fromkeys(commits[::every]))
    return list(chosen)


def _pack_types(pack: Pack, offsets: list[int]) -> list[int]:
    """The object type of every entry, in pack order (deltas take their base's type)."""
    data = pack.data
    mm = data._mmap
    hs = pack.hash_algo.digest_size
    at = {off: i for i, off in enumerate(offsets)}
    types = [0] * len(offsets)
    for i, off in enumerate(offsets):
        type_num, _, base, _ = parse_entry_header(mm, off, hs)
        if type_num == OFS_DELTA and at.get(base, i) < i:
            type_num = types[at[base]]
        elif type_num in (OFS_DELTA, REF_DELTA):
            type_num = data.resolve_object_at(off, pack.index.find_offset,
                                              pack.resolve_ext_ref)[0]
        types[i] = type_num
    return types


def write_bitmap(store, pack: Pack, tips: Optional[Iterable[bytes]] = None,
                 every: int = 100, path: Optional[str] = None) -> str:
    """Write ``<pack>.bitmap`` for ``pack`` of ``store`` (a DiskObjectStore or a Repo).

    ``tips`` (hex ids; default: every ref of the repository when ``store`` is a
    Repo) are walked; their commits and every ``every``-th commit (newest
    first) get bitmaps.  Everything reachable from ``tips`` must be in
    ``pack`` (BitmapWriteError otherwise).  Returns the path written.
    """
    if hasattr(store, "object_store"):  # a Repo
        if tips is None:
            tips = set(store.get_refs().values())
        store = store.object_store
    if tips is None:
        raise ValueError("tips are needed when given an object store")
    tips = sorted(set(tips))
    idx = pack.index
    by_offset = sorted((off, sha) for sha, off, _ in idx.iterentries())
    offsets = [off for off, _ in by_offset]
    pos_of = {sha: i for i, (_, sha) in enumerate(by_offset)}
    idx_pos = {sha: i for i, sha in enumerate(sorted(pos_of))}
    n = len(offsets)
    del by_offset

    builder = _Builder(store, pack, pos_of, offsets)
    tip_commits = builder.load(tips)
    by_date = sorted(builder.trees, key=builder.times.__getitem__, reverse=True)
    selected = select_commits(by_date, tip_commits, every)
    bitmaps = builder.reachability(set(selected))

    types = _pack_types(pack, offsets)
    out = [b"BITM", struct.pack(">HHI", 1, BITMAP_OPT_FULL_DAG | BITMAP_OPT_HASH_CACHE,
                                len(selected)), idx.get_pack_checksum()]
    for t in (COMMIT, TREE, BLOB, TAG):
        have = bytearray((n + 7) >> 3)
        for i, ty in enumerate(types):
            if ty == t:
                have[i >> 3] |= 1 << (i & 7)
        out.append(encode_ewah(int.from_bytes(have, "little"), n))
    for c in selected:
        out.append(struct.pack(">IBB", idx_pos[c], 0, 0))
        out.append(encode_ewah(int.from_bytes(bitmaps[c], "little"), n))
    out.append(struct.pack(">%dI" % n, *builder.hashes))
    body = b"".join(out)
    h = pack.hash_algo.new()
    h.update(body)
    path = path or pack.basename + ".bitmap"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(body + h.digest())
    os.replace(tmp, path)
    return path


class _Builder:
    """Reachability bitsets of commits, built along the commit graph.

    Commits are handled ancestors first.  A commit's set starts as the union
    of its parents' sets; its own tree is then diffed against its first
    parent's tree: an entry present (same mode, name and id) in the parent's
    tree is reachable from the parent, so only the other entries are looked
    up, and a subtree not yet in the set is diffed in turn against the
    parent's subtree of the same name (or filled whole).  The sets stay
    closed (a set tree implies its whole subtree is set), so an entry
    already set needs no descent.  A working set is a bytearray (bit *i* =
    pack position *i*), handed on to the last child that needs it and
    dropped then unless the commit is selected.
    """

    def __init__(self, store, pack: Pack, pos_of: dict, offsets: list) -> None:
        self.store = store
        self.pack = pack
        self.pos_of = pos_of
        self.offsets = offsets
        self.digest = store.hash_algo.digest_size
        self.hashes = [0] * len(offsets)
        self.trees: dict = {}     # binary commit id -> binary tree id
        self.parents: dict = {}   # binary commit id -> [binary parent ids]
        self.times: dict = {}     # binary commit id -> committer time
        self._reader = PackedObjectReader([pack])
        self._trees: dict = {}    # tree id -> (body, entry starts), oldest first
        self._held = 0
        self._budget = 64 << 20
        self._entry_re = _entry_re(self.digest)[1]

    # -- reading
    def raw(self, binsha: bytes) -> tuple[int, bytes]:
        got = self._reader.get_raw(binsha)
        if got is not None:
            return got
        try:
            return self.store.get_raw(binascii.hexlify(binsha))
        except KeyError:
            raise MissingObjectError(binascii.hexlify(binsha)) from None

    def pos(self, binsha: bytes) -> int:
        pos = self.pos_of.get(binsha)
        if pos is None:
            raise BitmapWriteError(f"{binsha.hex()} is reachable but not in the pack")
        return pos

    def body(self, tree: bytes) -> tuple[bytes, array]:
        """(body, entry starts plus its end) of a tree, parsed in full if not cached."""
        got = self._trees.get(tree)
        if got is not None:
            return got
        type_num, body = self.raw(tree)
        if type_num != TREE:
            raise ObjectFormatError(f"{tree.hex()} is not a tree")
        starts = array("I", accumulate(map(len, self._entry_re.findall(body)), initial=0))
        if starts[-1] != len(body):
            raise ObjectFormatError(f"malformed tree {tree.hex()}")
        return self._keep(tree, body, starts)

    def _keep(self, tree: bytes, body: bytes, starts: array) -> tuple[bytes, array]:
        cache = self._trees
        got = cache[tree] = (body, starts)
        self._held += len(body)
        while self._held > self._budget:
            self._held -= len(cache.pop(next(iter(cache)))[0])
        return got

    def changed(self, tree: bytes, old: Optional[bytes]) -> tuple[list, list]:
        """Entries of ``tree`` that may not be in ``old``, and entries of ``old``
        around them (each as raw bytes).

        Without ``old`` every entry.  Otherwise the bodies' common prefix and
        suffix are found by comparing slices (in C); entries lying wholly in
        them are the old tree's, at the same place (shifted in the suffix),
        so only the stretch between is parsed.  The tree's entry starts are
        derived from the old tree's and cached for its children.
        """
        if old is None:
            body, starts = self.body(tree)
            return [body[s:e] for s, e in zip(starts, starts[1:])], []
        obody, ostarts = self.body(old)
        type_num, body = self.raw(tree)
        if type_num != TREE:
            raise ObjectFormatError(f"{tree.hex()} is not a tree")
        n, on = len(body), len(obody)
        limit = n if n < on else on
        # common prefix: largest lo with body[:lo] == obody[:lo]
        lo, hi = 0, limit
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if body[lo:mid] == obody[lo:mid]:
                lo = mid
            else:
                hi = mid - 1
        prefix = lo
        lo, hi = 0, limit - prefix
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if body[n - mid:n - lo] == obody[on - mid:on - lo]:
                lo = mid
            else:
                hi = mid - 1
        shift = n - on
        i = bisect_right(ostarts, prefix) - 1
        j = bisect_left(ostarts, on - lo)  # old entries from j on lie in the suffix
        s, os_, oe = ostarts[i], ostarts[i], ostarts[j]
        e = oe + shift
        findall = self._entry_re.findall
        found = findall(body, s, e)
        mid_starts = list(accumulate(map(len, found), initial=s))
        if mid_starts[-1] != e:
            # rare: the parse does not line up with the old tree's at ``e``
            # (the suffix starts inside a stretch that parses differently)
            found = findall(body, s)
            mid_starts = list(accumulate(map(len, found), initial=s))
            if mid_starts[-1] != n:
                raise ObjectFormatError(f"malformed tree {tree.hex()}")
            j = len(ostarts) - 1
            oe = on
        mid_starts.pop()
        gone = findall(obody, os_, oe)
        if len(found) > 2:
            old_set = set(gone)
            new = [x for x in found if x not in old_set]
        else:
            new = found
        starts = ostarts[:i]
        starts.extend(array("I", mid_starts))
        if shift:
            starts.extend(array("I", [x + shift for x in ostarts[j:]]))
        else:
            starts.extend(ostarts[j:])
        self._keep(tree, body, starts)
        return new, gone

    def load(self, tips: list) -> list:
        """Read the commit graph below ``tips``; returns the tips' commits (peeled)."""
        unhex = binascii.unhexlify
        trees, parents, times = self.trees, self.parents, self.times
        tip_commits = []
        stack = []
        for t in tips:
            sha = unhex(t)
            for _ in range(64):
                type_num, body = self.raw(sha)
                if type_num != TAG:
                    break
                self.pos(sha)
                sha = unhex(tag_target(body)[0])
            if type_num == COMMIT:
                tip_commits.append(sha)
                stack.append(sha)
            elif type_num == TREE:
                self._fill(bytearray((len(self.offsets) + 7) >> 3), sha, None, b"")
            else:
                self.pos(sha)
        while stack:
            c = stack.pop()
            if c in trees:
                continue
            self.pos(c)
            type_num, body = self.raw(c)
            if type_num != COMMIT:
                raise ObjectFormatError(f"{c.hex()} is not a commit")
            tree, ps = commit_tree_and_parents(body)
            trees[c] = unhex(tree)
            ps = parents[c] = [unhex(p) for p in ps]
            times[c] = commit_time(body)
            stack.extend(p for p in ps if p not in trees)
        return tip_commits

    # -- building
    def order(self, starts: Iterable[bytes]) -> list:
        """Commits reachable from ``starts``, ancestors first (first parents first)."""
        parents = self.parents
        out, done = [], set()
        stack = [(c, False) for c in reversed(list(starts))]
        while stack:
            c, expanded = stack.pop()
            if expanded:
                out.append(c)
                continue
            if c in done:
                continue
            done.add(c)
            stack.append((c, True))
            stack.extend((p, False) for p in reversed(parents[c]) if p not in done)
        return out

    def reachability(self, selected: set) -> dict:
        """bytes of the bitset of every selected commit."""
        order = self.order(sorted(selected, key=self.times.__getitem__))
        parents, trees = self.parents, self.trees
        pending: dict = {}   # commit -> children still to be built
        for c in order:
            for p in parents[c]:
                pending[p] = pending.get(p, 0) + 1
        nbytes = (len(self.offsets) + 7) >> 3
        live: dict = {}
        done: dict = {}
        pos = self.pos
        fill = self._fill
        for c in order:
            ps = parents[c]
            if not ps:
                have = bytearray(nbytes)
                old = None
            else:
                acc = None
                for k, p in enumerate(ps):
                    left = pending[p] = pending[p] - 1
                    bits = live[p] if left else live.pop(p)
                    if k == 0:
                        have = bits if not left else bytearray(bits)
                    else:
                        if acc is None:
                            acc = int.from_bytes(have, "little")
                        acc |= int.from_bytes(bits, "little")
                if acc is not None:
                    have = bytearray(acc.to_bytes(nbytes, "little"))
                old = trees[ps[0]]
            i = pos(c)
            have[i >> 3] |= 1 << (i & 7)
            fill(have, trees[c], old, b"")
            if pending.get(c):
                live[c] = have
            if c in selected:
                done[c] = bytes(have)
        return done

    def _fill(self, have: bytearray, tree: bytes, old: Optional[bytes], path: bytes) -> None:
        """Set ``tree`` and everything below it; ``old`` is a tree known to be
        set whole (closed) whose entries need no look-up."""
        pos_of = self.pos_of
        hashes = self.hashes
        d = self.digest
        i = pos_of.get(tree)
        if i is None:
            self.pos(tree)
        bit = 1 << (i & 7)
        if have[i >> 3] & bit:
            return
        have[i >> 3] |= bit
        if path and not hashes[i]:
            hashes[i] = pack_name_hash(path)
        changed = self.changed
        stack = [(tree, old, path)]
        while stack:
            tree, old, path = stack.pop()
            new, gone = changed(tree, old)
            old_dirs = None
            prefix = path + b"/" if path else b""
            for e in new:
                sha = e[-d:]
                i = pos_of.get(sha)
                if i is None:
                    if e.startswith(b"160000 "):
                        continue  # a gitlink: a commit of another repository
                    self.pos(sha)
                bit = 1 << (i & 7)
                if have[i >> 3] & bit:
                    continue
                have[i >> 3] |= bit
                sp = e.index(b" ")
                name = e[sp + 1:-d - 1]
                if not hashes[i]:
                    hashes[i] = pack_name_hash(prefix + name)
                if e[:sp] in _DIR_MODES:
                    if old_dirs is None:
                        old_dirs = {}
                        for o in gone:
                            osp = o.index(b" ")
                            if o[:osp] in _DIR_MODES:
                                old_dirs[o[osp + 1:-d - 1]] = o[-d:]
                    stack.append((sha, old_dirs.get(name), prefix + name))
