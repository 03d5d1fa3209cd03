"""Shared fixtures for the server tests: a TCPGitServer in a thread, raw sockets,
a ``puregit`` wrapper script, and byte-for-byte snapshots of repositories."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
import sys
import threading
import time

from helpers import git

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from puregit.pktline import pkt_line  # noqa: E402
from puregit.server import TCPGitServer  # noqa: E402


@contextlib.contextmanager
def serving(backend, **kw):
    """A TCPGitServer on 127.0.0.1 (port 0) in a thread; yields the server."""
    server = TCPGitServer(backend, "127.0.0.1", 0, **kw)
    t = threading.Thread(target=server.serve, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        t.join(5)


def url(server, path="/repo.git") -> str:
    return "git://127.0.0.1:%d%s" % (server.server_address[1], path)


def puregit_script(tmp_path) -> str:
    """A ``puregit`` executable running this checkout (for --upload-pack=...)."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    p = d / "puregit"
    p.write_text("#!/bin/sh\nPYTHONPATH=%s exec %s -m puregit \"$@\"\n" % (ROOT, sys.executable))
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return str(p)


def snapshot(path) -> dict:
    """Every file under a repository: relative path -> (mode, sha256 of contents)."""
    out = {}
    for dirpath, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as f:
                    out[rel] = (st.st_mode, hashlib.sha256(f.read()).hexdigest())
        out.update({os.path.relpath(os.path.join(dirpath, d), path) + "/": "dir" for d in dirs})
    return out


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0, close_write: bool = True,
                 read: bool = True) -> bytes:
    """Send ``data`` on a fresh connection and return everything until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            if data:
                s.sendall(data)
            if close_write:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # the server may already have closed; read what it sent
        if not read:
            return b""
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def request_line(service: bytes, path: bytes, version: int = 0) -> bytes:
    extra = b"\0version=%d\0" % version if version else b""
    return pkt_line(service + b" " + path + b"\0host=127.0.0.1\0" + extra)


def count_objects(repo) -> int:
    """Objects in a repository (loose and packed), as git counts them."""
    out = git("count-objects", "-v", cwd=repo).decode()
    vals = dict(line.split(": ") for line in out.splitlines())
    return int(vals["count"]) + int(vals["in-pack"])


def make_linear_repo(path, n: int = 5, bare: bool = False) -> list:
    """A small repository with ``n`` commits on main, each adding a file."""
    path = str(path)
    git("init", "-q", "-b", "main", path)
    ids = []
    for i in range(n):
        with open(os.path.join(path, "f%d.txt" % i), "wb") as f:
            f.write(b"content %d\n" % i * (i + 1))
        git("add", ".", cwd=path)
        git("commit", "-q", "-m", "c%d" % i, cwd=path,
            env={"GIT_COMMITTER_DATE": "%d +0000" % (1700000000 + i * 1000),
                 "GIT_AUTHOR_DATE": "%d +0000" % (1700000000 + i * 1000)})
        ids.append(git("rev-parse", "HEAD", cwd=path).strip())
    return ids
