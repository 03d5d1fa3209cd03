"""Fetch and clone against a real ``git daemon`` (protocol v0 and v2)."""

from __future__ import annotations

import io
import os

import pytest

from client_servers import bare_copy, count_pack_objects, daemon, refs_of  # noqa: F401
from helpers import fsck, git, make_rich_repo
from puregit import porcelain
from puregit.client import ObjectStoreGraphWalker, TCPGitClient, get_transport_and_path
from puregit.errors import RemoteError
from puregit.repo import Repo

VERSIONS = [0, 2]


class DummyGraphWalker:
    def ack(self, sha):
        pass

    def next(self):
        pass


def fast_import_commits(repo: str, n: int, branch: str = "main", prefix: str = "f") -> None:
    """Append ``n`` commits to ``branch`` quickly with git fast-import."""
    head = git("rev-parse", "-q", "--verify", branch, cwd=repo, check=False).strip()
    lines = []
    for i in range(n):
        data = f"{prefix} {i}\n".encode()
        lines.append(b"commit refs/heads/" + branch.encode())
        lines.append(b"committer C <c@example.com> %d +0000" % (1700001000 + i))
        msg = f"{prefix} commit {i}".encode()
        lines.append(b"data %d" % len(msg))
        lines.append(msg)
        if i == 0 and head:
            lines.append(b"from " + head)
        lines.append(b"M 100644 inline " + f"{prefix}{i % 7}.txt".encode())
        lines.append(b"data %d" % len(data))
        lines.append(data)
        lines.append(b"")
    git("fast-import", "--quiet", cwd=repo, input=b"\n".join(lines) + b"\n")


@pytest.fixture(scope="module")
def rich(daemon, tmp_path_factory):
    work = str(tmp_path_factory.mktemp("richwork") / "rich")
    make_rich_repo(work)
    fast_import_commits(work, 60)
    path = bare_copy(work, os.path.join(daemon.base, "rich.git"))
    git("config", "uploadpack.allowFilter", "true", cwd=path)
    return path


def test_get_refs_matches_ls_remote(daemon, rich):
    client, path = get_transport_and_path(daemon.url("rich.git"))
    assert isinstance(client, TCPGitClient)
    expected = {}
    for line in git("ls-remote", daemon.url("rich.git")).splitlines():
        sha, name = line.split(b"\t")
        expected[name] = sha
    for v in VERSIONS:
        got = client.get_refs(path, protocol_version=v)
        assert got.refs == expected
        assert got.symrefs[b"HEAD"] == b"refs/heads/main"


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_pack_raw(daemon, rich, version):
    client = TCPGitClient("127.0.0.1", daemon.port)
    f = io.BytesIO()
    result = client.fetch_pack("/rich.git", lambda refs: refs.values(), DummyGraphWalker(),
                               pack_data=f.write, protocol_version=version)
    assert f.getvalue()[:4] == b"PACK"
    assert result.refs[b"refs/heads/main"] == refs_of(rich)[b"refs/heads/main"]
    assert result.agent.startswith(b"git/")


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_same_refs_and_fsck(daemon, rich, tmp_path, version):
    target = str(tmp_path / "clone")
    r = porcelain.clone(daemon.url("rich.git"), target, quiet=True, protocol_version=version)
    r.close()
    src = refs_of(rich)
    dst = refs_of(target)
    for name, sha in src.items():
        if name.startswith(b"refs/heads/"):
            assert dst[b"refs/remotes/origin/" + name[11:]] == sha
        else:
            assert dst[name] == sha
    assert dst[b"refs/heads/main"] == src[b"refs/heads/main"]
    fsck(target)
    assert git("status", "--porcelain", cwd=target) == b""
    assert os.path.exists(os.path.join(target, "f0.txt"))


def test_clone_bare_and_mirror(daemon, rich, tmp_path):
    bare = str(tmp_path / "bare.git")
    porcelain.clone(daemon.url("rich.git"), bare, bare=True, quiet=True).close()
    assert refs_of(bare) == refs_of(rich)
    fsck(bare)
    mirror = str(tmp_path / "mirror.git")
    porcelain.clone(daemon.url("rich.git"), mirror, mirror=True, quiet=True).close()
    assert refs_of(mirror) == refs_of(rich)
    assert git("config", "remote.origin.mirror", cwd=mirror).strip() == b"true"


@pytest.mark.parametrize("version", VERSIONS)
def test_incremental_fetch_transfers_only_new_objects(daemon, rich, tmp_path, version):
    src = str(tmp_path / "src.git")
    git("clone", "-q", "--bare", rich, src)
    os.rename(src, os.path.join(daemon.base, f"inc{version}.git"))
    src = os.path.join(daemon.base, f"inc{version}.git")
    target = str(tmp_path / "clone")
    porcelain.clone(daemon.url(f"inc{version}.git"), target, quiet=True,
                    protocol_version=version).close()
    # Local work the server never saw: many haves, several negotiation rounds.
    fast_import_commits(target, 80, branch="local", prefix="l")
    fast_import_commits(src, 2, prefix="new")   # 2 commits, 2 trees, 2 blobs
    r = Repo(target)
    client = TCPGitClient("127.0.0.1", daemon.port)
    walker_repo_heads = list(r.refs.as_dict().values())
    from puregit.client.receive import local_graph_walker
    f = io.BytesIO()
    client.fetch_pack(f"/inc{version}.git",
                      lambda refs: [refs[b"refs/heads/main"]], local_graph_walker(r),
                      pack_data=f.write, protocol_version=version)
    assert count_pack_objects(f.getvalue()) == 6
    assert walker_repo_heads
    result = porcelain.fetch(r, "origin", quiet=True, protocol_version=version)
    assert result.refs[b"refs/heads/main"] == refs_of(src)[b"refs/heads/main"]
    assert refs_of(target)[b"refs/remotes/origin/main"] == refs_of(src)[b"refs/heads/main"]
    r.close()
    fsck(target)
    # Nothing new: no pack at all.
    r = Repo(target)
    assert porcelain.fetch(r, "origin", quiet=True).object_count is None
    r.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_depth_one_then_deepen(daemon, rich, tmp_path, version):
    target = str(tmp_path / "shallow")
    porcelain.clone(daemon.url("rich.git"), target, depth=1, quiet=True,
                    protocol_version=version).close()
    assert git("rev-list", "--count", "HEAD", cwd=target).strip() == b"1"
    shallow = open(os.path.join(target, ".git", "shallow"), "rb").read().split()
    assert refs_of(rich)[b"refs/heads/main"] in shallow
    fsck(target)
    r = Repo(target)
    porcelain.fetch(r, "origin", depth=3, quiet=True, protocol_version=version)
    r.close()
    assert git("rev-list", "--count", "refs/remotes/origin/main", cwd=target).strip() == b"3"
    fsck(target)


@pytest.mark.parametrize("version", VERSIONS)
def test_filter_blob_none(daemon, rich, tmp_path, version):
    client = TCPGitClient("127.0.0.1", daemon.port)
    full, filtered = io.BytesIO(), io.BytesIO()
    wants = lambda refs: [refs[b"refs/heads/main"]]  # noqa: E731
    client.fetch_pack("/rich.git", wants, None, full.write, protocol_version=version,
                      include_tags=False)
    client.fetch_pack("/rich.git", wants, None, filtered.write, filter_spec=b"blob:none",
                      include_tags=False,
                      protocol_version=version)
    omitted = git("rev-list", "--objects", "--filter-print-omitted", "--filter=blob:none",
                  "main", cwd=rich).splitlines()
    n_blobs = sum(1 for line in omitted if line.startswith(b"~"))
    assert n_blobs > 0
    assert count_pack_objects(filtered.getvalue()) == count_pack_objects(full.getvalue()) - n_blobs
    # and into a repository, as a bare partial clone
    target = str(tmp_path / "partial.git")
    porcelain.clone(daemon.url("rich.git"), target, bare=True, filter_spec="blob:none",
                    quiet=True, protocol_version=version).close()
    assert git("config", "remote.origin.partialclonefilter", cwd=target).strip() == b"blob:none"
    blob = git("rev-parse", "main:f0.txt", cwd=rich).strip()
    r = Repo(target)
    assert blob not in r.object_store
    assert r[refs_of(rich)[b"refs/heads/main"]].tree in r.object_store
    r.close()


def test_graph_walker_over_repo(daemon, rich):
    r = Repo(rich)
    heads = [r.refs[b"refs/heads/main"]]
    w = ObjectStoreGraphWalker(heads, lambda s: r[s].parents)
    first = w.next()
    assert first == heads[0]
    w.ack(first)
    assert w.next() is None
    r.close()


def test_archive_matches_git_archive(daemon, rich):
    client = TCPGitClient("127.0.0.1", daemon.port)
    out = io.BytesIO()
    client.archive("/rich.git", b"main", out.write, format=b"tar", prefix=b"p/")
    expected = git("archive", "--format=tar", "--prefix=p/", "main", cwd=rich)
    assert out.getvalue() == expected
    out = io.BytesIO()
    client.archive("/rich.git", b"v1.0", out.write, subdirs=[b"bin"])
    assert out.getvalue() == git("archive", "--format=tar", "v1.0", "bin", cwd=rich)
    errors = []
    with pytest.raises(RemoteError):
        client.archive("/rich.git", b"main", io.BytesIO().write, subdirs=[b"nope"],
                       write_error=errors.append)
    assert errors


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_empty_repository(daemon, tmp_path, version):
    git("init", "-q", "--bare", "-b", "trunk", os.path.join(daemon.base, f"empty{version}.git"))
    target = str(tmp_path / "e")
    porcelain.clone(daemon.url(f"empty{version}.git"), target, quiet=True,
                    protocol_version=version).close()
    assert refs_of(target) == {}
    if version == 2:   # v2 ls-refs tells us the unborn HEAD's branch
        assert git("symbolic-ref", "HEAD", cwd=target).strip() == b"refs/heads/trunk"


def test_missing_repository_over_git_daemon(daemon):
    from puregit.errors import ErrPktError
    client = TCPGitClient("127.0.0.1", daemon.port)
    with pytest.raises(ErrPktError, match="not exported"):
        client.get_refs("/does-not-exist.git")


def test_many_haves_against_single_ack_server(daemon, rich, tmp_path):
    """Force the plain multi_ack-less path by pretending the server lacks the capabilities."""
    from puregit.client import fetching
    target = str(tmp_path / "c")
    porcelain.clone(daemon.url("rich.git"), target, quiet=True, protocol_version=0).close()
    fast_import_commits(target, 40, branch="local", prefix="s")
    orig = fetching._ack_mode
    try:
        for mode in (0, 1, 2):
            fetching._ack_mode = lambda adv, mode=mode: mode
            r = Repo(target)
            from puregit.client.receive import local_graph_walker
            f = io.BytesIO()
            TCPGitClient("127.0.0.1", daemon.port).fetch_pack(
                "/rich.git", lambda refs: [refs[b"refs/heads/side"]], local_graph_walker(r),
                f.write, protocol_version=0)
            r.close()
            assert count_pack_objects(f.getvalue()) == 0
    finally:
        fetching._ack_mode = orig


def test_partial_clone_with_checkout(daemon, rich, tmp_path):
    """blob:none, then only HEAD's blobs are fetched for the checkout; git accepts the result."""
    target = str(tmp_path / "partial")
    porcelain.clone(daemon.url("rich.git"), target, filter_spec="blob:none", quiet=True).close()
    assert open(os.path.join(target, "f0.txt")).read().startswith("f ")
    assert git("status", "--porcelain", cwd=target) == b""
    old_blob = git("rev-parse", "v1.0:bin/run.sh", cwd=rich).strip()
    r = Repo(target)
    assert old_blob not in r.object_store     # only in history: never fetched
    r.close()
    packs = os.listdir(os.path.join(target, ".git", "objects", "pack"))
    assert any(p.endswith(".promisor") for p in packs)
    p = __import__("helpers").git_ok("fsck", "--connectivity-only", cwd=target)
    assert p.returncode == 0, p.stderr
