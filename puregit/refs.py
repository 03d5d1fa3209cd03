"""References: name rules, and containers kept in memory or in a ``.git`` directory.

The API is Dulwich's (``refs[name]``, ``set_if_equals``, ``follow``...), with
one difference in spirit: compare-and-swap is honest.  ``set_if_equals``,
``add_if_new`` and ``remove_if_equals`` return False, changing nothing, when
the ref does not hold the expected old value; ``compare_and_set`` and
``compare_and_delete`` do the same but raise :class:`RefUpdateRejected`, for
callers that must not be able to ignore the outcome.

Old values: ``None`` means "don't care"; the all-zero id means "must not exist".
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Callable, Iterable, Mapping, Union

from .errors import (InvalidObjectId, InvalidRefName, RefFormatError, RefNameConflict,
                     RefNotFound, RefUpdateRejected, SymrefLoop)
from .hashes import SHA1, HashAlgorithm
from .packed_refs import LockFile, PackedRefsCache
from .reflog import Entry, format_reflog_line, read_reflog

__all__ = [
    "HEADREF", "SYMREF", "ZERO_SHA", "LOCAL_BRANCH_PREFIX", "LOCAL_TAG_PREFIX", "LOCAL_REMOTE_PREFIX",
    "check_ref_format", "check_ref_name_for_update", "parse_symref_value",
    "RefsContainer", "DictRefsContainer", "DiskRefsContainer",
]

HEADREF = b"HEAD"
SYMREF = b"ref: "
ZERO_SHA = b"0" * 40
LOCAL_BRANCH_PREFIX = b"refs/heads/"
LOCAL_TAG_PREFIX = b"refs/tags/"
LOCAL_REMOTE_PREFIX = b"refs/remotes/"
MAX_SYMREF_DEPTH = 5

NameLike = Union[bytes, str]
Logger = Callable[..., None]

_BAD_REF_CHARS = frozenset(b" ~^:?[\\\x7f") | frozenset(range(0x20))
_PSEUDOREF = re.compile(rb"[A-Z_]+\Z")
_PER_WORKTREE_PREFIXES = (b"refs/bisect/", b"refs/worktree/", b"refs/rewritten/")
_HEXDIGITS = frozenset(b"0123456789abcdef")


# --- names ---------------------------------------------------------------

def _n(name: NameLike) -> bytes:
    return name.encode("utf-8") if isinstance(name, str) else bytes(name)


def check_ref_format(refname: NameLike, allow_onelevel: bool = False, refspec_pattern: bool = False) -> bool:
    """Whether ``refname`` obeys git-check-ref-format's rules.

    Without ``allow_onelevel`` a name needs at least one ``/`` (``refs/...``),
    so ``HEAD`` is refused here; callers that accept it check for it first.
    """
    name = _n(refname)
    if not name or name == b"@" or name.endswith(b".") or b"@{" in name or b".." in name:
        return False
    components = name.split(b"/")
    if len(components) < 2 and not allow_onelevel:
        return False
    stars = 0
    for comp in components:
        if not comp or comp.startswith(b".") or comp.endswith(b".lock"):
            return False
        if _BAD_REF_CHARS.intersection(comp):
            return False
        stars += comp.count(b"*")
    return stars == 0 or (refspec_pattern and stars == 1)


def check_ref_name_for_update(name: NameLike) -> bytes:
    """Return ``name`` as bytes if it may be written: ``HEAD`` or a valid ``refs/...`` name.

    Raises InvalidRefName otherwise; every path built from a ref name goes
    through this or :func:`_is_readable_name` first.
    """
    name = _n(name)
    if name == HEADREF or (name.startswith(b"refs/") and check_ref_format(name)):
        return name
    raise InvalidRefName(f"invalid ref name {name!r}")


def _is_readable_name(name: bytes) -> bool:
    """Names we will look up: HEAD, refs/..., and ALL_CAPS pseudo-refs like FETCH_HEAD."""
    if name == HEADREF:
        return True
    if name.startswith(b"refs/"):
        return check_ref_format(name)
    return bool(_PSEUDOREF.match(name))


def parse_symref_value(contents: bytes) -> bytes:
    """The target of ``b"ref: refs/heads/x"``; ValueError if it is not a symref."""
    if contents.startswith(SYMREF):
        return contents[len(SYMREF):]
    raise ValueError(contents)


def _is_zero(sha: bytes | None) -> bool:
    return sha is not None and len(sha) in (40, 64) and sha.count(b"0") == len(sha)


def _cas_matches(current: bytes | None, old_ref: bytes | None) -> bool:
    if old_ref is None:
        return True
    if _is_zero(old_ref):
        return current is None
    return current == old_ref


def _id(value: NameLike | None) -> bytes | None:
    return None if value is None else _n(value)


def _follow(name: bytes, read: Callable[[bytes], bytes | None]) -> tuple[list[bytes], bytes | None]:
    contents: bytes | None = SYMREF + name
    names: list[bytes] = []
    while contents is not None and contents.startswith(SYMREF):
        target = contents[len(SYMREF):]
        if len(names) > MAX_SYMREF_DEPTH or target in names:
            raise SymrefLoop(f"symbolic ref loop or too deep at {name!r}: {names!r}")
        names.append(target)
        contents = read(target)
    return names, contents


# --- base container ------------------------------------------------------

class RefsContainer:
    """What every refs store offers; subclasses supply storage primitives."""

    def __init__(self, logger: Logger | None = None):
        self._logger = logger

    # primitives --------------------------------------------------------
    def get_packed_refs(self) -> dict[bytes, bytes]:
        """Refs stored in packed form (a copy); empty for stores without packing."""
        return {}

    def get_peeled(self, name: NameLike) -> bytes | None:
        """What ``name`` peels to if known (its own id if known not to be a tag), else None."""
        return None

    def read_loose_ref(self, name: NameLike) -> bytes | None:
        raise NotImplementedError

    def allkeys(self) -> set[bytes]:
        raise NotImplementedError

    def set_symbolic_ref(self, name: NameLike, other: NameLike, committer: bytes | None = None,
                         timestamp: int | None = None, timezone: int | None = None,
                         message: bytes | None = None) -> None:
        raise NotImplementedError

    def set_if_equals(self, name: NameLike, old_ref: bytes | None, new_ref: bytes,
                      committer: bytes | None = None, timestamp: int | None = None,
                      timezone: int | None = None, message: bytes | None = None) -> bool:
        raise NotImplementedError

    def remove_if_equals(self, name: NameLike, old_ref: bytes | None, committer: bytes | None = None,
                         timestamp: int | None = None, timezone: int | None = None,
                         message: bytes | None = None) -> bool:
        raise NotImplementedError

    # derived -----------------------------------------------------------
    def add_if_new(self, name: NameLike, ref: bytes, committer: bytes | None = None,
                   timestamp: int | None = None, timezone: int | None = None,
                   message: bytes | None = None) -> bool:
        """Create ``name`` (through symrefs) only if it does not exist yet."""
        return self.set_if_equals(name, ZERO_SHA, ref, committer, timestamp, timezone, message)

    def compare_and_set(self, name: NameLike, old_ref: bytes | None, new_ref: bytes, **kw) -> None:
        """Like set_if_equals, but a mismatch raises RefUpdateRejected."""
        if not self.set_if_equals(name, old_ref, new_ref, **kw):
            raise RefUpdateRejected(self._mismatch(name, old_ref))

    def compare_and_delete(self, name: NameLike, old_ref: bytes | None, **kw) -> None:
        """Like remove_if_equals, but a mismatch raises RefUpdateRejected."""
        if not self.remove_if_equals(name, old_ref, **kw):
            raise RefUpdateRejected(self._mismatch(name, old_ref))

    def _mismatch(self, name: NameLike, old_ref: bytes | None) -> str:
        try:
            current = self.follow(name)[1]
        except RefFormatError:
            current = b"?"
        if _is_zero(_id(old_ref)):
            return f"cannot lock ref {_n(name)!r}: reference already exists"
        return f"cannot lock ref {_n(name)!r}: is at {current!r} but expected {old_ref!r}"

    def read_ref(self, name: NameLike) -> bytes | None:
        """Raw contents: an id, ``b"ref: <target>"``, or None if absent."""
        contents = self.read_loose_ref(name)
        if contents is None:
            contents = self.get_packed_refs().get(_n(name))
        return contents

    def follow(self, name: NameLike) -> tuple[list[bytes], bytes | None]:
        """Follow symrefs: ``([name, target, ...], final id or None)``; loops raise SymrefLoop."""
        return _follow(_n(name), self.read_ref)

    def __getitem__(self, name: NameLike) -> bytes:
        _, sha = self.follow(name)
        if sha is None:
            raise RefNotFound(_n(name))
        return sha

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, (bytes, str)):
            return False
        return self.read_ref(name) is not None

    def __setitem__(self, name: NameLike, ref: bytes) -> None:
        self.set_if_equals(name, None, ref)

    def __delitem__(self, name: NameLike) -> None:
        """Delete ``name`` itself (not what it points to); a missing ref is not an error (Dulwich)."""
        self.remove_if_equals(name, None)

    def __iter__(self):
        return iter(self.allkeys())

    def keys(self, base: NameLike | None = None) -> set[bytes]:
        return self.subkeys(base) if base is not None else self.allkeys()

    def subkeys(self, base: NameLike) -> set[bytes]:
        """Names under ``base`` with the ``base/`` prefix removed."""
        prefix = _n(base).rstrip(b"/") + b"/"
        return {name[len(prefix):] for name in self.allkeys() if name.startswith(prefix)}

    def as_dict(self, base: NameLike | None = None) -> dict[bytes, bytes]:
        """Name -> id after following symrefs; dangling, looping or broken refs are skipped."""
        return self._as_dict(base, self.read_ref)

    def _as_dict(self, base: NameLike | None, read: Callable[[bytes], bytes | None]) -> dict[bytes, bytes]:
        return self._as_dict_of(base, self.allkeys(), read)

    @staticmethod
    def _as_dict_of(base: NameLike | None, names: Iterable[bytes],
                    read: Callable[[bytes], bytes | None]) -> dict[bytes, bytes]:
        prefix = b"" if base is None else _n(base).rstrip(b"/") + b"/"
        out = {}
        for name in sorted(names):
            if not name.startswith(prefix):
                continue
            try:
                sha = _follow(name, read)[1]
            except (SymrefLoop, RefFormatError):
                continue
            if sha is not None:
                out[name[len(prefix):]] = sha
        return out

    def get_symrefs(self) -> dict[bytes, bytes]:
        return self._symrefs_of(self.allkeys(), self.read_ref)

    @staticmethod
    def _symrefs_of(names: Iterable[bytes], read: Callable[[bytes], bytes | None]) -> dict:
        """name -> target of the symrefs among ``names``; unreadable ones are skipped."""
        out = {}
        for name in names:
            try:
                raw = read(name)
            except RefFormatError:
                continue
            if raw is not None and raw.startswith(SYMREF):
                out[name] = raw[len(SYMREF):]
        return out

    def import_refs(self, base: NameLike, other: Mapping[bytes, bytes | None],
                    committer: bytes | None = None, timestamp: int | None = None,
                    timezone: int | None = None, message: bytes | None = None,
                    prune: bool = False) -> None:
        """Set ``base/<name>`` for each entry of ``other`` (None deletes); ``prune`` drops the rest."""
        base = _n(base).rstrip(b"/")
        to_delete = set(self.subkeys(base)) if prune else set()
        for name, value in other.items():
            name = _n(name)
            if value is None:
                to_delete.add(name)
                continue
            self.set_if_equals(base + b"/" + name, None, value, committer, timestamp, timezone, message)
            to_delete.discard(name)
        for name in to_delete:
            self.remove_if_equals(base + b"/" + name, None, committer, timestamp, timezone, message)

    def _log(self, name: bytes, old: bytes | None, new: bytes | None, committer, timestamp,
             timezone, message) -> None:
        if self._logger is not None and (committer is not None or message is not None):
            self._logger(name, old, new, committer, timestamp, timezone, message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --- in memory -----------------------------------------------------------

class DictRefsContainer(RefsContainer):
    """Refs in a dict (name -> id or ``b"ref: target"``), plus known peeled ids."""

    def __init__(self, refs: dict[bytes, bytes], logger: Logger | None = None):
        super().__init__(logger)
        self._refs = refs
        self._peeled: dict[bytes, bytes] = {}
        self._lock = threading.RLock()

    def allkeys(self) -> set[bytes]:
        return set(self._refs)

    def read_loose_ref(self, name: NameLike) -> bytes | None:
        return self._refs.get(_n(name))

    def get_packed_refs(self) -> dict[bytes, bytes]:
        return {}

    def get_peeled(self, name: NameLike) -> bytes | None:
        return self._peeled.get(_n(name))

    def _update_peeled(self, peeled: Mapping[bytes, bytes]) -> None:
        self._peeled.update(peeled)

    def _update(self, refs: Mapping[bytes, bytes]) -> None:
        self._refs.update(refs)

    def set_symbolic_ref(self, name, other, committer=None, timestamp=None, timezone=None, message=None):
        name, other = check_ref_name_for_update(name), check_ref_name_for_update(other)
        with self._lock:
            old = self.follow(name)[1] if name in self._refs else None
            self._refs[name] = SYMREF + other
            self._peeled.pop(name, None)
            try:
                new = self.follow(name)[1]
            except SymrefLoop:
                new = None  # a loop is stored as asked (as on disk); reads will refuse it
            self._log(name, old, new, committer, timestamp, timezone, message)

    def set_if_equals(self, name, old_ref, new_ref, committer=None, timestamp=None, timezone=None,
                      message=None) -> bool:
        name, old_ref, new_ref = check_ref_name_for_update(name), _id(old_ref), _id(new_ref)
        with self._lock:
            names, current = self.follow(name)
            realname = check_ref_name_for_update(names[-1])
            if not _cas_matches(current, old_ref):
                return False
            self._refs[realname] = new_ref
            self._peeled.pop(realname, None)
            self._log(realname, current, new_ref, committer, timestamp, timezone, message)
            return True

    def remove_if_equals(self, name, old_ref, committer=None, timestamp=None, timezone=None,
                         message=None) -> bool:
        name, old_ref = check_ref_name_for_update(name), _id(old_ref)
        with self._lock:
            current = self.follow(name)[1] if name in self._refs else None
            if not _cas_matches(current, old_ref):
                return False
            if self._refs.pop(name, None) is not None:
                self._peeled.pop(name, None)
                self._log(name, current, None, committer, timestamp, timezone, message)
            return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._refs!r})"


# --- on disk -------------------------------------------------------------

def _local_timezone() -> int:
    lt = time.localtime()
    return lt.tm_gmtoff if lt.tm_gmtoff is not None else -time.timezone


class DiskRefsContainer(RefsContainer):
    """Loose refs, ``packed-refs`` and reflogs in a git directory.

    Every update takes ``<ref>.lock`` exclusively, checks the old value under
    that lock, writes the lock file and renames it into place, which is the
    protocol git itself follows, so puregit and git can share a repository.
    ``logger``, if given, replaces the built-in reflog writer (Dulwich's hook).
    """

    def __init__(self, path: str | os.PathLike, worktree_path: str | os.PathLike | None = None,
                 logger: Logger | None = None, hash_algorithm: HashAlgorithm = SHA1,
                 log_all_ref_updates: bool = True, fsync: bool = False):
        super().__init__(logger)
        self.path = os.fspath(path)
        self.worktree_path = os.fspath(worktree_path) if worktree_path is not None else self.path
        self.hash_algorithm = hash_algorithm
        self.log_all_ref_updates = log_all_ref_updates
        self.fsync = fsync
        self._packed = PackedRefsCache(os.path.join(self.path, "packed-refs"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    # paths -------------------------------------------------------------
    def _base_for(self, name: bytes) -> str:
        if self.worktree_path != self.path and (
                name == HEADREF or _PSEUDOREF.match(name) or name.startswith(_PER_WORKTREE_PREFIXES)):
            return self.worktree_path
        return self.path

    def refpath(self, name: NameLike) -> str:
        """Filesystem path of a (validated) ref name."""
        name = _n(name)
        if not _is_readable_name(name):
            raise InvalidRefName(f"invalid ref name {name!r}")
        return os.path.join(self._base_for(name), *os.fsdecode(name).split("/"))

    def _logpath(self, name: bytes) -> str:
        return os.path.join(self._base_for(name), "logs", *os.fsdecode(name).split("/"))

    # reading -----------------------------------------------------------
    def _parse_loose(self, name: bytes, data: bytes) -> bytes:
        if data.startswith(b"ref:"):
            target = data[4:].strip()
            if not _is_readable_name(target):
                raise RefFormatError(f"ref {name!r} points at an invalid name {target!r}")
            return SYMREF + target
        size = self.hash_algorithm.hex_size
        sha = data[:size].lower()
        if len(sha) != size or not _HEXDIGITS.issuperset(sha) or data[size:size + 1] not in (
                b"", b" ", b"\n", b"\t", b"\r"):
            raise RefFormatError(f"ref {name!r} holds junk: {data[:80]!r}")
        return sha

    def read_loose_ref(self, name: NameLike) -> bytes | None:
        """Contents of the loose ref file, or None; junk raises RefFormatError."""
        name = _n(name)
        if not _is_readable_name(name):
            return None
        try:
            with open(self.refpath(name), "rb") as f:
                data = f.read(4096)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except PermissionError:
            if os.path.isdir(self.refpath(name)):
                return None
            raise
        return self._parse_loose(name, data)

    def get_packed_refs(self) -> dict[bytes, bytes]:
        return dict(self._packed.get().refs)

    def _read_with(self, snap) -> Callable[[bytes], bytes | None]:
        def read(name: bytes) -> bytes | None:
            loose = self.read_loose_ref(name)
            return loose if loose is not None else snap.refs.get(name)
        return read

    def read_ref(self, name: NameLike) -> bytes | None:
        name = _n(name)
        loose = self.read_loose_ref(name)
        return loose if loose is not None else self._packed.get().refs.get(name)

    def as_dict(self, base: NameLike | None = None) -> dict[bytes, bytes]:
        """Name -> id of every ref, reading each loose ref file once.

        A repository with thousands of packed refs (a mirror with pull
        requests) would otherwise cost a failed ``open`` per packed ref, and
        one more per symref hop.
        """
        snap = self._packed.get()
        names = self._loose_names()
        loose: dict[bytes, bytes] = {}
        broken: set[bytes] = set()
        for name in names:
            try:
                value = self.read_loose_ref(name)
            except RefFormatError:
                broken.add(name)
                continue
            if value is not None:
                loose[name] = value
        packed = snap.refs

        def read(name: bytes) -> bytes | None:
            value = loose.get(name)
            if value is not None:
                return value
            if name in broken:
                raise RefFormatError(f"ref {name!r} holds junk")
            if name not in names and name not in packed:
                return self.read_loose_ref(name)   # not listed: a pseudo-ref, or new since
            return packed.get(name)

        return self._as_dict_of(base, names | set(packed), read)

    def get_symrefs(self) -> dict[bytes, bytes]:
        """Symrefs are loose files only (packed-refs holds ids), so only those are read."""
        return self._symrefs_of(self._loose_names(), self.read_loose_ref)

    def get_peeled(self, name: NameLike) -> bytes | None:
        name = _n(name)
        snap = self._packed.get()
        if name not in snap.refs:
            return None
        loose = self.read_loose_ref(name)
        if loose is not None and loose != snap.refs[name]:
            return None
        return snap.peeled.get(name)

    def _loose_names(self) -> set[bytes]:
        names = set()
        roots = {self.path}
        if self.worktree_path != self.path:
            roots.add(self.worktree_path)
        for root in roots:
            top = os.path.join(root, "refs")
            for dirpath, _dirs, files in os.walk(top):
                rel = os.path.relpath(dirpath, root).replace(os.sep, "/")
                for fname in files:
                    name = os.fsencode(rel + "/" + fname)
                    if not fname.endswith(".lock") and check_ref_format(name):
                        if self._base_for(name) == root:
                            names.add(name)
        if os.path.isfile(os.path.join(self.worktree_path, "HEAD")):
            names.add(HEADREF)
        return names

    def allkeys(self) -> set[bytes]:
        return self._loose_names() | set(self._packed.get().refs)

    # locking helpers ---------------------------------------------------
    def _lock(self, name: bytes) -> LockFile:
        path = self.refpath(name)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise RefNameConflict(f"cannot lock ref {name!r}: a ref is in the way of its directory")
        if os.path.isdir(path):
            self._remove_empty_tree(path, name)
        return LockFile(path, fsync=self.fsync)

    @staticmethod
    def _remove_empty_tree(path: str, name: bytes) -> None:
        for dirpath, dirs, files in os.walk(path, topdown=False):
            if files:
                raise RefNameConflict(f"cannot lock ref {name!r}: refs exist below it")
            os.rmdir(dirpath)

    def _check_packed_conflict(self, name: bytes) -> None:
        prefix = name + b"/"
        for other in self._packed.get().refs:
            if other.startswith(prefix) or name.startswith(other + b"/"):
                raise RefNameConflict(f"ref {name!r} conflicts with existing ref {other!r}")

    def _remove_empty_parents(self, path: str, name: bytes) -> None:
        """rmdir empty directories left by a deleted ref, keeping ``refs/<kind>`` like git."""
        parts = name.split(b"/")
        for _ in range(len(parts) - 3):
            path = os.path.dirname(path)
            try:
                os.rmdir(path)
            except OSError:
                return

    def _check_new_id(self, value: NameLike) -> bytes:
        sha = _n(value)
        if len(sha) != self.hash_algorithm.hex_size or not _HEXDIGITS.issuperset(sha):
            raise InvalidObjectId(f"not a {self.hash_algorithm.name} hex id: {sha!r}")
        return sha

    # reflog ------------------------------------------------------------
    def _should_log(self, name: bytes) -> bool:
        if os.path.isfile(self._logpath(name)):
            return True
        return self.log_all_ref_updates and (
            name == HEADREF or name.startswith((LOCAL_BRANCH_PREFIX, LOCAL_REMOTE_PREFIX, b"refs/notes/")))

    def _log(self, name, old, new, committer, timestamp, timezone, message) -> None:
        if self._logger is not None:
            return super()._log(name, old, new, committer, timestamp, timezone, message)
        if committer is None or not self._should_log(name):
            return
        line = format_reflog_line(
            old, new, _n(committer), time.time() if timestamp is None else timestamp,
            _local_timezone() if timezone is None else timezone, _n(message) if message else b"")
        path = self._logpath(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read_reflog(self, name: NameLike) -> list[Entry]:
        """Entries of ``logs/<name>``, oldest first; [] if there is no reflog."""
        name = _n(name)
        if not _is_readable_name(name):
            raise InvalidRefName(f"invalid ref name {name!r}")
        try:
            with open(self._logpath(name), "rb") as f:
                return list(read_reflog(f))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _delete_reflog(self, name: bytes) -> None:
        path = self._logpath(name)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        self._remove_empty_parents(path, name)

    # writing -----------------------------------------------------------
    def set_symbolic_ref(self, name, other, committer=None, timestamp=None, timezone=None, message=None):
        name, other = check_ref_name_for_update(name), check_ref_name_for_update(other)
        lock = self._lock(name)
        try:
            try:
                old = self.follow(name)[1]
            except (SymrefLoop, RefFormatError):
                old = None
            lock.write(SYMREF + other + b"\n")
            new = self.follow(other)[1]
            self._log(name, old, new, committer, timestamp, timezone, message)
            lock.commit()
        finally:
            lock.rollback()

    def set_if_equals(self, name, old_ref, new_ref, committer=None, timestamp=None, timezone=None,
                      message=None) -> bool:
        """Point ``name`` (or the ref it symlinks to) at ``new_ref`` if it holds ``old_ref``."""
        name, old_ref = check_ref_name_for_update(name), _id(old_ref)
        new_ref = self._check_new_id(new_ref)
        names, _ = self.follow(name)
        realname = check_ref_name_for_update(names[-1])
        self._check_packed_conflict(realname)
        lock = self._lock(realname)
        try:
            if self.follow(name)[0][-1] != realname:
                return False  # a symref in the chain moved while we locked
            current = self.read_ref(realname)
            if current is not None and current.startswith(SYMREF):
                return False
            if not _cas_matches(current, old_ref):
                return False
            lock.write(new_ref + b"\n")
            self._log(realname, current, new_ref, committer, timestamp, timezone, message)
            if realname != name:
                self._log(name, current, new_ref, committer, timestamp, timezone, message)
            lock.commit()
            return True
        finally:
            lock.rollback()

    def remove_if_equals(self, name, old_ref, committer=None, timestamp=None, timezone=None,
                         message=None) -> bool:
        """Delete ``name`` itself if it (resolved) holds ``old_ref``, from loose and packed storage."""
        name, old_ref = check_ref_name_for_update(name), _id(old_ref)
        path = self.refpath(name)
        lock = self._lock(name)
        try:
            raw = self.read_loose_ref(name)
            packed = self._packed.get()
            if raw is None:
                raw = packed.refs.get(name)
            current = raw
            if raw is not None and raw.startswith(SYMREF):
                try:
                    current = _follow(raw[len(SYMREF):], self.read_ref)[1]
                except SymrefLoop:
                    current = None
            if not _cas_matches(current, old_ref):
                return False
            if raw is None:
                return True
            if name in packed.refs:
                self._rewrite_packed(lambda refs, peeled: (refs.pop(name, None), peeled.pop(name, None)))
            try:
                os.unlink(path)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                pass
            self._log(name, current, None, committer, timestamp, timezone, message)
            self._delete_reflog(name)
            return True
        finally:
            lock.rollback()
            self._remove_empty_parents(path, name)

    def _rewrite_packed(self, change: Callable[[dict, dict], object]) -> None:
        """Apply ``change(refs, peeled)`` to a fresh read of packed-refs under its lock."""
        lock = LockFile(self._packed.path, fsync=self.fsync)
        try:
            snap = self._packed.get(force=True)
            refs, peeled = dict(snap.refs), dict(snap.peeled)
            change(refs, peeled)
            self._packed.write(refs, peeled, lock)
        finally:
            lock.rollback()

    def _lock_all(self, names: Iterable[bytes]) -> dict[bytes, LockFile]:
        locks: dict[bytes, LockFile] = {}
        try:
            for name in names:
                locks[name] = LockFile(self.refpath(name), fsync=self.fsync)
        except BaseException:
            for lock in locks.values():
                lock.rollback()
            raise
        return locks

    def add_packed_refs(self, new_refs: Mapping[bytes, bytes | None],
                        peeled: Mapping[bytes, bytes] | None = None) -> None:
        """Write refs straight into packed-refs (None removes one), dropping their loose files."""
        new_refs = {check_ref_name_for_update(k): (None if v is None else self._check_new_id(v))
                    for k, v in new_refs.items()}
        if HEADREF in new_refs:
            raise InvalidRefName("HEAD cannot be packed")
        peeled = {_n(k): _n(v) for k, v in (peeled or {}).items()}
        loose = [n for n in new_refs if os.path.lexists(self.refpath(n))]
        locks = self._lock_all(loose)
        try:
            def change(refs: dict, known: dict) -> None:
                for name, target in new_refs.items():
                    if target is None:
                        refs.pop(name, None)
                        known.pop(name, None)
                        continue
                    if refs.get(name) != target:
                        known.pop(name, None)
                    refs[name] = target
                    if name in peeled:
                        known[name] = peeled[name]
            self._rewrite_packed(change)
            for name in loose:
                path = self.refpath(name)
                try:
                    os.unlink(path)
                except OSError:
                    pass
        finally:
            for name, lock in locks.items():
                lock.rollback()
                self._remove_empty_parents(self.refpath(name), name)

    def pack_refs(self, all: bool = True, peel: Callable[[bytes], bytes | None] | None = None) -> None:
        """Move loose refs into packed-refs (tags only unless ``all``), like ``git pack-refs``.

        ``peel(id)`` should return the id an annotated tag finally points to, or
        None for non-tags; with it, every packed ref gets known peel status.
        """
        candidates = sorted(n for n in self._loose_names()
                            if n != HEADREF and n.startswith(b"refs/")
                            and (all or n.startswith(LOCAL_TAG_PREFIX))
                            and self._base_for(n) == self.path)
        locks = self._lock_all(candidates)
        packed_now: dict[bytes, bytes] = {}
        try:
            for name in candidates:
                raw = self.read_loose_ref(name)
                if raw is not None and not raw.startswith(SYMREF):
                    packed_now[name] = raw

            def change(refs: dict, known: dict) -> None:
                for name, sha in packed_now.items():
                    if refs.get(name) != sha:
                        known.pop(name, None)
                    refs[name] = sha
                if peel is not None:
                    for name, sha in refs.items():
                        if name not in known:
                            known[name] = peel(sha) or sha
            self._rewrite_packed(change)
            for name in packed_now:
                os.unlink(self.refpath(name))
        finally:
            for name, lock in locks.items():
                lock.rollback()
                if name in packed_now:
                    self._remove_empty_parents(self.refpath(name), name)
