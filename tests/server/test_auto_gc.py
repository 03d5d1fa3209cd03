"""gc --auto and receive.autogc: a repository that collects packs is packed again."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time

from helpers import fsck, git, make_rich_repo
from helpers_server import ROOT, serving, url

from puregit import auto_gc
from puregit.backend import FileSystemBackend
from puregit.repo import Repo


def _packs(repo) -> list:
    d = os.path.join(repo, "objects", "pack")
    return sorted(n for n in os.listdir(d) if n.endswith(".pack"))


def _puregit(*args, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "puregit", *args], cwd=cwd, env=env,
                          capture_output=True)


def _bare_with_packs(tmp_path, n: int):
    """A bare repository whose history arrived in ``n`` packs, and a work clone of it."""
    src = tmp_path / "src"
    make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("clone", "-q", "--bare", "--no-local", str(src), str(bare))   # one pack
    for i in range(n - 1):
        (src / f"more{i}.txt").write_text(f"more {i}\n")
        git("add", "-A", ".", cwd=src)
        git("commit", "-q", "-m", f"more {i}", cwd=src)
        git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=src)
        git("repack", "-q", cwd=bare)          # the new loose objects become one more pack
    assert len(_packs(bare)) == n
    return bare, src


def test_gc_auto_packs_only_past_the_pack_limit(tmp_path):
    bare, _ = _bare_with_packs(tmp_path, 3)
    git("config", "gc.autoDetach", "false", cwd=bare)
    refs = git("for-each-ref", cwd=bare)
    git("config", "gc.autoPackLimit", "5", cwd=bare)
    assert _puregit("gc", "--auto", cwd=bare).returncode == 0
    assert len(_packs(bare)) == 3                      # 3 packs is not more than 5
    git("config", "gc.auto", "0", cwd=bare)            # 0: never automatically
    git("config", "gc.autoPackLimit", "2", cwd=bare)
    assert _puregit("gc", "--auto", cwd=bare).returncode == 0
    assert len(_packs(bare)) == 3
    git("config", "--unset", "gc.auto", cwd=bare)
    p = _puregit("gc", "--auto", cwd=bare)
    assert p.returncode == 0 and b"Auto packing the repository for optimum" in p.stderr
    assert len(_packs(bare)) == 1
    assert git("for-each-ref", cwd=bare) == refs
    assert not os.path.exists(bare / "gc.pid")
    fsck(bare)


def _loose_in_17(count: int) -> list:
    """Blob contents whose ids start with 17 (gc.auto counts objects/17)."""
    found, i = [], 0
    while len(found) < count:
        data = b"loose %d\n" % i
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().startswith("17"):
            found.append(data)
        i += 1
    return found


def test_gc_auto_counts_loose_objects_like_git(tmp_path):
    bare, _ = _bare_with_packs(tmp_path, 1)
    git("config", "gc.autoDetach", "false", cwd=bare)
    git("config", "gc.auto", "256", cwd=bare)          # more than 1 in objects/17
    blobs = _loose_in_17(2)
    git("hash-object", "-w", "--stdin", cwd=bare, input=blobs[0])
    assert not auto_gc.needed(Repo(str(bare)))
    blob = git("hash-object", "-w", "--stdin", cwd=bare, input=blobs[1]).strip().decode()
    repo = Repo(str(bare))
    assert auto_gc.needed(repo)
    # an unreachable blob is kept (gc does not prune), but no longer loose beside a pack copy
    assert _puregit("gc", "--auto", "--quiet", cwd=bare).returncode == 0
    assert git("cat-file", "-t", blob, cwd=bare).strip() == b"blob"
    fsck(bare)
    # gc does not prune: the two unreachable blobs are still loose.  gc.log says so,
    # and gc --auto stays quiet until it is a day old (no repack after every push).
    assert b"unreachable loose objects" in (bare / "gc.log").read_bytes()
    assert not auto_gc.needed(Repo(str(bare)))
    p = _puregit("gc", "--auto", cwd=bare)
    assert p.returncode == 0 and b"The last gc run reported" in p.stderr
    old = time.time() - 2 * auto_gc.LOG_EXPIRY
    os.utime(bare / "gc.log", (old, old))
    assert auto_gc.needed(Repo(str(bare)))


def test_a_running_gc_is_not_doubled_and_a_dead_ones_lock_is_taken_over(tmp_path):
    bare, _ = _bare_with_packs(tmp_path, 3)
    git("config", "gc.autoDetach", "false", cwd=bare)
    git("config", "gc.autoPackLimit", "2", cwd=bare)
    lock = bare / "gc.pid"
    lock.write_text(f"{os.getpid()} {socket.gethostname()}")      # alive: this test
    assert _puregit("gc", "--auto", cwd=bare).returncode == 0
    assert len(_packs(bare)) == 3 and lock.exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(f"{dead.pid} {socket.gethostname()}")          # gone: taken over
    assert _puregit("gc", "--auto", cwd=bare).returncode == 0
    assert len(_packs(bare)) == 1 and not lock.exists()
    fsck(bare)


def _push_three(src, srv) -> None:
    for i in range(3):
        (src / f"pushed{i}.txt").write_text(f"pushed {i}\n")
        git("add", "-A", ".", cwd=src)
        git("commit", "-q", "-m", f"pushed {i}", cwd=src)
        git("push", "-q", url(srv), "HEAD:refs/heads/main", cwd=src)


def test_receive_pack_runs_gc_auto_after_pushes(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)   # the gc runs as `python -m puregit`
    bare, src = _bare_with_packs(tmp_path, 1)
    git("config", "gc.autoPackLimit", "2", cwd=bare)
    git("config", "gc.autoDetach", "false", cwd=bare)
    git("config", "receive.unpackLimit", "1", cwd=bare)   # every push stays a pack
    with serving(FileSystemBackend(str(bare.parent)), enable_receive_pack=True) as srv:
        _push_three(src, srv)
    assert len(_packs(bare)) <= 2                      # packed again once there were 3
    assert git("rev-parse", "main", cwd=bare) == git("rev-parse", "HEAD", cwd=src)
    fsck(bare)


def test_receive_pack_gc_goes_to_the_background(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)
    bare, src = _bare_with_packs(tmp_path, 3)
    git("config", "gc.autoPackLimit", "3", cwd=bare)    # the next push makes 4
    git("config", "receive.unpackLimit", "1", cwd=bare)
    with serving(FileSystemBackend(str(bare.parent)), enable_receive_pack=True) as srv:
        (src / "bg.txt").write_text("background\n")
        git("add", "-A", ".", cwd=src)
        git("commit", "-q", "-m", "bg", cwd=src)
        git("push", "-q", url(srv), "HEAD:refs/heads/main", cwd=src)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (len(_packs(bare)) != 1 or (bare / "gc.pid").exists()):
        time.sleep(0.1)
    assert len(_packs(bare)) == 1 and not (bare / "gc.pid").exists()
    assert git("rev-parse", "main", cwd=bare) == git("rev-parse", "HEAD", cwd=src)
    fsck(bare)


def test_receive_autogc_false_leaves_the_packs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)
    bare, src = _bare_with_packs(tmp_path, 1)
    git("config", "gc.autoPackLimit", "2", cwd=bare)
    git("config", "gc.autoDetach", "false", cwd=bare)
    git("config", "receive.autogc", "false", cwd=bare)
    git("config", "transfer.unpackLimit", "1", cwd=bare)   # (receive.unpackLimit's fallback)
    with serving(FileSystemBackend(str(bare.parent)), enable_receive_pack=True) as srv:
        _push_three(src, srv)
    assert len(_packs(bare)) == 4
    fsck(bare)
