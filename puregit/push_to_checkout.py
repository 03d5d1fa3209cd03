"""``receive.denyCurrentBranch=updateInstead``: a push to the checked-out branch updates the tree.

As cgit's ``push_to_deploy``: the push is taken only if the work tree
matches the index and the index matches HEAD (files git does not track may
be there, unless the new commit brings a file of the same name); then the
work tree and the index move to the new commit.  Otherwise the ref is not
updated and the client reads git's reason.  A ``push-to-checkout`` hook,
when there is one, decides instead (it gets the new commit and must update
the tree itself), as in git.
"""

from __future__ import annotations

import os
import stat
from typing import Callable, Optional

from .graph import commit_tree_and_parents, parse_tree_entries
from .index import (Index, _split_time, cleanup_mode, index_entry_from_stat,
                    validate_path_element)

__all__ = ["update_worktree", "UNSTAGED", "STAGED", "CANNOT_UPDATE"]

UNSTAGED = b"Working directory has unstaged changes"
STAGED = b"Working directory has staged changes"
CANNOT_UPDATE = b"Could not update working tree to new HEAD"
_DIR, _GITLINK, _LINK = 0o40000, 0o160000, 0o120000


def _flatten(get_raw: Callable, commit: Optional[bytes], digest: int) -> dict:
    """path -> (mode, hex id) of every non-tree entry of a commit's tree ({} for none)."""
    out: dict = {}
    if commit is None:
        return out
    tree = commit_tree_and_parents(get_raw(commit)[1])[0]
    stack = [(tree, b"")]
    while stack:
        sha, prefix = stack.pop()
        for mode, name, child in parse_tree_entries(get_raw(sha)[1], digest):
            m = int(mode, 8)
            path = prefix + name
            if m == _DIR:
                stack.append((child.hex().encode("ascii"), path + b"/"))
            else:
                out[path] = (m, child.hex().encode("ascii"))
    return out


def _blob_id(hash_algo, data: bytes) -> bytes:
    h = hash_algo.new(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest().encode("ascii")


def _file_matches(full: bytes, entry, hash_algo, index_mtime_ns: int) -> bool:
    """Whether the work-tree file still holds what the index says.

    The stat data decide when they match and the file is older than the
    index (a file changed in the same instant the index was written is
    "racily clean" and gets its contents hashed, as git does).
    """
    try:
        st = os.lstat(full)
    except OSError:
        return False
    mode = entry.mode
    if mode == _GITLINK:
        return stat.S_ISDIR(st.st_mode)
    if cleanup_mode(st.st_mode) != mode or (st.st_size & 0xFFFFFFFF) != entry.size:
        return False
    sec, nsec = _split_time(entry.mtime)
    if (sec, nsec) == (int(st.st_mtime), st.st_mtime_ns % 1_000_000_000) \
            and st.st_mtime_ns < index_mtime_ns:
        return True
    try:
        data = os.readlink(full) if mode == _LINK else _read(full)
    except OSError:
        return False
    return _blob_id(hash_algo, data) == entry.sha


def _read(path: bytes) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _safe(path: bytes) -> bool:
    return all(validate_path_element(p) for p in path.split(b"/"))


def update_worktree(repo, old: Optional[bytes], new: bytes, get_raw: Callable) -> Optional[bytes]:
    """Move ``repo``'s work tree and index from commit ``old`` (None: unborn) to ``new``.

    ``get_raw`` reads objects (the quarantine's, for a push).  Returns None
    on success, else git's reason (nothing is changed then).
    """
    hash_algo = repo.object_store.hash_algo
    digest = hash_algo.digest_size
    root = os.fsencode(repo.path)
    index = repo.open_index()
    if index.has_conflicts():
        return UNSTAGED
    entries = dict(index.items())
    try:
        index_mtime_ns = os.stat(index.path).st_mtime_ns
    except OSError:
        index_mtime_ns = 0
    for path, entry in entries.items():
        if not _file_matches(os.path.join(root, path), entry, hash_algo, index_mtime_ns):
            return UNSTAGED
    head = _flatten(get_raw, old, digest)
    if {p: (e.mode, e.sha) for p, e in entries.items()} != head:
        return STAGED
    target = _flatten(get_raw, new, digest)
    if not all(_safe(p) for p in target):
        return CANNOT_UPDATE
    for path in target:
        if path in head:
            continue
        # something git does not track in the way of a new file (or of its directory)
        full = os.path.join(root, path)
        if os.path.lexists(full):
            return CANNOT_UPDATE
        parent = os.path.dirname(path)
        while parent:
            # a file or a symlink (even to a directory: writing through it would land
            # outside the work tree) where the new file needs a directory
            p = os.path.join(root, parent)
            if (os.path.islink(p) or (os.path.lexists(p) and not os.path.isdir(p))) \
                    and parent not in head:
                return CANNOT_UPDATE
            parent = os.path.dirname(parent)
    try:
        _apply(root, head, target, get_raw)
    except OSError:
        return CANNOT_UPDATE
    fresh = Index(index.path, read=False, version=index.version, hash_algo=hash_algo)
    for path, (mode, sha) in target.items():
        full = os.path.join(root, path)
        try:
            st = os.lstat(full)
        except OSError:
            return CANNOT_UPDATE
        fresh[path] = index_entry_from_stat(st, sha, mode)
    fresh.write()
    return None


def _apply(root: bytes, head: dict, target: dict, get_raw: Callable) -> None:
    """Remove what ``target`` drops, then write what it adds or changes."""
    for path in sorted(set(head) - set(target), reverse=True):
        full = os.path.join(root, path)
        if head[path][0] == _GITLINK:
            continue
        try:
            os.unlink(full)
        except FileNotFoundError:
            pass
        parent = os.path.dirname(full)
        while parent != root:
            try:
                os.rmdir(parent)   # only if empty
            except OSError:
                break
            parent = os.path.dirname(parent)
    for path, (mode, sha) in sorted(target.items()):
        if head.get(path) == (mode, sha):
            continue
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full) or root, exist_ok=True)
        if mode == _GITLINK:
            os.makedirs(full, exist_ok=True)
            continue
        body = get_raw(sha)[1]
        if os.path.islink(full) or (os.path.lexists(full) and not os.path.isdir(full)):
            os.unlink(full)   # never write through a symlink
        if mode == _LINK:
            os.symlink(body, full)
        else:
            with open(full, "wb") as f:   # created 0666 less the umask, as git does
                f.write(body)
            if mode == 0o100755:
                m = os.stat(full).st_mode
                os.chmod(full, m | ((m & 0o444) >> 2))   # x wherever r is
