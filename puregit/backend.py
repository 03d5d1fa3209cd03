"""Backends (which repositories a server may serve) and the service-handler base.

A server resolves a request path to a repository through a ``Backend`` and
runs a ``Handler`` (upload-pack, receive-pack, upload-archive) over a
protocol object.  Handlers never touch sockets: the transport (git://, ssh,
pipes, HTTP) builds the protocol object and passes it in.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Mapping, Optional, Sequence

from .errors import AccessDenied, NotGitRepository


class Backend:
    """Maps request paths to repositories."""

    def open_repository(self, path: str | bytes):
        """Return the repository at ``path`` or raise ``NotGitRepository``."""
        raise NotImplementedError


def _path_str(path: str | bytes) -> str:
    if isinstance(path, bytes):
        return path.decode("utf-8", "surrogateescape")
    return path


class DictBackend(Backend):
    """Serves a fixed mapping of paths (``str`` or ``bytes`` keys) to repositories."""

    def __init__(self, repos: Mapping) -> None:
        self.repos = {_path_str(k): v for k, v in repos.items()}

    def open_repository(self, path: str | bytes):
        key = _path_str(path)
        try:
            return self.repos[key]
        except KeyError:
            pass
        # git clients may ask for "/" as "" or add a trailing slash
        alt = "/" + key.strip("/") if key.strip("/") else "/"
        if alt in self.repos:
            return self.repos[alt]
        raise NotGitRepository(f"no repository at {key!r}")


class FileSystemBackend(Backend):
    """Serves repositories found under ``root``; refuses anything that escapes it.

    ``/name`` is tried as ``root/name``, ``root/name.git`` and ``root/name/.git``
    (as git daemon does with ``--base-path``).  ``..`` components, ``~user``,
    NUL bytes and symlinks that lead outside ``root`` are refused.
    ``export_all=False`` serves only repositories with a ``git-daemon-export-ok``
    file, as git daemon does without ``--export-all``.  ``whitelist``: git
    daemon's directory arguments; when given, only repositories inside one of
    them are served (``strict_paths``: only the very directories listed).
    """

    def __init__(self, root: str = os.sep, export_all: bool = True,
                 whitelist: Sequence[str] = (), strict_paths: bool = False) -> None:
        self.root = os.path.realpath(os.path.abspath(root))
        self.export_all = export_all
        self.whitelist = [os.path.realpath(os.path.abspath(d)) for d in whitelist]
        self.strict_paths = strict_paths

    def _listed(self, real: str) -> bool:
        if not self.whitelist:
            return True
        if self.strict_paths:
            return real in self.whitelist
        return any(real == d or real.startswith(d.rstrip(os.sep) + os.sep)
                   for d in self.whitelist)

    def resolve(self, path: str | bytes) -> str:
        """The real directory for a request path, or ``AccessDenied``."""
        p = _path_str(path)
        denied = AccessDenied(f"access denied or repository not exported: {p}")
        if "\0" in p or p.startswith("~") or "\\" in p:
            raise denied
        parts = [c for c in p.split("/") if c not in ("", ".")]
        if any(c == ".." for c in parts):
            raise denied
        base = os.path.join(self.root, *parts) if parts else self.root
        # --strict-paths: the path must name the repository exactly (no ".git" guessing)
        candidates = (base,) if self.strict_paths else (base, base + ".git",
                                                        os.path.join(base, ".git"))
        for candidate in candidates:
            real = os.path.realpath(candidate)
            if real != self.root and not real.startswith(self.root.rstrip(os.sep) + os.sep):
                continue   # (rstrip: a root of "/" must not become "//")
            if os.path.isdir(real) and (os.path.isfile(os.path.join(real, "HEAD")) or
                                        os.path.isdir(os.path.join(real, ".git"))):
                if not self._listed(real) or (not self.export_all and not _export_ok(real)):
                    raise denied
                return real
        raise denied

    def open_repository(self, path: str | bytes):
        from .repo import Repo
        real = self.resolve(path)
        try:
            repo = Repo(real)
        except NotGitRepository:
            raise AccessDenied(f"access denied or repository not exported: {_path_str(path)}") from None
        share_object_store(repo)
        return repo


def sanitize_host(host: bytes) -> str:
    """git daemon's ``canonicalize_client`` + ``sanitize_client``: safe in a path.

    The port goes, letters are lower-cased, ``/`` is dropped, and no ``.``
    may start the name, follow another ``.`` or end it.
    """
    text = host.decode("utf-8", "replace").lower()
    if text.startswith("["):
        text = text[1:text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    out: list = []
    for c in text:
        if c == "/" or c == "\0":
            continue
        if c == "." and (not out or out[-1] == "."):
            continue
        out.append(c)
    while out and out[-1] == ".":
        out.pop()
    return "".join(out)


class InterpolatedBackend(FileSystemBackend):
    """git daemon's ``--interpolated-path``: virtual hosting by path template.

    ``%H`` is the host the client asked for (sanitized, see
    :func:`sanitize_host`), ``%CH`` the canonical host name (ours), ``%IP``
    our address, ``%P`` the port, ``%D`` the requested path, ``%%`` a
    percent sign.  Without a ``host=`` in the request the plain path is
    looked up under ``root`` (``--base-path``), as git daemon does.  The
    result must name a repository; the whitelist and export rules apply.
    """

    def __init__(self, template: str, root: str = os.sep, export_all: bool = True,
                 whitelist: Sequence[str] = (), strict_paths: bool = False,
                 address: tuple = ("", 0)) -> None:
        super().__init__(root, export_all, whitelist, strict_paths)
        self.template = template
        self.address = address

    def expand(self, path: str, host: Optional[bytes]) -> str:
        import socket
        values = {"H": sanitize_host(host or b""), "CH": socket.getfqdn().lower(),
                  "IP": str(self.address[0]), "P": str(self.address[1]), "D": path, "%": "%"}
        out, i, t = [], 0, self.template
        while i < len(t):
            if t[i] == "%":
                for key in ("CH", "IP", "H", "P", "D", "%"):
                    if t.startswith(key, i + 1):
                        out.append(values[key])
                        i += 1 + len(key)
                        break
                else:
                    out.append("%")
                    i += 1
            else:
                out.append(t[i])
                i += 1
        return "".join(out)

    def open_repository_for(self, path: str | bytes, host: Optional[bytes]):
        """The repository for ``path`` as asked of ``host``; ``AccessDenied`` otherwise."""
        if host is None:
            return self.open_repository(path)
        p = _path_str(path)
        denied = AccessDenied(f"access denied or repository not exported: {p}")
        if "\0" in p or p.startswith("~") or "\\" in p or ".." in p.split("/"):
            raise denied
        inner = FileSystemBackend(os.sep, self.export_all, self.whitelist, self.strict_paths)
        expanded = self.expand(p, host)
        if not os.path.isabs(expanded):
            raise denied
        return inner.open_repository(expanded)


# --- one object store per repository for the connections serving it --------------
#
# Every connection opens its own ``Repo``; left alone, each would also open its
# own packs: its own mmap of every pack file (counted again in the process's
# RSS), its own base cache, index tables and pack_reuse layouts.  Connections
# that serve the same repository at the same time share one store instead (a
# ``DiskObjectStore`` is safe to use from several threads; it re-lists the
# packs when the directory changes).  The registry holds the stores weakly,
# and the few used last strongly for KEEP_SECONDS more: a clone that follows
# another (a CI farm, a retry) then finds the pack tables, bitmaps and slice
# plans of the one before instead of rebuilding them.  Their pages are not
# kept in the RSS (``server.release_memory``), only those tables.

_STORES: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()
_STORES_LOCK = threading.Lock()
_RECENT: "OrderedDict" = OrderedDict()   # key -> (store, last use)
KEEP_SECONDS = 30.0
KEEP_STORES = 4


def _keep(key, store) -> None:
    """Hold ``store`` a while after its last use; let go of the ones unused longer."""
    now = time.monotonic()
    _RECENT[key] = (store, now)
    _RECENT.move_to_end(key)
    while _RECENT and (len(_RECENT) > KEEP_STORES
                       or now - next(iter(_RECENT.values()))[1] > KEEP_SECONDS):
        _RECENT.popitem(last=False)


def forget_idle_stores() -> None:
    """Let go of the stores kept after use whose time is up (called between connections)."""
    with _STORES_LOCK:
        now = time.monotonic()
        while _RECENT and now - next(iter(_RECENT.values()))[1] > KEEP_SECONDS:
            _RECENT.popitem(last=False)


def share_object_store(repo) -> None:
    """Make ``repo`` use the object store of another live ``Repo`` of the same directory."""
    from .object_store import DiskObjectStore
    store = getattr(repo, "object_store", None)
    if type(store) is not DiskObjectStore:
        return
    try:
        st = os.stat(store.path)
    except OSError:
        return
    algo = getattr(store.hash_algo, "name", store.hash_algo)
    key = (os.path.realpath(store.path), st.st_dev, st.st_ino, algo)
    with _STORES_LOCK:
        shared = _STORES.get(key)
        if shared is None:
            _STORES[key] = shared = store
        _keep(key, shared)
    repo.object_store = shared


def _export_ok(path: str) -> bool:
    return (os.path.exists(os.path.join(path, "git-daemon-export-ok")) or
            os.path.exists(os.path.join(path, ".git", "git-daemon-export-ok")))


class Handler:
    """Base of the service handlers.

    ``args`` are the service's arguments (e.g. the repository path),
    ``proto`` a ``puregit.protocol.Protocol``; ``stateless_rpc`` selects the
    smart-HTTP request/response mode; ``advertise_refs`` means "only send the
    advertisement" (the HTTP ``info/refs`` request); ``protocol_version`` is
    what the client asked for (``version=2`` in git://'s extra parameters,
    ``GIT_PROTOCOL`` for ssh/pipes, the ``Git-Protocol`` header for HTTP).
    """

    service: bytes = b""

    def __init__(self, backend: Backend, args: list, proto, stateless_rpc: bool = False,
                 advertise_refs: bool = False, protocol_version: int = 0,
                 options: Optional[dict] = None) -> None:
        self.backend = backend
        self.args = args
        self.proto = proto
        self.stateless_rpc = stateless_rpc
        self.advertise_refs = advertise_refs
        self.protocol_version = protocol_version
        self.options = options or {}

    def handle(self) -> None:
        raise NotImplementedError
