"""TCPGitServer: the seed tutorial, access rules, timeouts, limits and hostile input."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from helpers import fsck, git, git_ok, make_rich_repo
from helpers_server import (
    ROOT, raw_exchange, request_line, serving, snapshot, url,
)

from puregit.backend import FileSystemBackend
from puregit.errors import AccessDenied
from puregit.pktline import pkt_line
from puregit.repo import Repo
from puregit.server import DictBackend, TCPGitServer

Z40 = b"1" * 40


@pytest.fixture
def srv_repo(tmp_path):
    src = tmp_path / "src"
    info = make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    return bare, info


def test_seed_tutorial_usage(tmp_path):
    repo = Repo.init(str(tmp_path / "remote"), mkdir=True)
    cid = repo.do_commit("message", committer="Jelmer <jelmer@example.com>")
    backend = DictBackend({'/': repo})
    server = TCPGitServer(backend, 'localhost', 0)
    t = threading.Thread(target=server.serve)
    t.start()
    try:
        host, port = server.socket.getsockname()[:2]
        out = git("ls-remote", f"git://127.0.0.1:{port}/")
        assert out.split()[0] == cid
        git("clone", "-q", f"git://127.0.0.1:{port}/", str(tmp_path / "c"))
        assert git("rev-parse", "HEAD", cwd=tmp_path / "c").strip() == cid
    finally:
        server.shutdown()
        t.join(5)
    assert not t.is_alive()


def _clone_ok(server, tmp_path, name):
    d = tmp_path / name
    git("clone", "-q", "--bare", url(server), str(d))
    fsck(d)


def _adv_and_rest(data: bytes) -> bytes:
    """Skip the v0 advertisement; return what came after its flush."""
    i = data.find(b"0000")
    return data[i + 4:] if i >= 0 else b""


def test_bad_input_leaves_repo_unchanged(srv_repo, tmp_path):
    bare, info = srv_repo
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    before = snapshot(bare)
    head = git("rev-parse", "HEAD", cwd=bare).strip()
    with serving(FileSystemBackend(str(bare.parent)), init_timeout=2, timeout=5) as srv:
        port = srv.server_address[1]
        up = request_line(b"git-upload-pack", b"/repo.git")
        cases = {
            "garbage": (b"\x00\xffGET / HTTP/1.1\r\n\r\n", None),
            "bad length": (b"zzzzhello", None),
            "short length": (b"0003", None),
            "truncated": (b"00ffgit-upload-pack /repo.git\0", None),
            "huge length": (b"fff0" + b"a" * 100, None),
            "no path": (pkt_line(b"git-upload-pack \0"), None),
            "unknown service": (request_line(b"git-frobnicate", b"/repo.git"), None),
            "unknown repo": (request_line(b"git-upload-pack", b"/nope.git"),
                             b"ERR access denied or repository not exported: /nope.git"),
            "traversal": (request_line(b"git-upload-pack", b"/../root/repo.git"),
                          b"ERR access denied"),
            "traversal2": (request_line(b"git-upload-pack", b"/repo.git/../../etc"),
                           b"ERR access denied"),
            "tilde": (request_line(b"git-upload-pack", b"~root"), b"ERR access denied"),
            "relative": (request_line(b"git-upload-pack", b"repo.git"), b"ERR access denied"),
            "receive-pack disabled": (request_line(b"git-receive-pack", b"/repo.git"),
                                      b"ERR access denied or repository not exported: /repo.git"),
            "unadvertised want": (up + pkt_line(b"want " + Z40 + b" side-band-64k\n") + b"0000"
                                  + pkt_line(b"done\n"),
                                  b"ERR upload-pack: not our ref " + Z40),
            "deepen 0": (up + pkt_line(b"want " + head + b" shallow\n") + pkt_line(b"deepen 0")
                         + b"0000", b"ERR "),
            "deepen huge": (up + pkt_line(b"want " + head + b" shallow\n")
                            + pkt_line(b"deepen 2147483648") + b"0000", b"ERR Invalid deepen"),
            "deepen abc": (up + pkt_line(b"want " + head + b"\n") + pkt_line(b"deepen abc")
                           + b"0000", b"ERR "),
            "unknown filter": (up + pkt_line(b"want " + head + b" filter\n")
                               + pkt_line(b"filter frob:x") + b"0000",
                               b"ERR invalid filter-spec 'frob:x'"),
            "sparse filter": (up + pkt_line(b"want " + head + b" filter\n")
                              + pkt_line(b"filter sparse:oid=" + head) + b"0000",
                              b"ERR filter 'sparse:oid' not supported"),
            "filter not negotiated": (up + pkt_line(b"want " + head + b"\n")
                                      + pkt_line(b"filter blob:none") + b"0000",
                                      b"ERR upload-pack: filtering capability not negotiated"),
            "shallow blob": (up + pkt_line(b"want " + head + b"\n")
                             + pkt_line(b"shallow " + git("rev-parse", "HEAD~3:README",
                                                          cwd=bare).strip())
                             + pkt_line(b"deepen 1") + b"0000", b"ERR invalid shallow object"),
            "junk line": (up + pkt_line(b"want " + head + b"\n") + pkt_line(b"frobnicate")
                          + b"0000", b"ERR "),
            "eof mid negotiation": (up + pkt_line(b"want " + head + b" multi_ack_detailed\n")
                                    + b"0000" + pkt_line(b"have " + head + b"\n"), None),
            "bad have": (up + pkt_line(b"want " + head + b"\n") + b"0000"
                         + pkt_line(b"have xyz\n"), b"ERR "),
            "v2 unknown command": (request_line(b"git-upload-pack", b"/repo.git", 2)
                                   + pkt_line(b"command=frob\n") + b"0001" + b"0000",
                                   b"ERR invalid command"),
            "v2 bad want": (request_line(b"git-upload-pack", b"/repo.git", 2)
                            + pkt_line(b"command=fetch\n") + b"0001"
                            + pkt_line(b"want " + Z40 + b"\n") + pkt_line(b"done\n") + b"0000",
                            b"ERR upload-pack: not our ref " + Z40),
            "v2 deepen 0": (request_line(b"git-upload-pack", b"/repo.git", 2)
                            + pkt_line(b"command=fetch\n") + b"0001"
                            + pkt_line(b"want " + head + b"\n") + pkt_line(b"deepen 0")
                            + pkt_line(b"done\n") + b"0000", b"ERR "),
            "archive bad arg": (request_line(b"git-upload-archive", b"/repo.git")
                                + pkt_line(b"frob\n") + b"0000", b"NACK "),
        }
        for name, (data, expect) in cases.items():
            got = raw_exchange(port, data)
            if expect is None:
                assert b"PACK" not in got, name
            else:
                assert expect in got, (name, got[-300:])
            assert b"Traceback" not in got
        # idle client that sends nothing is closed after the init timeout
        t0 = time.monotonic()
        got = raw_exchange(port, b"", close_write=False, timeout=10)
        assert got == b"" and time.monotonic() - t0 < 8
        _clone_ok(srv, tmp_path, "after")
    assert snapshot(bare) == before
    fsck(bare)


def test_many_idle_connections_do_not_block_a_clone(srv_repo, tmp_path):
    bare, _ = srv_repo
    with serving(FileSystemBackend(str(bare.parent)), max_connections=0,
                 init_timeout=30) as srv:
        port = srv.server_address[1]
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        # half of them are in the middle of a request: sent the request line only
        for s in idle[::2]:
            s.sendall(request_line(b"git-upload-pack", b"/repo.git"))
        try:
            t0 = time.monotonic()
            _clone_ok(srv, tmp_path, "busy")
            assert time.monotonic() - t0 < 20
        finally:
            for s in idle:
                s.close()


def test_max_connections_drops_idle_then_refuses(srv_repo, tmp_path):
    bare, _ = srv_repo
    with serving(FileSystemBackend(str(bare.parent)), max_connections=3,
                 init_timeout=30) as srv:
        port = srv.server_address[1]
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        time.sleep(0.2)
        try:
            # idle clients (no request line yet) make room for a real one
            _clone_ok(srv, tmp_path, "c1")
            busy = []
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", port))
                s.sendall(request_line(b"git-upload-pack", b"/repo.git"))
                busy.append(s)
            time.sleep(0.3)
            got = raw_exchange(port, request_line(b"git-upload-pack", b"/repo.git"))
            assert got.startswith(pkt_line(b"ERR too many connections, try again later")[:8])
            for s in busy:
                s.close()
        finally:
            for s in idle:
                s.close()


def test_filesystem_backend_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    make_rich_repo(tmp_path / "outside")
    os.symlink(tmp_path / "outside", root / "evil.git")
    git("init", "-q", "--bare", str(root / "ok.git"))
    git("init", "-q", "--bare", str(root / "hidden.git"))
    (root / "ok.git" / "git-daemon-export-ok").write_bytes(b"")
    with serving(FileSystemBackend(str(root), export_all=False)) as srv:
        for path in ("/evil.git", "/../outside", "/hidden.git", "/ok.git/../hidden.git"):
            p = git_ok("ls-remote", url(srv, path))
            assert p.returncode != 0
            assert b"access denied or repository not exported" in p.stderr, path
        assert git_ok("ls-remote", url(srv, "/ok.git")).returncode == 0
        assert git_ok("ls-remote", url(srv, "/ok")).returncode == 0


def test_daemon_command(srv_repo, tmp_path):
    bare, _ = srv_repo
    port_file = tmp_path / "port"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "puregit", "daemon", "--base-path",
                             str(bare.parent), "--port", "0", "--export-all", "--verbose",
                             "--enable=upload-archive", "--port-file", str(port_file)],
                            env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if port_file.exists():
                break
            time.sleep(0.05)
        port = int(port_file.read_text())
        u = f"git://127.0.0.1:{port}/repo.git"
        git("clone", "-q", u, str(tmp_path / "c"))
        fsck(tmp_path / "c")
        p = git_ok("push", u, "HEAD:refs/heads/new", cwd=tmp_path / "c")
        assert p.returncode != 0 and b"access denied" in p.stderr
        out = subprocess.run(["git", "archive", "--remote", u, "v1.0"], capture_output=True)
        assert out.returncode == 0 and len(out.stdout) % 10240 == 0
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"git-upload-pack /repo.git ok" in err


def test_daemon_detaches_with_a_whitelist_like_git_daemon(tmp_path):
    """``puregit daemon --reuseaddr --detach --pid-file F --base-path R R/allowed`` as with git."""
    root = tmp_path / "root"
    for name in ("allowed/a.git", "other/b.git"):
        git("init", "-q", "--bare", str(root / name))
    env = dict(os.environ, PYTHONPATH=ROOT)
    port_file, pid_file = tmp_path / "port", tmp_path / "pid"
    base = [sys.executable, "-m", "puregit", "daemon", "--reuseaddr", "--port", "0",
            "--export-all", f"--base-path={root}"]
    p = subprocess.run(base + ["--strict-paths"], env=env, capture_output=True, timeout=30)
    assert p.returncode == 128 and b"requires a whitelist" in p.stderr
    p = subprocess.run(base + ["--detach", "--pid-file", str(pid_file), "--port-file",
                               str(port_file), str(root / "allowed")],
                       env=env, capture_output=True, timeout=30)
    assert p.returncode == 0                       # the foreground process is done ...
    for _ in range(100):
        if pid_file.exists() and port_file.exists():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)                            # ... the daemon lives on
        port = int(port_file.read_text())
        assert git_ok("ls-remote", f"git://127.0.0.1:{port}/allowed/a.git").returncode == 0
        assert git_ok("ls-remote", f"git://127.0.0.1:{port}/allowed/a").returncode == 0
        denied = git_ok("ls-remote", f"git://127.0.0.1:{port}/other/b.git")
        assert denied.returncode != 0 and b"access denied" in denied.stderr
    finally:
        os.kill(pid, 15)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)


def test_strict_paths_serve_only_the_listed_directories(tmp_path):
    root = tmp_path / "root"
    git("init", "-q", "--bare", str(root / "a.git"))
    git("init", "-q", "--bare", str(root / "sub" / "c.git"))
    backend = FileSystemBackend(str(root), whitelist=[str(root / "a.git")], strict_paths=True)
    assert backend.resolve("/a.git") == os.path.realpath(root / "a.git")
    for path in ("/a", "/sub/c.git"):
        with pytest.raises(AccessDenied):
            backend.resolve(path)
    loose = FileSystemBackend(str(root), whitelist=[str(root / "sub")])
    assert loose.resolve("/sub/c") == os.path.realpath(root / "sub" / "c.git")
    with pytest.raises(AccessDenied):
        loose.resolve("/a.git")


def test_daemon_inetd_serves_one_connection_on_stdin_stdout(srv_repo, tmp_path):
    """``puregit daemon --inetd`` driven by git's ext:: transport, which sends the git://
    request line first (%G) as inetd would pass the socket."""
    bare, _ = srv_repo
    env = dict(os.environ, PYTHONPATH=ROOT)
    cmd = (f"{sys.executable} -m puregit daemon --inetd --export-all --enable=receive-pack "
           f"--base-path {bare.parent}")
    ext = lambda path: f"ext::{cmd} %G{path}"   # noqa: E731
    base = ["git", "-c", "protocol.ext.allow=always"]
    p = subprocess.run(base + ["clone", "-q", ext("/repo.git"), str(tmp_path / "c")], env=env,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    fsck(tmp_path / "c")
    assert git("rev-parse", "HEAD", cwd=tmp_path / "c") == git("rev-parse", "HEAD", cwd=bare)
    p = subprocess.run(base + ["push", "-q", ext("/repo.git"), "HEAD:refs/heads/inetd"],
                       cwd=tmp_path / "c", env=env, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert git("rev-parse", "refs/heads/inetd", cwd=bare) == git("rev-parse", "HEAD", cwd=bare)
    p = subprocess.run(base + ["ls-remote", ext("/nope.git")], env=env, capture_output=True,
                       timeout=120)
    assert p.returncode != 0 and b"access denied or repository not exported" in p.stderr


def test_interpolated_path_serves_each_virtual_host_its_own_repository(tmp_path):
    from puregit.backend import InterpolatedBackend, sanitize_host
    root = tmp_path / "vhosts"
    for host in ("127.0.0.1", "a.example"):
        src = tmp_path / f"src-{host}"
        git("init", "-q", "-b", "main", str(src))
        (src / "who").write_text(host + "\n")
        git("add", "who", cwd=src)
        git("commit", "-q", "-m", host, cwd=src)
        git("clone", "-q", "--bare", str(src), str(root / host / "repo.git"))
    backend = InterpolatedBackend(f"{root}/%H%D", str(tmp_path / "unused"))
    repo = backend.open_repository_for("/repo.git", b"A.Example:9418")
    assert os.path.realpath(repo.path) == os.path.realpath(root / "a.example" / "repo.git")
    assert sanitize_host(b"../../etc") == "etc" and sanitize_host(b".a..b.") == "a.b"
    assert sanitize_host(b"[::1]:9418") == "::1" and sanitize_host(b"x/y:1") == "xy"
    for path, host in (("/repo.git", b"nowhere.example"), ("/../repo.git", b"a.example")):
        with pytest.raises(AccessDenied):
            backend.open_repository_for(path, host)
    with serving(backend) as srv:       # git sends host=127.0.0.1:<port>
        git("clone", "-q", url(srv), str(tmp_path / "c"))
    assert (tmp_path / "c" / "who").read_text() == "127.0.0.1\n"
