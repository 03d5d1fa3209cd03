"""ssh (a real OpenSSH sshd on a high port), local paths and the git-binary subprocess client."""

from __future__ import annotations

import io
import os

import pytest

from client_servers import refs_of, sshd  # noqa: F401
from helpers import fsck, git, make_rich_repo
from puregit import porcelain
from puregit.client import (
    LocalGitClient, SSHGitClient, SubprocessGitClient, get_transport_and_path,
)
from puregit.errors import TransportError
from puregit.repo import Repo


@pytest.fixture(scope="module")
def rich_bare(tmp_path_factory):
    base = tmp_path_factory.mktemp("sshsrc")
    work = str(base / "work")
    make_rich_repo(work)
    bare = str(base / "rich.git")
    git("clone", "-q", "--bare", work, bare)
    return bare


@pytest.fixture
def ssh_env(sshd, monkeypatch):
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command)
    return sshd


@pytest.mark.parametrize("version", [0, 2])
def test_ssh_clone_fetch(ssh_env, rich_bare, tmp_path, version):
    url = ssh_env.url(rich_bare)
    client, path = get_transport_and_path(url)
    assert isinstance(client, SSHGitClient)
    refs = client.get_refs(path, protocol_version=version)
    assert refs.refs[b"refs/heads/main"] == refs_of(rich_bare)[b"refs/heads/main"]
    target = str(tmp_path / "c")
    porcelain.clone(url, target, quiet=True, protocol_version=version).close()
    fsck(target)
    assert refs_of(target)[b"refs/remotes/origin/main"] == refs_of(rich_bare)[b"refs/heads/main"]


def test_ssh_push_and_archive(ssh_env, rich_bare, tmp_path):
    target = str(tmp_path / "t.git")
    git("init", "-q", "--bare", target)
    work = str(tmp_path / "w")
    git("clone", "-q", rich_bare, work)
    r = Repo(work)
    res = porcelain.push(r, ssh_env.url(target), [b"main", b"refs/tags/v1.0"], quiet=True)
    r.close()
    assert set(res.ref_status.values()) == {None}
    assert refs_of(target)[b"refs/heads/main"] == refs_of(rich_bare)[b"refs/heads/main"]
    fsck(target)
    client, path = get_transport_and_path(ssh_env.url(rich_bare))
    out = io.BytesIO()
    client.archive(path, b"v1.0", out.write, format=b"tar")
    assert out.getvalue() == git("archive", "--format=tar", "v1.0", cwd=rich_bare)


def test_git_ssh_program_and_port(sshd, rich_bare, tmp_path, monkeypatch):
    wrapper = tmp_path / "myssh"
    opts = sshd.ssh_command.split(" -p ")[0]
    wrapper.write_text(f"#!/bin/sh\nexec {opts} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.setenv("GIT_SSH", str(wrapper))
    client = SSHGitClient("127.0.0.1", port=sshd.port, username=sshd.user)
    assert client.get_refs(rich_bare.encode()).refs


def test_ssh_refuses_option_like_hosts_and_paths():
    with pytest.raises(TransportError):
        SSHGitClient("-oProxyCommand=evil")
    with pytest.raises(TransportError):
        get_transport_and_path("ssh://-oProxyCommand=x/path")
    client = SSHGitClient("example.invalid")
    with pytest.raises(TransportError):
        client.get_refs("-oProxyCommand=x")


def test_local_client_clone_fetch_push(rich_bare, tmp_path):
    client, path = get_transport_and_path(rich_bare)
    assert isinstance(client, LocalGitClient)
    assert client.get_refs(path).refs[b"refs/heads/main"] == refs_of(rich_bare)[b"refs/heads/main"]
    target = str(tmp_path / "c")
    porcelain.clone(rich_bare, target, quiet=True).close()
    fsck(target)
    assert refs_of(target)[b"refs/heads/main"] == refs_of(rich_bare)[b"refs/heads/main"]
    # file:// URLs too, and depth
    shallow = str(tmp_path / "s")
    porcelain.clone("file://" + rich_bare, shallow, depth=1, quiet=True).close()
    assert git("rev-list", "--count", "HEAD", cwd=shallow).strip() == b"1"
    fsck(shallow)
    # push a new commit back to a copy
    dest = str(tmp_path / "dest.git")
    git("clone", "-q", "--bare", rich_bare, dest)
    with open(os.path.join(target, "new.txt"), "w") as f:
        f.write("new\n")
    porcelain.add(target, [os.path.join(target, "new.txt")])
    sha = porcelain.commit(target, "add new", author="A <a@example.com>",
                           committer="A <a@example.com>")
    res = porcelain.push(target, dest, [b"main"], quiet=True)
    assert res.ref_status == {b"refs/heads/main": None}
    assert refs_of(dest)[b"refs/heads/main"] == sha
    fsck(dest)
    # incremental fetch through LocalGitClient sends only what is new
    r = Repo(shallow)
    before = set(r.object_store)
    r.close()
    clone2 = str(tmp_path / "c2")
    porcelain.clone(rich_bare, clone2, quiet=True).close()
    r = Repo(clone2)
    porcelain.fetch(r, dest, quiet=True)
    assert sha in r.object_store
    r.close()
    assert before


def test_subprocess_client(rich_bare, tmp_path):
    client = SubprocessGitClient()
    out = io.BytesIO()
    res = client.fetch_pack(rich_bare, lambda refs: [refs[b"refs/heads/main"]], None, out.write)
    assert out.getvalue()[:4] == b"PACK"
    assert res.symrefs[b"HEAD"] == b"refs/heads/main"
    target = Repo.init(str(tmp_path / "t"), mkdir=True)
    client.fetch(rich_bare, target)
    assert refs_of(rich_bare)[b"refs/heads/main"] in target.object_store
    target.close()


def test_subprocess_hangup_carries_stderr(tmp_path):
    from puregit.errors import HangupException
    with pytest.raises(HangupException) as info:
        SubprocessGitClient().get_refs(str(tmp_path / "missing"))
    assert any(b"does not appear to be a git repository" in line or b"not a git repository"
               in line for line in info.value.stderr_lines)


def test_ssh_missing_repository_is_hangup_with_message(ssh_env, tmp_path):
    from puregit.errors import HangupException
    client, path = get_transport_and_path(ssh_env.url(str(tmp_path / "nope.git")))
    with pytest.raises(HangupException) as info:
        client.get_refs(path)
    assert "does not appear to be a git repository" in str(info.value)
