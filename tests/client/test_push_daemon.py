"""Push against a real ``git daemon --enable=receive-pack``."""

from __future__ import annotations

import os
import stat

import pytest

from client_servers import daemon, refs_of  # noqa: F401
from helpers import fsck, git, make_rich_repo
from puregit import porcelain
from puregit.client import SendPackResult, TCPGitClient
from puregit.errors import CapabilityError
from puregit.repo import Repo

ZERO = b"0" * 40


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pushsrc") / "local")
    ids = make_rich_repo(path)
    return path, ids


def new_bare(daemon, name: str, **config) -> str:
    path = os.path.join(daemon.base, name)
    git("init", "-q", "--bare", path)
    for k, v in config.items():
        git("config", k.replace("_", "."), v, cwd=path)
    return path


def test_push_new_branch_update_delete(daemon, local):
    src, ids = local
    target = new_bare(daemon, "p1.git")
    r = Repo(src)
    url = daemon.url("p1.git")
    res = porcelain.push(r, url, [b"refs/heads/side", b"main"], quiet=True)
    assert isinstance(res, SendPackResult)
    assert res.ref_status == {b"refs/heads/side": None, b"refs/heads/main": None}
    assert refs_of(target)[b"refs/heads/main"] == ids["empty"]
    fsck(target)
    # update (fast-forward): move side to main's tip
    res = porcelain.push(r, url, [b"main:side"], quiet=True)
    assert res.ref_status == {b"refs/heads/side": None}
    assert refs_of(target)[b"refs/heads/side"] == ids["empty"]
    # delete
    res = porcelain.push(r, url, [b":side"], quiet=True)
    assert res.ref_status == {b"refs/heads/side": None}
    assert b"refs/heads/side" not in refs_of(target)
    # tags travel too
    res = porcelain.push(r, url, [b"refs/tags/v1.0", b"refs/tags/blob-tag"], quiet=True)
    assert set(res.ref_status.values()) == {None}
    fsck(target)
    r.close()


def test_push_force_and_non_fast_forward(daemon, local):
    src, ids = local
    target = new_bare(daemon, "p2.git")
    r = Repo(src)
    url = daemon.url("p2.git")
    porcelain.push(r, url, [b"main"], quiet=True)
    # rewinding main is refused locally without force
    res = porcelain.push(r, url, [ids["first"] + b":refs/heads/main"], quiet=True)
    assert res.ref_status[b"refs/heads/main"] == "non-fast-forward"
    assert refs_of(target)[b"refs/heads/main"] == ids["empty"]
    res = porcelain.push(r, url, [b"+" + ids["first"] + b":refs/heads/main"], quiet=True)
    assert res.ref_status[b"refs/heads/main"] is None
    assert refs_of(target)[b"refs/heads/main"] == ids["first"]
    res = porcelain.push(r, url, [b"main"], force=True, quiet=True)
    assert res.ref_status[b"refs/heads/main"] is None
    r.close()
    fsck(target)


def test_refused_refs_reported_per_ref(daemon, local):
    src, ids = local
    target = new_bare(daemon, "p3.git", receive_denyNonFastForwards="true",
                      receive_denyDeletes="true")
    r = Repo(src)
    url = daemon.url("p3.git")
    porcelain.push(r, url, [b"main", b"side"], quiet=True)
    client = TCPGitClient("127.0.0.1", daemon.port)

    def update(refs):
        refs = dict(refs)
        refs[b"refs/heads/main"] = ids["first"]      # non-fast-forward: refused by the server
        refs[b"refs/heads/side"] = ZERO              # deletion: refused by the server
        refs[b"refs/heads/new"] = ids["merge"]       # fine
        return refs

    res = client.send_pack("/p3.git", update, r.object_store.generate_pack_data)
    assert res.ref_status[b"refs/heads/new"] is None
    assert "non-fast-forward" in res.ref_status[b"refs/heads/main"]
    assert "deletion prohibited" in res.ref_status[b"refs/heads/side"]
    after = refs_of(target)
    assert after[b"refs/heads/main"] == ids["empty"]
    assert b"refs/heads/side" in after
    assert after[b"refs/heads/new"] == ids["merge"]
    assert res.refs[b"refs/heads/new"] == ids["merge"]
    assert res.refs[b"refs/heads/main"] == ids["empty"]
    r.close()


def test_atomic_push_all_or_nothing(daemon, local):
    src, ids = local
    target = new_bare(daemon, "p4.git", receive_denyNonFastForwards="true")
    r = Repo(src)
    porcelain.push(r, daemon.url("p4.git"), [b"main"], quiet=True)
    client = TCPGitClient("127.0.0.1", daemon.port)

    def update(refs):
        refs = dict(refs)
        refs[b"refs/heads/main"] = ids["first"]
        refs[b"refs/heads/other"] = ids["merge"]
        return refs

    res = client.send_pack("/p4.git", update, r.object_store.generate_pack_data, atomic=True)
    assert res.ref_status[b"refs/heads/main"] is not None
    assert res.ref_status[b"refs/heads/other"] is not None
    assert b"refs/heads/other" not in refs_of(target)
    # and a clean atomic push goes through
    res = porcelain.push(r, daemon.url("p4.git"), [b"side", b"refs/tags/light"], atomic=True,
                         quiet=True)
    assert set(res.ref_status.values()) == {None}
    r.close()


def test_push_options_reach_hooks(daemon, local):
    src, _ = local
    target = new_bare(daemon, "p5.git", receive_advertisePushOptions="true")
    out = os.path.join(target, "options.txt")
    hook = os.path.join(target, "hooks", "pre-receive")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\ni=0\nwhile [ $i -lt \"$GIT_PUSH_OPTION_COUNT\" ]; do\n"
                f"  eval echo \\$GIT_PUSH_OPTION_$i >> {out}\n  i=$((i+1))\ndone\n"
                "echo hook says hi >&2\n")
    os.chmod(hook, os.stat(hook).st_mode | stat.S_IEXEC)
    r = Repo(src)
    messages = []
    res = porcelain.push(r, daemon.url("p5.git"), [b"main"], push_options=[b"ci.skip", "x=y"],
                         quiet=True)
    assert res.ref_status == {b"refs/heads/main": None}
    assert open(out).read().split() == ["ci.skip", "x=y"]
    # hook output arrives as progress (band 2)
    client = TCPGitClient("127.0.0.1", daemon.port)
    res = client.send_pack("/p5.git", lambda refs: {**refs, b"refs/heads/s": refs[b"refs/heads/main"]},
                           r.object_store.generate_pack_data, progress=messages.append)
    assert b"hook says hi" in b"".join(messages)
    # a server without push-options support refuses them before sending anything
    new_bare(daemon, "p6.git")
    with pytest.raises(CapabilityError):
        porcelain.push(r, daemon.url("p6.git"), [b"main"], push_options=[b"a"], quiet=True)
    r.close()
