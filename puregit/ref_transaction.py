"""Compare-and-swap for a push's ref updates: lock every ref, check each old
value under its lock, then write them all (or release them all).

Used by :mod:`puregit.receive_pack`, which re-exports :class:`RefTransaction`.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from .errors import RefError
from .receive_policy import FAILED_TO_UPDATE, Command
from .refs import SYMREF

__all__ = ["RefTransaction"]


class RefTransaction:
    """Lock every ref, compare under the locks, then write all (or release all).

    ``prepare`` returns, per command, None or cgit's reason; ``commit`` writes
    the prepared ones; ``abort`` releases every lock and removes directories
    that locking created.  Works on ``DiskRefsContainer``; other containers
    get :class:`_SimpleTransaction`.
    """

    def __init__(self, refs, zero: bytes, committer: Optional[bytes] = None,
                 message: bytes = b"push", log: Optional[Callable[[bytes], None]] = None) -> None:
        self.refs = refs
        self.zero = zero
        self.committer = committer
        self.message = message
        self.log = log or (lambda msg: None)
        self._locks: dict = {}
        self._current: dict = {}
        self._made_dirs: list = []
        self._packed_lock = None
        self._todo: list = []

    def _missing_dirs(self, path: str) -> list:
        out = []
        d = os.path.dirname(path)
        root = self.refs.path
        while d.startswith(root) and d != root and not os.path.isdir(d):
            out.append(d)
            d = os.path.dirname(d)
        return out

    def _read_locked(self, name: bytes) -> Optional[bytes]:
        raw = self.refs.read_loose_ref(name)
        if raw is None:
            raw = self.refs._packed.get(force=True).refs.get(name)
        return raw

    def prepare(self, cmd: Command) -> Optional[bytes]:
        refs = self.refs
        name = cmd.ref
        if name in self._locks:
            return FAILED_TO_UPDATE
        try:
            if not cmd.is_delete:
                refs._check_packed_conflict(name)
            self._made_dirs += self._missing_dirs(refs.refpath(name))
            lock = refs._lock(name)
        except (RefError, OSError, ValueError) as exc:
            self.log(f"error: cannot lock ref '{os.fsdecode(name)}': {exc}".encode())
            return FAILED_TO_UPDATE
        self._locks[name] = lock
        try:
            current = self._read_locked(name)
        except (RefError, OSError) as exc:
            self.log(f"error: cannot read ref '{os.fsdecode(name)}': {exc}".encode())
            return FAILED_TO_UPDATE
        if current is not None and current.startswith(SYMREF):
            self.log(f"error: cannot update symbolic ref '{os.fsdecode(name)}'".encode())
            return FAILED_TO_UPDATE
        if cmd.is_delete:
            if cmd.is_create:      # old unknown to the client: no check (cgit)
                if current is None:
                    self.log(b"warning: deleting a non-existent ref")
            elif current != cmd.old:
                what = "unable to resolve reference" if current is None else \
                    f"is at {os.fsdecode(current)} but expected {os.fsdecode(cmd.old)}"
                self.log(f"error: cannot lock ref '{os.fsdecode(name)}': {what}".encode())
                return FAILED_TO_UPDATE
            if current is not None and name in refs._packed.get().refs and self._packed_lock is None:
                from .packed_refs import LockFile
                try:
                    self._packed_lock = LockFile(refs._packed.path, fsync=refs.fsync)
                except RefError as exc:
                    self.log(f"error: {exc}".encode())
                    return FAILED_TO_UPDATE
        elif cmd.is_create:
            if current is not None:
                self.log(f"error: cannot lock ref '{os.fsdecode(name)}': reference already exists"
                         .encode())
                return FAILED_TO_UPDATE
        elif current != cmd.old:
            what = "unable to resolve reference" if current is None else \
                f"is at {os.fsdecode(current)} but expected {os.fsdecode(cmd.old)}"
            self.log(f"error: cannot lock ref '{os.fsdecode(name)}': {what}".encode())
            return FAILED_TO_UPDATE
        self._current[name] = current
        self._todo.append(cmd)
        return None

    def release(self, cmd: Command) -> None:
        """Give up one prepared command (atomic failure elsewhere, etc.)."""
        if cmd in self._todo:
            self._todo.remove(cmd)

    def commit(self) -> dict:
        """Write the prepared commands; return {ref: reason} for any that failed late."""
        refs = self.refs
        failed: dict = {}
        try:
            deletes = [c for c in self._todo if c.is_delete and self._current.get(c.ref) is not None]
            packed_names = {c.ref for c in deletes if c.ref in refs._packed.get().refs}
            if packed_names and self._packed_lock is not None:
                snap = refs._packed.get(force=True)
                new_refs = {k: v for k, v in snap.refs.items() if k not in packed_names}
                new_peeled = {k: v for k, v in snap.peeled.items() if k not in packed_names}
                refs._packed.write(new_refs, new_peeled, self._packed_lock)
                self._packed_lock = None
            for cmd in self._todo:
                name = cmd.ref
                current = self._current.get(name)
                lock = self._locks[name]
                try:
                    if cmd.is_delete:
                        if current is None:
                            continue
                        try:
                            os.unlink(refs.refpath(name))
                        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                            pass
                        refs._log(name, current, None, self.committer, None, None, self.message)
                        refs._delete_reflog(name)
                    else:
                        lock.write(cmd.new + b"\n")
                        refs._log(name, current, cmd.new, self.committer, None, None, self.message)
                        lock.commit()
                except OSError as exc:
                    self.log(f"error: cannot update ref '{os.fsdecode(name)}': {exc}".encode())
                    failed[name] = FAILED_TO_UPDATE
        finally:
            self.abort(cleanup_dirs=False)
            for cmd in self._todo:
                if cmd.is_delete:
                    refs._remove_empty_parents(refs.refpath(cmd.ref), cmd.ref)
        return failed

    def abort(self, cleanup_dirs: bool = True) -> None:
        for lock in self._locks.values():
            lock.rollback()
        self._locks.clear()
        if self._packed_lock is not None:
            self._packed_lock.rollback()
            self._packed_lock = None
        if cleanup_dirs:
            for d in sorted(set(self._made_dirs), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        self._made_dirs = []


class _SimpleTransaction(RefTransaction):
    """For containers without lock files (memory): check, then compare-and-swap each."""

    def prepare(self, cmd: Command) -> Optional[bytes]:
        current = self.refs.read_ref(cmd.ref)
        if current is not None and current.startswith(SYMREF):
            return FAILED_TO_UPDATE
        if cmd.is_delete:
            if not cmd.is_create and current != cmd.old:
                return FAILED_TO_UPDATE
        elif cmd.is_create:
            if current is not None:
                return FAILED_TO_UPDATE
        elif current != cmd.old:
            return FAILED_TO_UPDATE
        self._current[cmd.ref] = current
        self._todo.append(cmd)
        return None

    def commit(self) -> dict:
        failed = {}
        for cmd in self._todo:
            cur = self._current.get(cmd.ref)
            if cmd.is_delete:
                ok = cur is None or self.refs.remove_if_equals(cmd.ref, cur)
            elif cur is None:
                ok = self.refs.add_if_new(cmd.ref, cmd.new)
            else:
                ok = self.refs.set_if_equals(cmd.ref, cur, cmd.new)
            if not ok:
                failed[cmd.ref] = FAILED_TO_UPDATE
        self._todo = []
        return failed

    def abort(self, cleanup_dirs: bool = True) -> None:
        self._todo = []

