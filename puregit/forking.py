"""Splitting CPU-bound work with a forked child process.

A clone or a push of a whole history spends seconds in pure-Python loops
over independent pieces (delta families); on a machine with more than one
core, a forked child can take half of them.  Only computation happens in
the child, and it leaves with ``os._exit`` (no cleanup, no finalizers):
that keeps forking a threaded server safe, as the child takes no lock that
another thread could have held at fork time (zlib, regex, hashlib digests
of an algorithm the parent already uses, and its own pipe).
"""

from __future__ import annotations

import gc
import marshal
import os
import threading
import warnings

__all__ = ["cores", "in_child"]


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def in_child(child_work, child_result, own_work):
    """Run ``child_work`` in a forked child while ``own_work`` runs here.

    Returns ``child_result()`` as computed in the child (sent back with
    ``marshal``), or None when forking is not possible or the child failed:
    the caller then does the child's share itself.  The child only computes
    (no locks, no I/O but its pipe) and leaves with ``os._exit``, which is
    what makes forking a threaded server safe here.
    """
    if not hasattr(os, "fork"):
        return None
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)   # fork with threads (3.12+)
            pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:   # the child
        code = 1
        try:
            # A collection would touch every object the parent had: each page
            # it writes to (reference counts, GC links) is then copied.
            gc.disable()
            os.close(r)
            child_work()
            data = memoryview(marshal.dumps(child_result()))
            while data:
                data = data[os.write(w, data[:1 << 20]):]
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    chunks: list = []

    def drain() -> None:   # read while working, or the child blocks on a full pipe
        while True:
            block = os.read(r, 1 << 20)
            if not block:
                return
            chunks.append(block)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        own_work()
    finally:
        reader.join()
        os.close(r)
        _, status = os.waitpid(pid, 0)
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
        return None
    try:
        return marshal.loads(b"".join(chunks))
    except (EOFError, ValueError, TypeError):
        return None
