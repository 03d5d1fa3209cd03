"""receive.keepAlive: a push that keeps the server busy gets empty band-1 packets meanwhile."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers import fsck, git, make_rich_repo
from helpers_server import serving, url

from puregit.backend import FileSystemBackend


@pytest.mark.parametrize("keepalive, expected", [("1", True), ("0", False)])
def test_keepalive_while_a_hook_runs(tmp_path, keepalive, expected):
    src = tmp_path / "src"
    make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("init", "-q", "--bare", str(bare))
    git("config", "receive.keepAlive", keepalive, cwd=bare)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nsleep 2.2\n")          # busy and silent
    hook.chmod(0o755)
    trace = tmp_path / "trace"
    with serving(FileSystemBackend(str(bare.parent)), enable_receive_pack=True) as srv:
        p = subprocess.run(["git", "push", url(srv), "main"], cwd=src, capture_output=True,
                           env=dict(os.environ, GIT_TRACE_PACKET=str(trace)))
    assert p.returncode == 0, p.stderr
    lines = trace.read_bytes().splitlines()
    beats = [ln for ln in lines if ln.endswith(b"sideband< \\1")]
    assert bool(beats) is expected
    if expected:   # they came before the report, which still reads as usual
        report = next(i for i, ln in enumerate(lines) if b"push< unpack ok" in ln)
        assert lines.index(beats[0]) < report
    assert git("rev-parse", "main", cwd=bare) == git("rev-parse", "main", cwd=src)
    fsck(bare)


@pytest.mark.parametrize("quiet", [False, True])
def test_resolving_deltas_is_reported_like_git(tmp_path, quiet):
    """``remote: Resolving deltas: 100% (n/n), completed with k local objects.`` as git shows it."""
    src = tmp_path / "src"
    make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("init", "-q", "--bare", str(bare))
    big = "".join(f"line {i} of a file long enough to be sent as a delta\n" for i in range(400))
    (src / "big.txt").write_text(big)
    git("add", "big.txt", cwd=src)
    git("commit", "-q", "-m", "big", cwd=src)
    with serving(FileSystemBackend(str(bare.parent)), enable_receive_pack=True) as srv:
        git("push", "-q", url(srv), "main", cwd=src)
        (src / "big.txt").write_text(big.replace("line 7 ", "line seven "))
        git("commit", "-q", "-am", "edit", cwd=src)
        p = subprocess.run(["git", "push", "-q" if quiet else "--progress", url(srv), "main"],
                           cwd=src, capture_output=True)
    assert p.returncode == 0, p.stderr
    said = [ln.rstrip() for ln in p.stderr.splitlines() if b"Resolving deltas" in ln]
    if quiet:
        assert said == []
    else:
        assert said and said[-1].startswith(b"remote: Resolving deltas: 100% (")
        assert said[-1].endswith(b"local object.") or said[-1].endswith(b"local objects.")
    assert git("rev-parse", "main", cwd=bare) == git("rev-parse", "main", cwd=src)
    fsck(bare)


def test_resolving_deltas_meter_moves_during_a_big_push(tmp_path, monkeypatch):
    """The meter (\\r-ended lines, as git's) is sent while deltas are resolved."""
    from puregit import pack_resolve
    monkeypatch.setattr(pack_resolve, "PROGRESS_SECONDS", 0.002)
    src = tmp_path / "src"
    git("init", "-q", "-b", "main", str(src))
    stream = []
    for i in range(1500):   # one file in 1500 versions: ~1500 deltas
        body = "".join(f"line {j} {i if j == i % 200 else ''}\n" for j in range(200)).encode()
        stream.append(b"commit refs/heads/main\ncommitter C <c@x> %d +0000\ndata 2\nc\n"
                      b"M 644 inline f.txt\ndata %d\n%s\n" % (1000 + i, len(body), body))
    git("fast-import", "--quiet", cwd=src, input=b"".join(stream))
    git("repack", "-adq", "--window=10", cwd=src)
    bare = tmp_path / "root" / "repo.git"
    git("init", "-q", "--bare", str(bare))
    with serving(FileSystemBackend(str(bare.parent)), enable_receive_pack=True) as srv:
        p = subprocess.run(["git", "push", "--progress", url(srv), "main"], cwd=src,
                           capture_output=True)
    assert p.returncode == 0, p.stderr
    meter = [m for m in p.stderr.split(b"\r") if b"remote: Resolving deltas: " in m
             and b"done" not in m and b"local object" not in m]
    assert meter, p.stderr[-2000:]
    assert all(m.strip().endswith(b")") for m in meter)
    assert b"remote: Resolving deltas: 100% (" in p.stderr
    fsck(bare)
