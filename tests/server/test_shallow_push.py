"""A push from a shallow clone into a repository that lacks the history: receive.shallowUpdate."""

from __future__ import annotations

import re

import pytest
from helpers import fsck, git, git_ok, make_rich_repo
from helpers_server import serving, url

from puregit.backend import FileSystemBackend


def _history(tmp_path):
    """A repository with a few more commits than make_rich_repo's."""
    src = tmp_path / "src"
    make_rich_repo(src)
    for i in range(3):
        (src / f"more{i}.txt").write_text(f"{i}\n")
        git("add", "-A", ".", cwd=src)
        git("commit", "-q", "-m", f"more {i}", cwd=src)
    return src


def _reason(stderr: bytes):
    m = re.search(rb"\[remote rejected\] main -> main \((.*)\)", stderr)
    return m.group(1) if m else None


@pytest.mark.parametrize("allowed", [False, True])
def test_shallow_push_like_git(tmp_path, allowed):
    src = _history(tmp_path)
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "2", "-b", "main", f"file://{src}", str(shallow))
    (shallow / "pushed.txt").write_text("from a shallow clone\n")
    git("add", "pushed.txt", cwd=shallow)
    git("commit", "-q", "-m", "pushed from shallow", cwd=shallow)
    repos = {}
    for name in ("git", "puregit"):
        repos[name] = tmp_path / name / "repo.git"
        git("init", "-q", "--bare", str(repos[name]))
        if allowed:
            git("config", "receive.shallowUpdate", "true", cwd=repos[name])
    p = git_ok("push", str(repos["git"]), "main", cwd=shallow)
    theirs = (p.returncode, _reason(p.stderr))
    with serving(FileSystemBackend(str(repos["puregit"].parent)),
                 enable_receive_pack=True) as srv:
        p = git_ok("push", url(srv), "main", cwd=shallow)
    ours = (p.returncode, _reason(p.stderr))
    assert ours == theirs == ((0, None) if allowed else (1, b"shallow update not allowed"))
    shallow_files = {n: (r / "shallow").read_bytes() if (r / "shallow").exists() else None
                     for n, r in repos.items()}
    assert shallow_files["puregit"] == shallow_files["git"]
    assert git("for-each-ref", cwd=repos["puregit"]) == git("for-each-ref", cwd=repos["git"])
    if allowed:
        fsck(repos["puregit"])
        clone = tmp_path / "again"
        with serving(FileSystemBackend(str(repos["puregit"].parent))) as srv:
            git("clone", "-q", "-b", "main", url(srv), str(clone))
        assert (clone / "pushed.txt").read_text() == "from a shallow clone\n"
        assert (clone / ".git" / "shallow").exists()
        fsck(clone)
    else:
        assert git("count-objects", "-v", cwd=repos["puregit"]).count(b"count: 0") == 1
        assert not any((repos["puregit"] / "objects" / "pack").iterdir())


@pytest.mark.parametrize("version", ["0", "2"])
def test_clone_from_a_shallow_repository(tmp_path, version):
    """The server's own shallow boundary reaches the client (v0 advertises it, v2 sends
    shallow-info), so the clone is shallow and complete, as from git."""
    src = _history(tmp_path)
    served = tmp_path / "root" / "repo.git"
    git("clone", "-q", "--bare", "--depth", "2", "-b", "main", f"file://{src}", str(served))
    clone = tmp_path / "clone"
    with serving(FileSystemBackend(str(served.parent))) as srv:
        git("-c", f"protocol.version={version}", "clone", "-q", url(srv), str(clone))
    fsck(clone)
    assert (clone / ".git" / "shallow").read_bytes() == (served / "shallow").read_bytes()
    assert git("rev-parse", "HEAD", cwd=clone) == git("rev-parse", "HEAD", cwd=served)
