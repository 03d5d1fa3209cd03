"""The ``packed-refs`` file format, lock files, and a cache that is safe to share.

Format (gitrepository-layout, packed-backend.c)::

    # pack-refs with: peeled fully-peeled sorted 
    <hex-id> SP <refname> LF
    ^<peeled-hex-id> LF          (only after an annotated tag)

The cache keeps one immutable :class:`PackedRefs` snapshot and replaces it
with a single assignment, so a thread that reads while another rewrites the
file sees either the old or the new set of refs, never half of one.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable, Iterator, Mapping

from .errors import RefFormatError, RefLockError

__all__ = [
    "PackedRefs",
    "PackedRefsCache",
    "LockFile",
    "parse_packed_refs",
    "format_packed_refs",
    "read_packed_refs",
    "read_packed_refs_with_peeled",
    "write_packed_refs",
    "PACKED_REFS_HEADER",
]

PACKED_REFS_HEADER = b"# pack-refs with: peeled fully-peeled sorted \n"
_SORTED_ONLY_HEADER = b"# pack-refs with: sorted \n"
_HEX = re.compile(rb"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")


@dataclass(frozen=True)
class PackedRefs:
    """One immutable reading of packed-refs.

    ``peeled`` maps a ref to what it peels to when that is known; a ref that is
    known *not* to be an annotated tag maps to its own id.
    """

    refs: Mapping[bytes, bytes] = field(default_factory=dict)
    peeled: Mapping[bytes, bytes] = field(default_factory=dict)
    stamp: tuple | None = None


def _check_id(value: bytes, lineno: int) -> bytes:
    if not _HEX.match(value):
        raise RefFormatError(f"packed-refs line {lineno}: invalid object id {value!r}")
    return value


def parse_packed_refs(data: bytes) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
    """Parse packed-refs bytes into ``(refs, peeled)``; junk raises RefFormatError."""
    refs: dict[bytes, bytes] = {}
    peeled: dict[bytes, bytes] = {}
    traits: set[bytes] = set()
    last: bytes | None = None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        raise RefFormatError("packed-refs: last line is not terminated")
    for lineno, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if lineno == 1 and line.startswith(b"# pack-refs with:"):
            traits = set(line[len(b"# pack-refs with:"):].split())
            continue
        if line.startswith(b"#"):
            continue
        if line.startswith(b"^"):
            if last is None:
                raise RefFormatError(f"packed-refs line {lineno}: peeled line without a ref")
            peeled[last] = _check_id(line[1:], lineno)
            last = None
            continue
        sha, sep, name = line.partition(b" ")
        if not sep or not name:
            raise RefFormatError(f"packed-refs line {lineno}: malformed line {line!r}")
        refs[name] = _check_id(sha, lineno)
        last = name
        if b"fully-peeled" in traits or (b"peeled" in traits and name.startswith(b"refs/tags/")):
            peeled[name] = refs[name]  # known not to peel, unless a ^ line follows
    return refs, peeled


def format_packed_refs(refs: Mapping[bytes, bytes], peeled: Mapping[bytes, bytes] | None = None) -> bytes:
    """Serialise refs sorted by name, as git writes them.

    The ``peeled fully-peeled`` traits are only claimed when ``peeled`` has an
    entry for every ref; claiming them without knowing would tell git that
    annotated tags are plain refs.
    """
    peeled = peeled or {}
    names = sorted(refs)
    header = PACKED_REFS_HEADER if all(n in peeled for n in names) else _SORTED_ONLY_HEADER
    out = [header]
    for name in names:
        sha = refs[name]
        out.append(sha + b" " + name + b"\n")
        p = peeled.get(name)
        if p is not None and p != sha:
            out.append(b"^" + p + b"\n")
    return b"".join(out)


def read_packed_refs_with_peeled(f: BinaryIO) -> Iterator[tuple[bytes, bytes, bytes | None]]:
    """Yield ``(sha, name, peeled_or_None)`` (Dulwich's shape)."""
    refs, peeled = parse_packed_refs(f.read())
    for name, sha in refs.items():
        p = peeled.get(name)
        yield sha, name, (p if p != sha else None)


def read_packed_refs(f: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(sha, name)`` pairs."""
    for sha, name, _ in read_packed_refs_with_peeled(f):
        yield sha, name


def write_packed_refs(f: BinaryIO, packed_refs: Mapping[bytes, bytes],
                      peeled_refs: Mapping[bytes, bytes] | None = None) -> None:
    f.write(format_packed_refs(packed_refs, peeled_refs))


def file_stamp(path: str) -> tuple | None:
    """What tells us a file changed: (mtime_ns, size, inode), or None if absent."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class LockFile:
    """``<path>.lock`` taken with O_CREAT|O_EXCL; commit() renames it into place.

    An existing lock (a concurrent writer, or one that crashed) raises
    RefLockError and leaves everything as it was.
    """

    def __init__(self, path: str, fsync: bool = False):
        self.path = path
        self.lock_path = path + ".lock"
        self.fsync = fsync
        try:
            self._fd: int | None = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise RefLockError(f"unable to lock {path}: {self.lock_path} exists; "
                               "another process may be running, or one crashed") from None
        except OSError as e:
            raise RefLockError(f"unable to lock {path}: {e}") from None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def commit(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(self.lock_path, self.path)
        except BaseException:
            self._unlink()
            raise

    def rollback(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._unlink()

    def _unlink(self) -> None:
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "LockFile":
        return self

    def __exit__(self, *exc) -> None:
        self.rollback()


class PackedRefsCache:
    """Snapshots of one packed-refs file, re-read when its stat stamp changes."""

    def __init__(self, path: str):
        self.path = path
        self._snapshot = PackedRefs()
        self._reload_lock = threading.Lock()

    def get(self, force: bool = False) -> PackedRefs:
        """The current snapshot; ``force`` re-reads even if the stamp looks unchanged."""
        snap = self._snapshot
        if not force and file_stamp(self.path) == snap.stamp:
            return snap
        with self._reload_lock:
            return self._reload(force)

    def _reload(self, force: bool) -> PackedRefs:
        for _ in range(10):
            before = file_stamp(self.path)
            if before is None:
                snap = PackedRefs()
            else:
                if before == self._snapshot.stamp and not force:
                    return self._snapshot
                try:
                    with open(self.path, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                if file_stamp(self.path) != before:
                    continue  # replaced while we read it: try again
                refs, peeled = parse_packed_refs(data)
                snap = PackedRefs(refs, peeled, before)
            self._snapshot = snap  # one assignment publishes it
            return snap
        raise RefFormatError(f"{self.path} keeps changing while being read")

    def write(self, refs: Mapping[bytes, bytes], peeled: Mapping[bytes, bytes], lock: LockFile) -> None:
        """Write new contents through an already-held lock and publish them."""
        refs, peeled = dict(refs), dict(peeled)
        lock.write(format_packed_refs(refs, peeled))
        lock.commit()
        self._snapshot = PackedRefs(refs, {k: v for k, v in peeled.items() if k in refs},
                                    file_stamp(self.path))

    def names(self) -> Iterable[bytes]:
        return self.get().refs.keys()
