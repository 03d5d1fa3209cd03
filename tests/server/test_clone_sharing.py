"""Identical clones running at the same time share one plan, and nothing stays behind."""

from __future__ import annotations

import subprocess
import threading
import time

from helpers import fsck, git, make_rich_repo
from helpers_server import serving, url

from puregit import upload_pack
from puregit.backend import FileSystemBackend


def test_concurrent_identical_clones_share_one_walk(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_rich_repo(src)
    bare = tmp_path / "root" / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    # A ref a clone does not fetch: the answer is then not one whole pack file.
    tree = git("rev-parse", "HEAD^{tree}", cwd=bare).strip().decode()
    extra = git("commit-tree", tree, "-m", "pull request", cwd=bare).strip().decode()
    git("update-ref", "refs/pull/1/head", extra, cwd=bare)
    git("repack", "-adq", cwd=bare)

    calls = []
    real_plan = upload_pack.PackSender._plan

    def slow_plan(self, whole=True):
        calls.append(threading.get_ident())
        time.sleep(1.0)   # long enough for the other clones to queue behind it
        return real_plan(self, whole)

    monkeypatch.setattr(upload_pack.PackSender, "_plan", slow_plan)
    with serving(FileSystemBackend(str(bare.parent))) as srv:
        dests = [tmp_path / f"c{i}" for i in range(4)]
        procs = [subprocess.Popen(["git", "clone", "-q", "--bare", url(srv), str(d)],
                                  stderr=subprocess.PIPE) for d in dests]
        errors = [p.communicate()[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    assert len(calls) == 1
    assert upload_pack._INFLIGHT == {}
    for d in dests:
        fsck(d)
        assert git("rev-parse", "HEAD", cwd=d) == git("rev-parse", "HEAD", cwd=bare)
        assert b"refs/pull" not in git("for-each-ref", cwd=d)
    # the commit only refs/pull/1/head reaches was not sent
    assert subprocess.run(["git", "cat-file", "-e", extra], cwd=dests[0]).returncode != 0
