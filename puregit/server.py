"""Git servers: backends, service handlers, the git:// daemon and stdin/stdout services.

``TCPGitServer`` is git daemon's job: one thread per connection, the request
line within ``init_timeout`` seconds, then the service with an idle timeout
on the socket.  Errors the client should see become an ``ERR`` packet (before
any output) or a band-3 message (inside a pack); a failing connection is
logged and closed and never affects the others.  Which services run is
decided here, not by the handlers: receive-pack is off unless enabled.

Example (the seed tutorial)::

    backend = DictBackend({'/': repo})
    server = TCPGitServer(backend, 'localhost', 0)
    threading.Thread(target=server.serve).start()
    host, port = server.socket.getsockname()
    ...
    server.shutdown()
"""

from __future__ import annotations

import logging
import os
import socket
import socketserver
import sys
import threading
import time
from typing import Optional

from .backend import Backend, DictBackend, FileSystemBackend, Handler, forget_idle_stores
from .errors import (
    AccessDenied, HangupException, NotGitRepository, ProtocolError, PuregitError,
)
from .pktline import pkt_line
from .protocol import Protocol, ReceivableProtocol
from .upload_archive import UploadArchiveHandler
from .upload_pack import UploadPackHandler
from .wire.request import parse_request_payload

__all__ = [
    "Backend", "DictBackend", "FileSystemBackend", "Handler", "UploadPackHandler",
    "ReceivePackHandler", "UploadArchiveHandler", "DEFAULT_HANDLERS", "TCPGitServer",
    "serve_inetd",
    "serve_command", "protocol_version_from", "DirectoryBackend",
]

log = logging.getLogger("puregit.server")

MAX_REQUEST_LINE = 8192


class _LazyReceivePackHandler:
    """Stands in for ``puregit.receive_pack.ReceivePackHandler`` until it is imported."""

    service = b"git-receive-pack"

    def __new__(cls, *args, **kwargs):
        from .receive_pack import ReceivePackHandler as real
        return real(*args, **kwargs)


def __getattr__(name: str):
    if name == "ReceivePackHandler":
        try:
            from .receive_pack import ReceivePackHandler as real
        except ImportError:
            return _LazyReceivePackHandler
        return real
    raise AttributeError(name)


DEFAULT_HANDLERS = {
    b"git-upload-pack": UploadPackHandler,
    b"git-receive-pack": _LazyReceivePackHandler,
    b"git-upload-archive": UploadArchiveHandler,
}


def protocol_version_from(params) -> int:
    """The protocol version asked for in ``version=N`` parameters (0 if none).

    ``params`` is a list of extra parameters (git://) or the colon-separated
    ``GIT_PROTOCOL`` value; unknown versions mean v0, as in cgit.
    """
    if isinstance(params, str):
        params = params.encode("utf-8", "replace")
    if isinstance(params, bytes):
        params = params.split(b":")
    best = 0
    for p in params:
        if p.startswith(b"version=") and p[8:] in (b"1", b"2"):
            best = max(best, int(p[8:]))
    return best


class _OpenedBackend(Backend):
    """Hands out a repository that was already opened (access checked) for ``path``."""

    def __init__(self, inner: Backend, path, repo) -> None:
        self.inner = inner
        self.path = path
        self.repo = repo

    def open_repository(self, path):
        if path == self.path:
            return self.repo
        return self.inner.open_repository(path)


class DirectoryBackend(Backend):
    """Opens any local path (``git upload-pack DIR`` semantics: the local user is trusted).

    ``strict`` (``--strict``) opens exactly ``DIR``; otherwise ``DIR.git`` is tried too.
    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict

    def open_repository(self, path):
        from .repo import Repo
        p = os.fsdecode(path)
        for cand in ((p,) if self.strict else (p, p + ".git")):
            try:
                return Repo(cand)
            except NotGitRepository:
                continue
        raise NotGitRepository(f"'{p}' does not appear to be a git repository")


def _denied(path: bytes) -> bytes:
    return b"ERR access denied or repository not exported: " + path


def _valid_request_path(path: bytes) -> bool:
    """git daemon's ``daemon_avoid_alias`` plus NUL/``~user``/length checks."""
    if not path.startswith(b"/") or len(path) > 4096 or b"\\" in path:
        return False
    p = path
    if b"//" in p or b"/./" in p or b"/../" in p or p.endswith((b"/.", b"/..")):
        return False
    return all(32 <= c < 127 or c >= 128 for c in p)


class _Connection(socketserver.BaseRequestHandler):
    """One client: read the request line, check it, run the service."""

    server: "TCPGitServer"

    def handle(self) -> None:
        srv = self.server
        sock: socket.socket = self.request
        peer = "%s:%s" % self.client_address[:2] if isinstance(self.client_address, tuple) \
            else str(self.client_address)
        started = time.monotonic()
        try:
            sock.settimeout(srv.init_timeout or None)
            proto = ReceivableProtocol(sock.recv, sock.sendall)
            request = _read_request(proto, peer)
            if request is None:
                return
            command, path, host, extra = request
            srv._mark_active(sock)
            sock.settimeout(srv.timeout or None)
            status = _serve(srv, proto, command, path, host, extra, peer)
            log.info("[%s] %s %s %s (%.2fs)", peer, command.decode(errors="replace"),
                     path.decode(errors="replace"), status, time.monotonic() - started)
        except (socket.timeout, TimeoutError):
            log.info("[%s] timed out", peer)
        except (ConnectionError, OSError) as e:
            log.info("[%s] connection error: %s", peer, e)
        except Exception:  # one broken connection must not take the server down
            log.exception("[%s] internal error", peer)

def _read_request(proto, peer: str):
    """The daemon request line: (service, path, host, extra parameters), or None if bad."""
    try:
        header = proto.read(4)
        if len(header) < 4:
            return None
        try:
            n = int(header, 16) if all(c in b"0123456789abcdefABCDEF" for c in header) else -1
        except ValueError:
            n = -1
        if n < 5 or n > MAX_REQUEST_LINE:
            log.info("[%s] bad request line header %r", peer, header)
            return None
        line = proto.read(n - 4)
        if len(line) != n - 4:
            return None
        return parse_request_payload(line)
    except (ProtocolError, ValueError) as e:
        log.info("[%s] malformed request: %s", peer, e)
        return None


def _serve(srv, proto, command: bytes, path: bytes, host, extra, peer) -> str:
    """Run one request's service; ``srv`` gives ``handlers``, ``enabled_services``, ``backend``."""
    handler_cls = srv.handlers.get(command)
    if handler_cls is None:
        log.info("[%s] unknown service %r", peer, command[:40])
        return "unknown service"
    if command not in srv.enabled_services or not _valid_request_path(path):
        proto.write(pkt_line(_denied(path)))
        return "denied"
    try:
        open_for = getattr(srv.backend, "open_repository_for", None)   # virtual hosting
        repo = open_for(path, host) if open_for else srv.backend.open_repository(path)
    except (NotGitRepository, AccessDenied, KeyError, OSError, PuregitError):
        proto.write(pkt_line(_denied(path)))
        return "denied"
    version = protocol_version_from(extra)
    if command != b"git-upload-pack" and version == 2:
        version = 0   # push and archive have no v2
    backend = _OpenedBackend(srv.backend, path, repo)
    handler = handler_cls(backend, [path], proto, protocol_version=version)
    try:
        handler.handle()
    except HangupException:
        return "client hung up"
    except PuregitError as e:
        return f"failed: {e}"
    finally:
        del handler, backend
        release_memory(repo)
    return "ok"


def serve_inetd(backend: Backend, enabled_services, handlers: Optional[dict] = None,
                inf=None, outf=None) -> str:
    """``git daemon --inetd``: serve the one connection that is our stdin and stdout.

    (inetd, xinetd or a systemd socket with ``Accept=yes`` hands each
    client to a new process.)  Returns the status that gets logged.
    """
    from types import SimpleNamespace
    inf = inf if inf is not None else sys.stdin.buffer
    outf = outf if outf is not None else sys.stdout.buffer

    def write(data: bytes) -> None:
        outf.write(data)
        outf.flush()

    proto = Protocol(inf.read, write)
    peer = os.environ.get("REMOTE_ADDR", "inetd")
    request = _read_request(proto, peer)
    if request is None:
        return "bad request"
    command, path, host, extra = request
    srv = SimpleNamespace(backend=backend, enabled_services=set(enabled_services),
                          handlers={**DEFAULT_HANDLERS, **(handlers or {})})
    try:
        status = _serve(srv, proto, command, path, host, extra, peer)
    except (ConnectionError, OSError) as e:
        status = f"connection error: {e}"
    log.info("[%s] %s %s %s", peer, command.decode(errors="replace"),
             path.decode(errors="replace"), status)
    return status


def release_memory(repo) -> None:
    """After a connection: hand back what the process no longer needs.

    The pages of the packs it read leave the RSS (they stay in the page
    cache, see ``PackData.release_pages``; a connection still reading them
    just faults them back in), and freed heap goes back to the OS
    (``malloc_trim``: glibc keeps freed blocks otherwise, so the next
    connection's peak would add to the last one's leftovers).
    """
    store = getattr(repo, "object_store", None)
    cache = getattr(store, "_pack_cache", None)
    for pack in (cache[1] if cache else ()):
        data = getattr(pack, "_data", None)
        release = getattr(data, "release_pages", None)
        if release is not None:
            release()
    forget_idle_stores()
    _malloc_trim()


_TRIM = None


def _malloc_trim() -> None:
    global _TRIM
    if _TRIM is None:
        _TRIM = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes
                _TRIM = ctypes.CDLL(None).malloc_trim
                _TRIM.argtypes = [ctypes.c_size_t]
            except (ImportError, OSError, AttributeError):
                _TRIM = False
    if _TRIM:
        _TRIM(0)


class TCPGitServer(socketserver.ThreadingTCPServer):
    """git:// server: ``serve()`` (or ``serve_forever()``) in a thread, ``shutdown()`` to stop.

    ``max_connections`` (0 = unlimited): when full, the oldest connection
    that has not yet sent its request is dropped to make room, else the new
    one gets ``ERR`` and is closed.  ``init_timeout``: seconds for the
    request line; ``timeout``: idle seconds while serving (0/None = none).
    """

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, backend: Backend, listen_addr: str = "localhost", port: int = 9418,
                 handlers: Optional[dict] = None, *, enable_receive_pack: bool = False,
                 enable_upload_archive: bool = True, max_connections: int = 32,
                 init_timeout: Optional[float] = 30.0, timeout: Optional[float] = 600.0) -> None:
        self.backend = backend
        self.handlers = dict(DEFAULT_HANDLERS)
        if handlers:
            self.handlers.update(handlers)
        self.enabled_services = {b"git-upload-pack"}
        if enable_receive_pack:
            self.enabled_services.add(b"git-receive-pack")
        if enable_upload_archive:
            self.enabled_services.add(b"git-upload-archive")
        self.max_connections = max_connections
        self.init_timeout = init_timeout
        self.timeout = timeout
        self._conns: dict = {}    # socket -> [started, active]
        self._conns_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in (listen_addr or "") else socket.AF_INET
        self.address_family = family
        super().__init__((listen_addr, port), _Connection)

    def serve(self, poll_interval: float = 0.5) -> None:
        """Dulwich's name for ``serve_forever``."""
        self.serve_forever(poll_interval)

    def service_actions(self) -> None:
        """Between polls of the listening socket: let go of object stores kept past their
        time, so an idle daemon does not hold them until its next connection."""
        super().service_actions()
        forget_idle_stores()

    def _mark_active(self, sock) -> None:
        with self._conns_lock:
            entry = self._conns.get(sock)
            if entry is not None:
                entry[1] = True

    def process_request(self, request, client_address) -> None:
        with self._conns_lock:
            if self.max_connections and len(self._conns) >= self.max_connections:
                idle = [(e[0], s) for s, e in self._conns.items() if not e[1]]
                if idle:
                    victim = min(idle, key=lambda t: t[0])[1]
                    try:
                        victim.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    self._conns.pop(victim, None)
                else:
                    log.info("too many connections; refusing %s", client_address)
                    try:
                        request.settimeout(1.0)
                        request.sendall(pkt_line(b"ERR too many connections, try again later"))
                    except OSError:
                        pass
                    self.shutdown_request(request)
                    return
            self._conns[request] = [time.monotonic(), False]
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.pop(request, None)

    def handle_error(self, request, client_address) -> None:
        log.exception("error serving %s", client_address)

    def shutdown(self) -> None:
        super().shutdown()
        self.server_close()


def serve_command(handler_cls, argv=None, backend: Optional[Backend] = None, inf=None,
                  outf=None, *, stateless_rpc: bool = False, advertise_refs: bool = False,
                  protocol_version: Optional[int] = None) -> int:
    """Run a service over stdin/stdout (``git clone --upload-pack='puregit upload-pack'``).

    ``argv[1:]`` are the service's arguments (the repository path last);
    the protocol version comes from ``GIT_PROTOCOL``.  Returns an exit status.
    """
    if argv is None:
        argv = sys.argv
    if backend is None:
        backend = DirectoryBackend()
    if inf is None:
        inf = sys.stdin.buffer
    if outf is None:
        outf = sys.stdout.buffer
    if protocol_version is None:
        protocol_version = protocol_version_from(os.environ.get("GIT_PROTOCOL", ""))
    service = getattr(handler_cls, "service", b"")
    if service != b"git-upload-pack" and protocol_version == 2:
        protocol_version = 0

    def write(data: bytes) -> None:
        outf.write(data)
        outf.flush()

    proto = Protocol(inf.read, write)
    args = [a.encode() if isinstance(a, str) else a for a in argv[1:]]
    try:
        handler = handler_cls(backend, args, proto, stateless_rpc=stateless_rpc,
                              advertise_refs=advertise_refs, protocol_version=protocol_version)
        handler.handle()
    except (NotGitRepository, AccessDenied) as e:
        print(f"fatal: {e}", file=sys.stderr)
        return 128
    except HangupException:
        return 0
    except PuregitError as e:
        print(f"fatal: {e}", file=sys.stderr)
        return 128
    except BrokenPipeError:
        return 141
    return 0
