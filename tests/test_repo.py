"""Repositories: open what git makes, make what git trusts."""

import os

import pytest

from helpers import all_object_ids, fsck, git, make_rich_repo
from puregit.errors import NotGitRepository, RepositoryFormatError
from puregit.hashes import SHA256
from puregit.objects import Blob, Commit, Tag, Tree
from puregit.repo import MemoryRepo, Repo


def test_seed_init_and_do_commit_with_str(tmp_path):
    os.chdir(tmp_path)
    repo = Repo.init("remote", mkdir=True)
    cid = repo.do_commit("message", committer="Jelmer <jelmer@samba.org>")
    assert repo.get_refs()[b"HEAD"] == cid
    assert repo.get_refs()[b"refs/heads/master"] == cid
    out = git("log", "-1", "--format=%an|%cn|%s|%T", cwd=tmp_path / "remote")
    assert out == b"Jelmer|Jelmer|message|4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    fsck(tmp_path / "remote")


def test_do_commit_with_bytes_and_parents(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), mkdir=True)
    c1 = repo.do_commit(b"first", committer=b"C <c@example.com>", author=b"A <a@example.com>",
                        commit_timestamp=1700000000, commit_timezone=3600,
                        author_timestamp=1600000000, author_timezone=-18000)
    c2 = repo.do_commit(b"second\n\nbody", committer=b"C <c@example.com>",
                        author="\u00c5sa <asa@example.com>")
    assert repo[c2].parents == [c1]
    out = git("log", "--format=%an|%cn|%s|%ad", "--date=raw", cwd=tmp_path / "r")
    assert out.decode("utf-8").splitlines() == [
        f"\u00c5sa|C|second|{repo[c2].author_time} {_tz(repo[c2].author_timezone)}",
        "A|C|first|1600000000 -0500"]
    assert git("log", "-1", "--format=%cd", "--date=raw", "HEAD~1", cwd=tmp_path / "r") == \
        b"1700000000 +0100\n"
    # the reflog is there, as for git's commits
    assert b"commit (initial): first" in git("reflog", "--format=%gs", cwd=tmp_path / "r")
    fsck(tmp_path / "r")


def _tz(offset):
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    return f"{sign}{offset // 3600:02d}{offset // 60 % 60:02d}"


def test_do_commit_stages_the_index(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), mkdir=True)
    (tmp_path / "r" / "a.txt").write_bytes(b"hello\n")
    os.makedirs(tmp_path / "r" / "d")
    (tmp_path / "r" / "d" / "x.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(tmp_path / "r" / "d" / "x.sh", 0o755)
    repo.stage(["a.txt", "d/x.sh"])
    repo.do_commit("add files", committer="C <c@example.com>")
    assert git("ls-tree", "-r", "HEAD", cwd=tmp_path / "r") == git(
        "ls-files", "-s", cwd=tmp_path / "r").replace(b" 0\t", b"\t").replace(
        b"100644 ", b"100644 blob ").replace(b"100755 ", b"100755 blob ")
    assert git("status", "--porcelain", cwd=tmp_path / "r") == b""
    fsck(tmp_path / "r")


def test_repository_built_only_by_puregit(tmp_path):
    path = str(tmp_path / "made.git")
    repo = Repo.init_bare(path, mkdir=True)
    store = repo.object_store
    blob = Blob.from_data(b"print('hi')\n")
    exe = Blob.from_data(b"#!/bin/sh\n")
    link = Blob.from_data(b"script.py")
    for b in (blob, exe, link):
        store.add_object(b)
    sub = Tree()
    sub.add(b"run", 0o100755, exe.id)
    store.add_object(sub)
    tree = Tree()
    tree.add(b"script.py", 0o100644, blob.id)
    tree.add(b"bin", 0o40000, sub.id)
    tree.add(b"link", 0o120000, link.id)
    store.add_object(tree)
    c1 = repo.do_commit("initial", committer="C <c@example.com>", tree=tree.id,
                        ref=b"refs/heads/master")
    c2 = repo.do_commit("feature work", committer="C <c@example.com>", tree=tree.id,
                        ref=b"refs/heads/feature", merge_heads=[c1])
    tag = Tag()
    tag.object = (Commit, c2)
    tag.name = b"v1.0"
    tag.tagger = b"T <t@example.com>"
    tag.tag_time = 1700000000
    tag.tag_timezone = 0
    tag.message = b"release\n"
    store.add_object(tag)
    repo.refs[b"refs/tags/v1.0"] = tag.id
    repo.refs[b"refs/tags/light"] = c1
    repo.refs.add_packed_refs({b"refs/tags/v1.0": tag.id, b"refs/tags/light": c1})
    for name in (b"refs/tags/v1.0", b"refs/tags/light"):
        p = os.path.join(path, name.decode())
        if os.path.exists(p):
            os.unlink(p)
    fsck(path)
    assert git("show-ref", cwd=path).splitlines() == [
        c2 + b" refs/heads/feature", c1 + b" refs/heads/master",
        c1 + b" refs/tags/light", tag.id + b" refs/tags/v1.0"]
    assert git("log", "--format=%s", "feature", cwd=path) == b"feature work\ninitial\n"
    assert git("cat-file", "-p", f"{tree.id.decode()}:bin/run", cwd=path) == b"#!/bin/sh\n"
    assert git("cat-file", "-p", "v1.0", cwd=path).endswith(b"\nrelease\n")
    assert git("rev-parse", "v1.0^{commit}", cwd=path).strip() == c2
    assert repo.get_peeled(b"refs/tags/v1.0") == c2


def test_open_git_made_repositories(tmp_path):
    info = make_rich_repo(tmp_path / "r")
    repo = Repo(str(tmp_path / "r"))
    assert not repo.bare
    assert repo.head() == info["empty"]
    assert repo.refs.get_symrefs()[b"HEAD"] == b"refs/heads/main"
    expected = dict(line.split()[::-1] for line in git("show-ref", cwd=tmp_path / "r").splitlines())
    got = {k: v for k, v in repo.get_refs().items() if k != b"HEAD"}
    assert got == expected
    for sha in all_object_ids(tmp_path / "r"):
        assert repo[sha].id == sha
    git("clone", "-q", "--bare", str(tmp_path / "r"), str(tmp_path / "bare.git"))
    bare = Repo(str(tmp_path / "bare.git"))
    assert bare.bare and bare.head() == info["empty"]
    # a linked work tree: .git is a file and commondir points back
    git("worktree", "add", "-q", str(tmp_path / "wt"), "side", cwd=tmp_path / "r")
    wt = Repo(str(tmp_path / "wt"))
    assert wt.head() == git("rev-parse", "side", cwd=tmp_path / "r").strip()
    assert wt.commondir() == os.path.realpath(str(tmp_path / "r" / ".git")) or \
        os.path.samefile(wt.commondir(), tmp_path / "r" / ".git")


def test_not_a_repository(tmp_path):
    with pytest.raises(NotGitRepository):
        Repo(str(tmp_path))


def test_unknown_extension_is_refused(tmp_path):
    git("init", "-q", str(tmp_path / "r"))
    git("config", "core.repositoryformatversion", "1", cwd=tmp_path / "r")
    git("config", "extensions.somethingNew", "true", cwd=tmp_path / "r")
    with pytest.raises(RepositoryFormatError):
        Repo(str(tmp_path / "r"))


def test_sha256_repository_made_by_git_reads_back(tmp_path):
    make_rich_repo(tmp_path / "r", object_format="sha256")
    repo = Repo(str(tmp_path / "r"))
    assert repo.hash_algo is SHA256
    head = git("rev-parse", "HEAD", cwd=tmp_path / "r").strip()
    assert len(head) == 64 and repo.head() == head
    for sha in all_object_ids(tmp_path / "r"):
        assert repo[sha].id == sha


def test_sha256_repository_made_by_puregit_passes_fsck(tmp_path):
    repo = Repo.init(str(tmp_path / "r"), mkdir=True, object_format="sha256")
    (tmp_path / "r" / "f").write_bytes(b"data\n")
    repo.stage(["f"])
    c1 = repo.do_commit("one", committer="C <c@example.com>")
    c2 = repo.do_commit("two", committer="C <c@example.com>")
    assert len(c1) == 64
    fsck(tmp_path / "r")
    assert git("rev-parse", "HEAD~1", cwd=tmp_path / "r").strip() == c1
    assert git("log", "--format=%s", cwd=tmp_path / "r") == b"two\none\n"
    assert git("cat-file", "-p", "HEAD:f", cwd=tmp_path / "r") == b"data\n"
    assert repo[c2].parents == [c1]


def test_memory_repo():
    repo = MemoryRepo()
    cid = repo.do_commit(b"in memory", committer=b"C <c@example.com>")
    assert repo[b"HEAD"].id == cid
    assert repo.get_refs()[b"refs/heads/master"] == cid
    assert isinstance(repo[cid], Commit)
