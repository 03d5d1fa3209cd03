"""fsck of a pushed pack inside the indexer's resolving pass.

A push of a whole history holds hundreds of megabytes of tree entries (git's
own history: 710 MB, 16.6 million entries).  Reading every object back after
indexing and checking each entry cost receive-pack 25 s on git.git where
``git receive-pack`` (without fsck) takes 6 s.  :class:`StreamFsck` is
handed each commit, tree and tag by ``pack_indexer`` while its body is in
hand anyway, and checks a deltified tree against its base:

A tree delta copies stretches of its base tree.  When the base passed every
check (it is *clean*) and a stretch starts and ends on the base's entry
boundaries, the entries it holds are byte-for-byte entries of the base, so
their own checks (mode, name, id) hold too, and consecutive ones are in
order.  What remains is checked directly: entries touching inserted bytes
are parsed and checked one by one (and must not repeat a name anywhere in
the tree), and the sort order is checked across every place where the tree
is not a run of consecutive base entries.  Any doubt (an unusual name or
mode, a special file, a parse failure) falls back to the full
:func:`fsck.check_tree`, which reports exactly what is wrong.

The ids every new object points at are collected (binary) for the
connectivity check: a copied entry's id was collected with its base.
"""

from __future__ import annotations

from array import array
from binascii import hexlify, unhexlify
from bisect import bisect_left
from collections import OrderedDict
from itertools import accumulate, compress
from operator import itemgetter
from typing import Callable, Optional

from .errors import PuregitError
from .fsck import (_ORDINARY_MODES, _SPECIAL_NAMES, _UNUSUAL_NAME, FsckPolicy, Problem,
                   check_gitattributes, check_gitmodules, check_object, check_tree)
from .graph import _entry_re, commit_tree_and_parents, split_against_base, tag_target

__all__ = ["StreamFsck", "check_special_blobs"]

_GITLINK = b"160000"
_DIR = b"40000"
_STARTS_BUDGET = 1 << 22   # entry offsets of clean trees kept for their deltas (4 bytes each)


class StreamFsck:
    """Collects fatal problems (and references) of objects as an indexer resolves them.

    Call it as ``checker(index, type_num, body, binary id, base index or None,
    copy runs or None)`` for every commit, tree and tag, bases before their
    deltas (see ``pack_indexer.Inspect``); then :meth:`finish` checks the ``.gitmodules``/``.gitattributes``
    blobs the trees named.  ``references`` (a set, or None to skip) receives
    the binary ids the objects point at, gitlinks excepted.
    """

    def __init__(self, policy: FsckPolicy, digest_size: int = 20,
                 references: Optional[set] = None, budget: int = _STARTS_BUDGET) -> None:
        self.policy = policy
        self.digest_size = digest_size
        self.hex_size = 2 * digest_size
        self.references = references
        self.fatal: list = []                 # (hex id, Problem)
        self.gitmodules: dict = {}            # blob hex id -> hex id of a tree naming it
        self.gitattributes: set = set()
        self.stats = {"trees": 0, "trees_against_base": 0, "entries_parsed": 0}
        self._grouped, self._whole = _entry_re(digest_size)
        self._starts: OrderedDict = OrderedDict()   # index of a clean tree -> entry starts
        self._held = 0
        self._budget = budget
        self._null = b"\0" * digest_size

    def __call__(self, index: int, type_num: int, body: bytes, binsha: bytes,
                 base_index: Optional[int] = None, runs: Optional[list] = None) -> None:
        skip = self.policy.skip
        if skip and hexlify(binsha) in skip:
            return
        if type_num == 2:
            self._tree(index, body, binsha, base_index, runs)
            return
        problems = check_object(type_num, body, self.hex_size)
        if problems:
            self._report(binsha, problems)
        refs = self.references
        if refs is None:
            return
        try:
            if type_num == 1:
                tree, parents = commit_tree_and_parents(body)
                refs.add(unhexlify(tree))
                refs.update(map(unhexlify, parents))
            elif type_num == 4:
                refs.add(unhexlify(tag_target(body)[0]))
        except (PuregitError, ValueError):
            pass  # malformed: check_object reported it

    def _report(self, binsha: bytes, problems: list) -> None:
        is_fatal = self.policy.is_fatal
        hexsha = hexlify(binsha)
        self.fatal += [(hexsha, p) for p in problems if is_fatal(p)]

    # -- trees
    def _tree(self, index: int, body: bytes, binsha: bytes, base_index, runs) -> None:
        self.stats["trees"] += 1
        if len(body) > 0xFFFFFFFF:   # entry offsets are kept as 32-bit numbers
            self._full_tree(None, body, binsha)
            return
        known = self._starts.get(base_index) if base_index is not None and runs is not None \
            else None
        if known is not None:
            starts = self._against(body, runs, known)
            if starts is not None:
                self.stats["trees_against_base"] += 1
                self._remember(index, starts)
                return
        self._full_tree(index, body, binsha)

    def _full_tree(self, index: Optional[int], body: bytes, binsha: bytes) -> None:
        res = check_tree(body, self.digest_size)
        for blob in res.gitmodules:
            self.gitmodules.setdefault(blob, hexlify(binsha))
        self.gitattributes.update(res.gitattributes)
        if res.problems:
            self._report(binsha, res.problems)
        refs = self.references
        try:
            entries = self._whole.findall(body)
            starts = array("I", accumulate(map(len, entries), initial=0))
            if starts[-1] != len(body):
                return  # malformed: check_tree reported it
        except OverflowError:
            return
        if refs is not None:
            ids = map(itemgetter(slice(-self.digest_size, None)), entries)
            if _GITLINK + b" " in body:   # maybe a gitlink (or those bytes in a name or id)
                keep = [not e.startswith(_GITLINK + b" ") for e in entries]
                refs.update(compress(ids, keep))
            else:
                refs.update(ids)
        if index is not None and not res.problems:
            self._remember(index, starts)

    def _against(self, body: bytes, runs: list, known: array) -> Optional[array]:
        """Entry starts of a tree built from the clean tree ``known`` by copy ``runs``.

        None when something needs the careful check.  ``runs`` are (start,
        end, base start) sorted by start; ``known`` are the base's entry
        starts and its end.
        """
        match = self._grouped.match
        starts, pieces = split_against_base(body, runs, known, match)
        if starts is None:
            return None
        keys: list = []      # sort keys of the seams: parsed entries, first and last of blocks
        parsed: list = []    # (index in keys, mode, name, id) of entries parsed one by one

        def key_at(p: int) -> bytes:
            m = match(body, p)
            return m.group(2) + b"/" if m.group(1) == _DIR else m.group(2)

        for piece in pieces:
            if piece.__class__ is tuple:
                first, last = piece
                keys.append(key_at(first))
                if last != first:
                    keys.append(key_at(last))
            else:
                mode, name, sha = piece.groups()
                parsed.append((len(keys), mode, name, sha))
                keys.append(name + b"/" if mode == _DIR else name)
        self.stats["entries_parsed"] += len(parsed)

        # Entries not copied whole from the base: the checks of fsck_tree, in bulk.
        if parsed:
            _, modes, names, shas = zip(*parsed)
            joined = b"\0" + b"\0".join(names) + b"\0"
            if (not _ORDINARY_MODES.issuperset(modes) or self._null in shas
                    or _UNUSUAL_NAME.search(joined)
                    or not _SPECIAL_NAMES.isdisjoint(joined.lower().split(b"\0"))):
                return None

        # Order: runs of consecutive base entries are sorted; check every seam.
        if any(map(bytes.__ge__, keys, keys[1:])):
            return None
        # Strictly ascending keys leave one way to repeat a name: a file and a
        # directory of that name, which sort apart ("a" < "a.c" < "a/") with
        # only names starting "a" between them.  A new entry whose neighbour
        # on that side does not start with its name has no twin; otherwise
        # the twin's key is looked up by bisecting the (sorted) tree.
        last = len(keys) - 1
        fresh = []
        for i, mode, name, sha in parsed:
            if mode == _DIR:
                if i > 0 and keys[i - 1].startswith(name) and self._has_key(body, starts, name):
                    return None
            elif i < last and keys[i + 1].startswith(name) \
                    and self._has_key(body, starts, name + b"/"):
                return None
            if mode != _GITLINK:
                fresh.append(sha)
        if self.references is not None:
            self.references.update(fresh)
        return starts

    def _has_key(self, body: bytes, starts: array, key: bytes) -> bool:
        """Whether the sorted tree ``body`` (entry ``starts`` and end) has an entry of ``key``."""
        match = self._grouped.match

        def key_at(i: int) -> bytes:
            m = match(body, starts[i])
            return m.group(2) + b"/" if m.group(1) == _DIR else m.group(2)

        n = len(starts) - 1
        i = bisect_left(range(n), key, key=key_at)
        return i < n and key_at(i) == key

    def _remember(self, index: int, starts: array) -> None:
        self._starts[index] = starts
        self._held += len(starts)
        while self._held > self._budget:
            _, old = self._starts.popitem(last=False)
            self._held -= len(old)

    # -- a forked indexer (see pack_indexer) checks half of the objects in a child
    def prepare_fork(self) -> None:
        """Called before forking: what is known so far must not be counted twice."""
        self._at_fork = (len(self.fatal), dict(self.stats))

    def fork_state(self):
        """What this checker learnt in a forked child, as marshal-able values."""
        n, stats = getattr(self, "_at_fork", (0, {}))
        return ([(h, p.msg_id, p.message) for h, p in self.fatal[n:]], self.gitmodules,
                self.gitattributes, self.references,
                {k: v - stats.get(k, 0) for k, v in self.stats.items()})

    def merge_fork_state(self, state) -> None:
        fatal, gitmodules, gitattributes, references, stats = state
        self.fatal += [(h, Problem(m, text)) for h, m, text in fatal]
        for blob, tree in gitmodules.items():
            self.gitmodules.setdefault(blob, tree)
        self.gitattributes |= gitattributes
        if self.references is not None and references is not None:
            self.references |= references
        for k, v in stats.items():
            self.stats[k] = self.stats.get(k, 0) + v

    # -- after the pack is in place
    def finish(self, get_raw: Callable[[bytes], tuple]) -> list:
        """All fatal problems, after checking the special blobs through ``get_raw(hex id)``."""
        self._starts.clear()
        self._held = 0
        return self.fatal + check_special_blobs(self.gitmodules, self.gitattributes,
                                                self.policy, get_raw)


def check_special_blobs(gitmodules: dict, gitattributes: set, policy: FsckPolicy,
                        get_raw: Callable[[bytes], tuple]) -> list:
    """(hex id, Problem) for the ``.gitmodules``/``.gitattributes`` blobs trees named.

    ``gitmodules`` maps each such blob to a tree naming it (where a missing
    blob is reported).
    """
    fatal = []
    for blob_id in list(gitmodules) + sorted(gitattributes - set(gitmodules)):
        if blob_id in policy.skip:
            continue
        is_gitmodules = blob_id in gitmodules
        try:
            type_num, data = get_raw(blob_id)
        except (KeyError, PuregitError):
            if is_gitmodules:
                p = Problem("gitmodulesMissing", "unable to read .gitmodules blob")
                if policy.is_fatal(p):
                    fatal.append((gitmodules[blob_id], p))
            continue
        if type_num != 3:
            p = Problem("gitmodulesBlob" if is_gitmodules else "gitattributesBlob",
                        "non-blob found at .gitmodules" if is_gitmodules
                        else "non-blob found at .gitattributes")
            problems = [p]
        elif is_gitmodules:
            problems = check_gitmodules(data)
            if blob_id in gitattributes:
                problems += check_gitattributes(data)
        else:
            problems = check_gitattributes(data)
        fatal += [(blob_id, p) for p in problems if policy.is_fatal(p)]
    return fatal
