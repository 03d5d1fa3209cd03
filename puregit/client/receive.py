"""Fetch's local side: stream a pack into the store, keep the shallow file, walk haves."""

from __future__ import annotations

import os
from typing import Callable, Iterable, Optional

from ..graph import commit_time, commit_tree_and_parents
from .graphwalk import ObjectStoreGraphWalker
from .progress import ProgressMeter

__all__ = ["store_pack_stream", "read_shallow", "write_shallow", "local_graph_walker"]


def _resolver(store):
    def resolve(binsha: bytes):
        try:
            return store.get_raw(binsha.hex().encode("ascii"))
        except KeyError:
            return None
    return resolve


def _mark_promisor(basename: Optional[str]) -> None:
    """A ``.promisor`` file tells git the pack came from a filtered (partial) fetch."""
    if basename:
        with open(basename + ".promisor", "wb"):
            pass


def store_pack_stream(store, chunks: Iterable[bytes],
                      progress: Optional[Callable[[bytes], object]] = None,
                      promisor: bool = False) -> int:
    """Index the received (maybe thin) pack as it arrives; return its object count.

    Never holds the pack in memory: chunks go straight to the indexer, which
    writes a temp file; on any error (corrupt pack, hangup, remote error) the
    temp files are removed and the store is unchanged.
    """
    pack_dir = getattr(store, "pack_dir", None)
    if pack_dir is None or progress is None:
        pack = store.add_pack_stream(chunks, thin=True)
        if pack is None:
            return 0
        if promisor:
            _mark_promisor(getattr(pack, "basename", None))
        return pack if isinstance(pack, int) else len(pack)
    from ..pack_indexer import PackIndexer, install_pack
    meter = ProgressMeter("Receiving objects", progress)
    indexer = PackIndexer(pack_dir, store.hash_algo, fix_thin=True,
                          resolve_ext_ref=_resolver(store))
    nbytes = 0
    try:
        for chunk in chunks:
            nbytes += len(chunk)
            indexer.feed(chunk)
            meter.update(indexer.objects_received, indexer.num_objects or None, nbytes)
    except BaseException:
        indexer.abort()
        raise
    total = indexer.num_objects
    if total:
        meter.update(total, total, nbytes)
        meter.finish()
    result = indexer.finish()
    if result.num_objects == 0:
        for p in (result.pack_path, result.idx_path):
            try:
                os.unlink(p)
            except (FileNotFoundError, TypeError):
                pass
        return 0
    basename = install_pack(result, pack_dir)
    if promisor:
        _mark_promisor(basename)
    store._pack_cache = None
    return result.num_objects


def _shallow_path(repo) -> Optional[str]:
    controldir = getattr(repo, "controldir", None)
    if controldir is None:
        return None
    return os.path.join(controldir() if callable(controldir) else controldir, "shallow")


def read_shallow(repo) -> set:
    """Commits at the shallow boundary (``.git/shallow``)."""
    path = _shallow_path(repo)
    if path is None:
        return set(getattr(repo, "_shallow", ()))
    try:
        with open(path, "rb") as f:
            return {line.strip() for line in f if line.strip()}
    except FileNotFoundError:
        return set()


def write_shallow(repo, shallow: set) -> None:
    path = _shallow_path(repo)
    if path is None:
        repo._shallow = set(shallow)
        return
    if not shallow:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    from ..object_store import write_file_atomically
    write_file_atomically(path, b"".join(s + b"\n" for s in sorted(shallow)))


def local_graph_walker(repo, shallow: Optional[set] = None) -> ObjectStoreGraphWalker:
    """Walk the local refs' commits newest first (haves for negotiation)."""
    store = repo.object_store
    heads = []
    for name, sha in sorted(repo.refs.as_dict().items()):
        if name.startswith(b"refs/") or name == b"HEAD":
            heads.append(sha)
    commits = []
    for sha in dict.fromkeys(heads):
        try:
            type_num, body = store.get_raw(sha)
            while type_num == 4:   # peel tags
                from ..graph import tag_target
                target, _ = tag_target(body)
                sha = target
                type_num, body = store.get_raw(sha)
        except KeyError:
            continue
        if type_num == 1:
            commits.append(sha)

    def get_parents(sha: bytes):
        type_num, body = store.get_raw(sha)
        return commit_tree_and_parents(body)[1] if type_num == 1 else []

    def get_time(sha: bytes) -> int:
        type_num, body = store.get_raw(sha)
        return commit_time(body) if type_num == 1 else 0

    return ObjectStoreGraphWalker(commits, get_parents, shallow=shallow, get_commit_time=get_time)
