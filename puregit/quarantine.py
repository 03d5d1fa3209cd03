"""The receive quarantine: incoming objects live apart until the push is accepted.

``Quarantine(store)`` creates ``objects/tmp_objdir-incoming-XXXXXX`` (cgit's
name) holding an object store whose ``info/alternates`` points at the main
``objects/`` directory, so thin packs are completed and connectivity is
checked against both.  :meth:`Quarantine.receive_pack` indexes the pushed
pack there, enforcing ``receive.maxInputSize`` while reading.
:meth:`Quarantine.migrate` moves the objects into the real store (each
``.pack`` before its ``.idx``: readers list packs by their index, so they
never see an index without its pack); :meth:`Quarantine.drop` removes
everything.  Used as a context manager it drops itself unless migrated, so a
failed push leaves ``objects/`` as it was.

The checks over what arrived live here too: :func:`fsck_objects` (every
commit, tree and tag in the quarantined packs, plus the blobs trees name
``.gitmodules``/``.gitattributes``; blobs are typed from entry headers and
never inflated otherwise) and :func:`check_connectivity`.
"""

from __future__ import annotations

import os
import shutil
from binascii import hexlify
import tempfile
from typing import Callable, Iterable, Iterator, Optional

from .errors import CorruptPackError, PackError, PuregitError
from .fsck import FsckPolicy, check_object, check_tree
from .graph import commit_tree_and_parents, iter_tree_entries, parse_tree_entries, tag_target
from .object_store import DiskObjectStore

__all__ = ["Quarantine", "PackTooLarge", "QUARANTINE_PREFIX", "CHUNK", "check_connectivity",
           "fsck_objects"]

QUARANTINE_PREFIX = "tmp_objdir-incoming-"
CHUNK = 1 << 16


class PackTooLarge(PackError):
    """The pack stream went over ``receive.maxInputSize``."""


class Quarantine:
    """A temporary object directory inside ``main.path`` with ``main`` as its alternate."""

    def __init__(self, main: DiskObjectStore) -> None:
        self.main = main
        self.path = tempfile.mkdtemp(prefix=QUARANTINE_PREFIX, dir=main.path)
        self.migrated = False
        try:
            os.makedirs(os.path.join(self.path, "pack"))
            os.makedirs(os.path.join(self.path, "info"))
            with open(os.path.join(self.path, "info", "alternates"), "wb") as f:
                f.write(os.fsencode(os.path.abspath(main.path)) + b"\n")
            self.store = DiskObjectStore(self.path, main.hash_algo)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise

    # -- context manager: drop unless migrated
    def __enter__(self) -> "Quarantine":
        return self

    def __exit__(self, *exc) -> None:
        self.drop()

    # -- receiving
    def receive_pack(self, read: Callable[[int], bytes], max_input_size: int = 0,
                     max_object_size: Optional[int] = None, progress=None,
                     inspect=None, parallel: bool = False) -> Optional[str]:
        """Read one pack from ``read`` and index it here; return its basename (None if empty).

        ``read(n)`` must return whatever is available (1..n bytes, b"" at
        EOF), like ``socket.recv`` or ``read1``: reading stops right after the
        pack's trailing checksum, so the peer is never waited on for more.
        Thin packs are completed from the main store.  Raises a PackError
        subclass for any bad stream (nothing is left behind).  ``inspect``
        sees every commit, tree and tag as it is resolved (see
        ``pack_indexer.Inspect``; ``fsck_stream.StreamFsck`` is one).
        ``parallel``: let the indexer resolve half of the deltas in a forked
        child (servers; see ``forking``).
        """
        from .pack_indexer import PackIndexer, install_pack

        store = self.store

        def resolve(binsha: bytes):
            try:
                return store.get_raw(binsha.hex().encode("ascii"))
            except KeyError:
                return None

        kw = {} if max_object_size is None else {"max_object_size": max_object_size}
        indexer = PackIndexer(store.pack_dir, store.hash_algo, fix_thin=True,
                              resolve_ext_ref=resolve, progress=progress, inspect=inspect,
                              parallel=parallel, **kw)
        total = 0
        try:
            while not indexer.complete:
                data = read(CHUNK)
                if not data:
                    break
                total += len(data)
                if max_input_size and total > max_input_size:
                    raise PackTooLarge("pack exceeds maximum allowed size")
                indexer.feed(data)
            if total == 0:
                raise CorruptPackError("eof before pack header was fully read")
        except BaseException:
            indexer.abort()
            raise
        result = indexer.finish()
        deltas = result.stats.get("deltas", 0)
        if progress is not None and deltas:
            # what git's index-pack says for receive-pack (the final line of its meter)
            local = result.thin_bases_added
            tail = (b"done." if not local else b"completed with %d local object%s."
                    % (local, b"" if local == 1 else b"s"))
            progress(b"Resolving deltas: 100%% (%d/%d), %s\n" % (deltas, deltas, tail))
        if result.num_objects == 0:
            for p in (result.pack_path, result.idx_path):
                try:
                    os.unlink(p)
                except (FileNotFoundError, TypeError):
                    pass
            return None
        basename = install_pack(result, store.pack_dir)
        store._pack_cache = None
        return basename

    # -- what arrived
    def contains(self, sha: bytes) -> bool:
        """Whether ``sha`` (hex) is in the quarantine itself (not via the alternate)."""
        return self.store.contains_packed(sha) or self.store.contains_loose(sha)

    def __iter__(self) -> Iterator[bytes]:
        """Hex ids of the quarantined objects."""
        return iter(self.store)

    def pack_files(self) -> list[str]:
        """Names in the quarantine's ``pack/`` directory."""
        try:
            return sorted(os.listdir(self.store.pack_dir))
        except FileNotFoundError:
            return []

    # -- leaving quarantine
    def explode(self, limit: int, known: Callable[[bytes], bool]) -> bool:
        """``receive.unpackLimit``: a push of fewer than ``limit`` objects becomes loose objects.

        As git's receive-pack runs unpack-objects rather than index-pack for
        small pushes, so a busy repository does not collect a pack per push
        (``gc --auto`` then waits for thousands of loose objects, not 50
        packs).  Objects ``known`` to the repository already (the bases a
        thin pack was completed with) are not written.  Returns whether it did.
        """
        from .loose import encode_loose
        from .object_store import TYPE_NUM_TO_NAME, write_file_atomically
        store = self.store
        packs = list(store.packs)
        if not packs or limit <= 0 or sum(len(p) for p in packs) >= limit:
            return False
        for pack in packs:
            for sha in pack:
                if known(sha):
                    continue
                type_num, body = store.get_raw(sha)
                write_file_atomically(store._loose_path(sha),
                                      encode_loose(TYPE_NUM_TO_NAME[type_num], body,
                                                   store.loose_compression_level), mode=0o444)
        store.close()
        for name in self.pack_files():
            os.unlink(os.path.join(store.pack_dir, name))
        store._pack_cache = None
        return True

    def migrate(self) -> None:
        """Move every object into the main store; then remove the quarantine."""
        self.store.close()
        src_pack = self.store.pack_dir
        dst_pack = self.main.pack_dir
        os.makedirs(dst_pack, exist_ok=True)
        names = self.pack_files()
        order = {".keep": 0, ".pack": 1, ".rev": 2, ".bitmap": 3, ".idx": 4}
        bases = sorted({n.rsplit(".", 1)[0] for n in names if n.startswith("pack-")})
        for base in bases:
            exts = sorted((n[len(base):] for n in names if n.startswith(base + ".")),
                          key=lambda e: order.get(e, 5))
            for ext in exts:
                _move_no_clobber(os.path.join(src_pack, base + ext),
                                 os.path.join(dst_pack, base + ext))
        for sub in sorted(os.listdir(self.path)):
            if len(sub) != 2:
                continue
            src_dir = os.path.join(self.path, sub)
            dst_dir = os.path.join(self.main.path, sub)
            for name in sorted(os.listdir(src_dir)):
                if name.startswith("tmp"):
                    continue
                os.makedirs(dst_dir, exist_ok=True)
                _move_no_clobber(os.path.join(src_dir, name), os.path.join(dst_dir, name))
        self.migrated = True
        self.main._pack_cache = None
        self.drop()

    def drop(self) -> None:
        """Remove the quarantine directory and everything in it."""
        try:
            self.store.close()
        except Exception:
            pass
        shutil.rmtree(self.path, ignore_errors=True)


def _move_no_clobber(src: str, dst: str) -> None:
    """Rename ``src`` to ``dst`` unless ``dst`` exists (same content by name: keep the old one)."""
    if os.path.exists(dst):
        return
    try:
        os.link(src, dst)
    except FileExistsError:
        return
    except OSError:
        os.replace(src, dst)
        return
    os.unlink(src)


# --- checks over what arrived ------------------------------------------------------

def check_connectivity(tips: Iterable[bytes], in_quarantine: Callable[[bytes], bool],
                       in_repository: Callable[[bytes], bool],
                       get_raw: Callable[[bytes], tuple], digest_size: int = 20,
                       boundary: frozenset = frozenset(), reached: Optional[set] = None) -> set:
    """The tips from which some needed object is missing (or malformed).

    Objects that arrived in quarantine are walked; an object already in the
    repository ends the walk (it was there before the push).  Objects proved
    connected are remembered across tips.  ``boundary`` commits (a shallow
    push's) are walked without their parents; those met go into ``reached``.
    """
    good: set = set()
    bad: set = set()
    for tip in tips:
        if tip in good:
            continue
        seen: set = set()
        stack = [tip]
        ok = True
        while stack:
            sha = stack.pop()
            if sha in good or sha in seen:
                continue
            seen.add(sha)
            if not in_quarantine(sha):
                if in_repository(sha):
                    continue
                ok = False
                break
            try:
                type_num, body = get_raw(sha)
                if type_num == 1:
                    tree, parents = commit_tree_and_parents(body)
                    stack.append(tree)
                    if sha in boundary:
                        if reached is not None:
                            reached.add(sha)
                    else:
                        stack.extend(parents)
                elif type_num == 2:
                    for mode, child in iter_tree_entries(body, digest_size):
                        if mode != 0o160000:
                            stack.append(child)
                elif type_num == 4:
                    stack.append(tag_target(body)[0])
            except (KeyError, PuregitError, ValueError):
                ok = False
                break
        if ok:
            good |= seen
        else:
            bad.add(tip)
    return bad


def connected_by_closure(tips: Iterable[bytes], references: set, quarantine_ids: set,
                         in_repository: Callable[[bytes], bool]) -> bool:
    """Whether the push is connected, from the references its objects make.

    Every tip present and every id referenced by a quarantined object either
    quarantined or already in the repository means nothing reachable from the
    tips is missing (the repository's own objects being complete, which the
    walk in :func:`check_connectivity` assumes too).  False means "walk to
    find out which tips are broken", not necessarily a failure.
    """
    for sha in tips:
        if sha not in quarantine_ids and not in_repository(sha):
            return False
    return all(in_repository(sha) for sha in references - quarantine_ids)


def _pack_type(pack, binsha: bytes) -> Optional[int]:
    """An object's type from entry headers only (no inflating); None if unknown."""
    from .pack import OFS_DELTA, REF_DELTA
    off = pack.index.find_offset(binsha)
    for _ in range(10_000):
        if off is None:
            return None
        type_num, _, base, _ = pack.data.entry_header_at(off)
        if type_num == OFS_DELTA:
            off = base
        elif type_num == REF_DELTA:
            off = pack.index.find_offset(base)
        else:
            return type_num
    return None


def _add_references(type_num: int, body: bytes, digest_size: int, out: set) -> None:
    """Add the hex ids a commit, tree or tag body points at (gitlinks excluded)."""
    if type_num == 1:
        tree, parents = commit_tree_and_parents(body)
        out.add(tree)
        out.update(parents)
    elif type_num == 2:
        out.update(hexlify(sha) for mode, _, sha in parse_tree_entries(body, digest_size)
                   if mode != b"160000")
    elif type_num == 4:
        out.add(tag_target(body)[0])


def fsck_objects(quarantine, policy: FsckPolicy, main_get_raw=None,
                 references: Optional[set] = None) -> list:
    """(hex id, Problem) for every fatal problem among the quarantined objects.

    With ``references`` (a set), the ids every quarantined object points at
    are added to it while each object is in hand, so the connectivity check
    needs no second pass (see :func:`connected_by_closure`).
    """
    store = quarantine.store
    hex_size = store.hash_algo.hex_size
    fatal = []
    gitmodules: dict = {}
    gitattributes: set = set()
    for pack in store.packs:
        # Pack order, not id order: a delta's base was just resolved and sits in
        # the pack's base cache, so each chain is applied about once.
        in_pack_order = sorted(pack.index.iterentries(), key=lambda e: e[1])
        for binsha, _, _ in in_pack_order:
            hexsha = binsha.hex().encode("ascii") if len(binsha) != hex_size else binsha
            if hexsha in policy.skip:
                continue
            t = _pack_type(pack, binsha if len(binsha) != hex_size else bytes.fromhex(binsha.decode()))
            if t == 3:
                continue
            type_num, body = pack.get_raw(binsha)
            if references is not None:
                try:
                    _add_references(type_num, body, hex_size // 2, references)
                except PuregitError:
                    pass  # malformed: check_tree/check_object below report it
            if type_num == 2:
                res = check_tree(body, hex_size // 2)
                problems = res.problems
                for b in res.gitmodules:
                    gitmodules.setdefault(b, hexsha)
                gitattributes.update(res.gitattributes)
            else:
                problems = check_object(type_num, body, hex_size)
            fatal += [(hexsha, p) for p in problems if policy.is_fatal(p)]
    from .fsck_stream import check_special_blobs
    return fatal + check_special_blobs(gitmodules, gitattributes, policy,
                                       main_get_raw or store.get_raw)
