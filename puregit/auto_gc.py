"""``gc --auto``: pack a repository again once it has collected enough packs.

A server that keeps every push as a pack (as receive-pack does) would
otherwise end up with thousands of packs, and every object lookup tries
each of them.  Like git, receive-pack checks after each push
(``receive.autogc``, default on) and, when needed, starts ``puregit gc
--auto --quiet``, which goes to the background (``gc.autoDetach``, default
on) so the push is not held up.

When it is needed, as git decides it:

* ``gc.auto`` (default 6700): about that many loose objects, estimated from
  the ``objects/17`` directory; 0 turns automatic packing off altogether;
* ``gc.autoPackLimit`` (default 50): more packs than that without a
  ``.keep`` file; 0 turns this check off.

``gc.pid`` in the repository keeps two of them from running at once (one
left by a process that is gone, or older than 12 hours, is taken over).
A gc that leaves too many loose objects behind (unreachable ones: gc does
not prune) says so in ``gc.log``; while that file is younger than a day,
``gc --auto`` does nothing, as in git, instead of repacking after every push.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Optional

from .errors import PuregitError

__all__ = ["needed", "start_after_push", "run_auto", "GcLock"]

DEFAULT_AUTO = 6700
DEFAULT_PACK_LIMIT = 50
STALE_SECONDS = 12 * 3600


def _config_int(config, name: bytes, default: int) -> int:
    try:
        value = config.get_int((b"gc",), name, default)
    except (ValueError, KeyError, PuregitError):   # a bad value: git would die; we skip
        return default
    return default if value is None else value


def _config_bool(config, section: bytes, name: bytes, default: bool) -> bool:
    try:
        value = config.get_boolean((section,), name, default)
    except (ValueError, KeyError, PuregitError):
        return default
    return default if value is None else value


def _objects_dir(repo) -> Optional[str]:
    store = getattr(repo, "object_store", None)
    return getattr(store, "path", None)


def _too_many_loose(objects: str, limit: int) -> bool:
    per_dir = -(-limit // 256)   # git: DIV_ROUND_UP(gc.auto, 256) in objects/17
    try:
        names = os.listdir(os.path.join(objects, "17"))
    except OSError:
        return False
    count = sum(1 for n in names if len(n) in (38, 62) and all(c in "0123456789abcdef" for c in n))
    return count > per_dir


def _too_many_packs(objects: str, limit: int) -> bool:
    pack_dir = os.path.join(objects, "pack")
    try:
        names = set(os.listdir(pack_dir))
    except OSError:
        return False
    count = 0
    for n in names:
        if n.startswith("pack-") and n.endswith(".idx"):
            base = n[:-4]
            if base + ".pack" in names and base + ".keep" not in names:
                count += 1
    return count > limit


LOG_EXPIRY = 24 * 3600


def _recent_log(repo) -> Optional[str]:
    """The text of a ``gc.log`` younger than a day, else None."""
    path = os.path.join(repo.controldir(), "gc.log")
    try:
        if time.time() - os.stat(path).st_mtime > LOG_EXPIRY:
            return None
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def needed(repo) -> bool:
    """Whether ``gc --auto`` would pack ``repo`` now (cheap: two directory listings)."""
    objects = _objects_dir(repo)
    if objects is None or _recent_log(repo) is not None:
        return False
    config = repo.get_config()
    auto = _config_int(config, b"auto", DEFAULT_AUTO)
    if auto <= 0:
        return False
    pack_limit = _config_int(config, b"autopacklimit", DEFAULT_PACK_LIMIT)
    if pack_limit > 0 and _too_many_packs(objects, pack_limit):
        return True
    return _too_many_loose(objects, auto)


class GcLock:
    """``gc.pid``: held by one gc at a time; ``acquire()`` is False when another one runs."""

    def __init__(self, controldir: str) -> None:
        self.path = os.path.join(controldir, "gc.pid")
        self.held = False

    def acquire(self) -> bool:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not self._stale():
                    return False
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()} {socket.gethostname()}")
            self.held = True
            return True
        return False

    def _stale(self) -> bool:
        try:
            if time.time() - os.stat(self.path).st_mtime > STALE_SECONDS:
                return True
            with open(self.path) as f:
                pid_text, _, host = f.read().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return True
        if host.strip() != socket.gethostname():
            return False   # another machine's gc: trust it until it is old
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def run_auto(repo, quiet: bool = False, progress=None) -> int:
    """``puregit gc --auto``: gc ``repo`` if :func:`needed`, in the background unless
    ``gc.autoDetach`` is false.  Returns an exit status."""
    log = _recent_log(repo)
    if log is not None:
        if not quiet:
            print("error: The last gc run reported the following. Please correct the root "
                  "cause\nand remove gc.log.\nAutomatic cleanup will not be performed until the "
                  "file is removed.\n\n" + log, file=sys.stderr)
        return 0
    if not needed(repo):
        return 0
    detach = _config_bool(repo.get_config(), b"gc", b"autodetach", True)
    if not quiet:
        print("Auto packing the repository in background for optimum performance." if detach
              else "Auto packing the repository for optimum performance.", file=sys.stderr)
    if detach and hasattr(os, "fork"):
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork():
            return 0
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        code = 1
        try:
            code = _gc_locked(repo, None)
        finally:
            os._exit(code)
    return _gc_locked(repo, progress)


def _gc_locked(repo, progress) -> int:
    from .repack import gc
    lock = GcLock(repo.controldir())
    if not lock.acquire():
        return 0   # another gc is at it
    try:
        gc(repo, progress=progress)
        objects = _objects_dir(repo)
        auto = _config_int(repo.get_config(), b"auto", DEFAULT_AUTO)
        if objects is not None and auto > 0 and _too_many_loose(objects, auto):
            with open(os.path.join(repo.controldir(), "gc.log"), "w") as f:
                f.write("warning: There are too many unreachable loose objects; "
                        "run 'git prune' to remove them.\n")
    finally:
        lock.release()
    return 0


def start_after_push(repo) -> bool:
    """After a push: start ``puregit gc --auto --quiet`` when the repository needs it.

    A separate interpreter does it (the server may be threaded; forking it
    to run a repack is not safe); that process detaches at once unless
    ``gc.autoDetach`` is false.  Returns whether one was started.
    """
    if not needed(repo):
        return False
    cwd = getattr(repo, "path", None) or repo.controldir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        subprocess.run([sys.executable, "-m", "puregit", "gc", "--auto", "--quiet"], cwd=cwd,
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=3600)
    except (OSError, subprocess.SubprocessError):
        return False
    return True
