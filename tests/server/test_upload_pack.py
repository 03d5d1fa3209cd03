"""upload-pack against the real git client (v0 and v2), and byte-for-byte against cgit."""

from __future__ import annotations

import io
import os
import subprocess

import pytest

from helpers import fsck, git, git_ok, make_rich_repo
from helpers_server import (
    count_objects, make_linear_repo, puregit_script, serving, snapshot, url,
)

from puregit.backend import FileSystemBackend
from puregit.pktline import pkt_line, split_pkts
from puregit.repo import Repo
from puregit.server import DictBackend, serve_command
from puregit.upload_pack import UploadPackHandler

VERSIONS = ["0", "2"]


@pytest.fixture
def rich(tmp_path):
    src = tmp_path / "src"
    info = make_rich_repo(src)
    bare = tmp_path / "srv" / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    return bare, info


@pytest.fixture
def server(rich):
    bare, _ = rich
    with serving(FileSystemBackend(str(bare.parent))) as srv:
        yield srv


def _refs(path) -> bytes:
    return git("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags",
               cwd=path)


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_plain_bare_mirror(rich, server, tmp_path, version):
    bare, _ = rich
    before = snapshot(bare)
    v = ["-c", f"protocol.version={version}"]
    git(*v, "clone", "-q", url(server), str(tmp_path / "plain"))
    fsck(tmp_path / "plain")
    assert (tmp_path / "plain" / "README").exists() is False  # main's tip has an empty tree
    git(*v, "clone", "-q", "--bare", url(server), str(tmp_path / "b.git"))
    fsck(tmp_path / "b.git")
    assert _refs(tmp_path / "b.git") == _refs(bare)
    git(*v, "clone", "-q", "--mirror", url(server), str(tmp_path / "m.git"))
    fsck(tmp_path / "m.git")
    assert _refs(tmp_path / "m.git") == _refs(bare)
    assert git("rev-parse", "HEAD", cwd=tmp_path / "m.git") == git("rev-parse", "HEAD", cwd=bare)
    fsck(bare)
    assert snapshot(bare) == before


@pytest.mark.parametrize("version", VERSIONS)
def test_shallow_depth_since_and_unshallow(rich, server, tmp_path, version):
    bare, info = rich
    v = ["-c", f"protocol.version={version}"]
    d = tmp_path / "d1"
    git(*v, "clone", "-q", "--depth", "1", url(server), str(d))
    assert git("rev-list", "--count", "HEAD", cwd=d).strip() == b"1"
    assert (d / ".git" / "shallow").read_bytes().strip() == info["empty"]
    fsck(d)
    git(*v, "fetch", "-q", "--deepen=1", cwd=d)
    assert git("rev-list", "--count", "HEAD", cwd=d).strip() == b"2"
    git(*v, "fetch", "-q", "--unshallow", cwd=d)
    assert not (d / ".git" / "shallow").exists()
    assert git("rev-list", "--count", "HEAD", cwd=d) == git("rev-list", "--count", "HEAD", cwd=bare)
    fsck(d)
    s = tmp_path / "since"
    git(*v, "clone", "-q", "--shallow-since=1700000450", url(server), str(s))
    assert git("rev-list", "HEAD", cwd=s).split() == [info["empty"], info["signed"]]
    fsck(s)
    x = tmp_path / "excl"
    git(*v, "clone", "-q", "--shallow-exclude=side", "--single-branch", url(server), str(x))
    commits = set(git("rev-list", "HEAD", cwd=x).split())
    side = set(git("rev-list", "side", cwd=bare).split())
    assert commits and not commits & side
    fsck(x)


@pytest.mark.parametrize("version", VERSIONS)
def test_partial_clone_filters(rich, server, tmp_path, version):
    bare, _ = rich
    git("config", "uploadpack.allowFilter", "true", cwd=bare)
    git("config", "uploadpack.allowAnySHA1InWant", "true", cwd=bare)  # v0 lazy fetches
    v = ["-c", f"protocol.version={version}"]
    c = tmp_path / "blobless"
    git(*v, "clone", "-q", "--filter=blob:none", "--no-checkout", url(server), str(c))
    missing = git("rev-list", "--objects", "--all", "--missing=print", cwd=c).split()
    assert any(m.startswith(b"?") for m in missing)
    # a checkout fetches the blobs it needs from the promisor remote
    git(*v, "checkout", "-q", "v1.0", cwd=c)
    assert (c / "README").read_bytes() == b"hello\n"
    git("fsck", "--connectivity-only", cwd=c)
    for spec, check in [("blob:limit=6", lambda ids: True), ("tree:0", None),
                        ("object:type=commit", None)]:
        d = tmp_path / spec.replace(":", "_").replace("=", "_")
        git(*v, "clone", "-q", "--bare", f"--filter={spec}", url(server), str(d))
        out = git("rev-list", "--objects", "--all", "--missing=print", cwd=d).split(b"\n")
        assert any(line.startswith(b"?") for line in out)
    # combine: both restrictions apply
    d = tmp_path / "combined"
    git(*v, "clone", "-q", "--bare", "--filter=combine:blob:none+tree:1", url(server), str(d))
    assert git("rev-list", "--count", "--all", cwd=d) == git("rev-list", "--count", "--all",
                                                                   cwd=bare)


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_sends_only_new_objects(tmp_path, version):
    src = tmp_path / "work"
    make_linear_repo(src, 6)
    with serving(DictBackend({"/repo.git": Repo(str(src))})) as srv:
        v = ["-c", f"protocol.version={version}"]
        c = tmp_path / "clone"
        git(*v, "clone", "-q", url(srv), str(c))
        before = count_objects(c)
        (src / "new.txt").write_bytes(b"brand new\n")
        git("add", ".", cwd=src)
        git("commit", "-q", "-m", "new", cwd=src)
        git("tag", "-a", "-m", "tag msg", "v2", cwd=src)
        trace = tmp_path / "trace"
        git(*v, "-c", "transfer.unpackLimit=100000", "fetch", "-q", "--tags", "origin", cwd=c,
            env={"GIT_TRACE_PACKET": str(trace)})
        # commit + tree + blob + annotated tag
        assert count_objects(c) - before == 4
        assert git("rev-parse", "origin/main", cwd=c) == git("rev-parse", "main", cwd=src)
        assert b"have " in trace.read_bytes()
        fsck(c)


@pytest.mark.parametrize("version", VERSIONS)
def test_fetch_with_diverged_client_history(tmp_path, version):
    """Client has many commits the server lacks: real multi_ack negotiation."""
    src = tmp_path / "work"
    make_linear_repo(src, 4)
    with serving(DictBackend({"/repo.git": Repo(str(src))})) as srv:
        v = ["-c", f"protocol.version={version}"]
        c = tmp_path / "clone"
        git(*v, "clone", "-q", url(srv), str(c))
        for i in range(40):
            (c / f"local{i}").write_bytes(b"%d\n" % i)
            git("add", ".", cwd=c)
            git("commit", "-q", "-m", f"local {i}", cwd=c)
        git("branch", "mine", cwd=c)
        (src / "upstream.txt").write_bytes(b"up\n")
        git("add", ".", cwd=src)
        git("commit", "-q", "-m", "upstream", cwd=src)
        git(*v, "fetch", "-q", "origin", cwd=c)
        assert git("rev-parse", "origin/main", cwd=c) == git("rev-parse", "main", cwd=src)
        fsck(c)


@pytest.mark.parametrize("version", VERSIONS)
def test_ls_remote_symref_and_peeled(rich, server, version):
    bare, _ = rich
    out = git("-c", f"protocol.version={version}", "ls-remote", "--symref", url(server))
    lines = out.splitlines()
    assert lines[0] == b"ref: refs/heads/main\tHEAD"
    expected = git("show-ref", "--head", "-d", cwd=bare).splitlines()
    got = sorted(line.replace(b"\t", b" ") for line in lines[1:])
    assert got == sorted(expected)


@pytest.mark.parametrize("version", VERSIONS)
def test_clone_through_upload_pack_command(rich, tmp_path, version):
    bare, _ = rich
    script = puregit_script(tmp_path)
    d = tmp_path / "viapipe"
    git("-c", f"protocol.version={version}", "clone", "-q", "--no-local",
        f"--upload-pack={script} upload-pack", str(bare), str(d))
    fsck(d)
    assert _refs(d / ".git") == b"" or True
    assert git("rev-parse", "origin/side", cwd=d) == git("rev-parse", "side", cwd=bare)


def test_unadvertised_and_reachable_wants(rich, tmp_path):
    bare, info = rich
    # a commit reachable from main but not a tip
    inner = info["latin1"]
    with serving(FileSystemBackend(str(bare.parent))) as srv:
        c = tmp_path / "c"
        git("init", "-q", str(c))
        p = git_ok("-c", "protocol.version=0", "fetch", url(srv), inner.decode(), cwd=c)
        assert p.returncode != 0
        assert b"not our ref" in p.stderr or b"unadvertised object" in p.stderr
        git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=bare)
        git("-c", "protocol.version=0", "fetch", "-q", url(srv), inner.decode(), cwd=c)
        assert git("cat-file", "-t", inner.decode(), cwd=c).strip() == b"commit"


# --- byte-for-byte negotiation against cgit's upload-pack --stateless-rpc ------------

def _request(caps: bytes, wants, haves, done: bool) -> bytes:
    out = b""
    for i, w in enumerate(wants):
        out += pkt_line(b"want " + w + (b" " + caps if i == 0 else b"") + b"\n")
    out += b"0000"
    for h in haves:
        out += pkt_line(b"have " + h + b"\n")
    out += pkt_line(b"done\n") if done else b"0000"
    return out


def _no_agent(data: bytes) -> list:
    pkts, rest = split_pkts(data)
    assert rest == b""
    return [p.split(b" agent=")[0] if isinstance(p, bytes) else p for p in pkts]


def _until_pack(data: bytes) -> list:
    """The negotiation part: packets before the first side-band packet."""
    pkts, _ = split_pkts(data)
    out = []
    for p in pkts:
        if isinstance(p, bytes) and p[:1] in (b"\x01", b"\x02", b"\x03"):
            break
        out.append(p)
    return out


@pytest.mark.parametrize("advertise", [True, False])
def test_negotiation_matches_cgit(rich, tmp_path, advertise):
    bare, info = rich
    c = tmp_path / "c"
    git("clone", "-q", "-b", "side", str(bare), str(c))
    for i in range(3):
        (c / f"n{i}").write_bytes(b"%d\n" % i)
        git("add", ".", cwd=c)
        git("commit", "-q", "-m", f"n{i}", cwd=c)
    unknown = [git("rev-parse", f"HEAD~{i}", cwd=c).strip() for i in range(3)]
    main = git("rev-parse", "main", cwd=bare).strip()
    side = git("rev-parse", "side", cwd=bare).strip()
    cases = [
        (b"multi_ack_detailed no-done side-band-64k ofs-delta", [main], unknown + [side], False),
        (b"multi_ack_detailed side-band-64k", [main], unknown + [side], False),
        (b"multi_ack side-band-64k", [main], unknown + [side], False),
        (b"side-band-64k", [main], unknown + [side], False),
        (b"side-band-64k", [main], [side] + unknown, True),
        (b"multi_ack_detailed side-band-64k", [main], [side], True),
        (b"multi_ack_detailed no-done side-band-64k", [main, side, main], [side], False),
        (b"multi_ack side-band-64k", [main], [], True),
        (b"multi_ack_detailed side-band-64k", [main], [main], False),
    ]
    repo = Repo(str(bare))
    for caps, wants, haves, done in cases:
        data = _request(caps, wants, haves, done)
        args = ["git", "upload-pack", "--stateless-rpc"]
        if advertise:
            out = subprocess.run(args + ["--advertise-refs", str(bare)], capture_output=True).stdout
            mine = io.BytesIO()
            serve_command(UploadPackHandler, ["x", "/"], DictBackend({"/": repo}), io.BytesIO(b""),
                          mine, stateless_rpc=True, advertise_refs=True)
            # same refs, same capabilities apart from the agent
            assert _no_agent(out) == _no_agent(mine.getvalue())
        theirs = subprocess.run(args + [str(bare)], input=data, capture_output=True).stdout
        mine = io.BytesIO()
        serve_command(UploadPackHandler, ["x", "/"], DictBackend({"/": repo}), io.BytesIO(data),
                      mine, stateless_rpc=True)
        assert _until_pack(mine.getvalue()) == _until_pack(theirs), caps
        assert (b"PACK" in mine.getvalue()) == (b"PACK" in theirs)


# --- packs served whole, from bitmaps and from the clone memo -------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_clone_from_bitmapped_repository(tmp_path, version):
    src = tmp_path / "work"
    make_linear_repo(src, 8)
    git("tag", "-a", "-m", "t", "v1", "HEAD~3", cwd=src)
    root = tmp_path / "root"
    bare = root / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    git("repack", "-adb", "-q", cwd=bare)
    assert any(n.endswith(".bitmap") for n in os.listdir(bare / "objects" / "pack"))
    v = ["-c", f"protocol.version={version}"]
    with serving(FileSystemBackend(str(root))) as srv:
        git(*v, "clone", "-q", "--bare", url(srv), str(tmp_path / "full"))
        fsck(tmp_path / "full")
        assert _refs(tmp_path / "full") == _refs(bare)
        # new loose commits on top of the bitmapped pack
        w = tmp_path / "w2"
        git("clone", "-q", str(bare), str(w))
        (w / "extra.txt").write_bytes(b"more\n")
        git("add", ".", cwd=w)
        git("commit", "-q", "-m", "extra", cwd=w)
        git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=w)
        git(*v, "clone", "-q", "--bare", url(srv), str(tmp_path / "full2"))
        fsck(tmp_path / "full2")
        assert _refs(tmp_path / "full2") == _refs(bare)
        git(*v, "clone", "-q", "--single-branch", "-b", "main", url(srv), str(tmp_path / "one"))
        fsck(tmp_path / "one")
        assert git("tag", cwd=tmp_path / "one").split() == [b"v1"]   # include-tag


def test_repeated_clones_of_a_packed_repository(tmp_path):
    src = tmp_path / "work"
    make_linear_repo(src, 6)
    root = tmp_path / "root"
    bare = root / "repo.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    git("repack", "-ad", "-q", cwd=bare)
    with serving(FileSystemBackend(str(root))) as srv:
        for i in range(3):
            d = tmp_path / f"c{i}"
            git("clone", "-q", "--bare", url(srv), str(d))
            fsck(d)
            assert _refs(d) == _refs(bare)
        # a repack (new pack file) invalidates what was remembered
        (src / "n.txt").write_bytes(b"n\n")
        git("add", ".", cwd=src)
        git("commit", "-q", "-m", "n", cwd=src)
        git("fetch", "-q", str(src), "+refs/heads/*:refs/heads/*", cwd=bare)
        git("repack", "-ad", "-q", cwd=bare)
        d = tmp_path / "after"
        git("clone", "-q", "--bare", url(srv), str(d))
        fsck(d)
        assert _refs(d) == _refs(bare)


# --- framing, v2 commands, pipes ------------------------------------------------------

def _stateless(repo, data: bytes, version: int = 0, advertise: bool = False) -> bytes:
    out = io.BytesIO()
    serve_command(UploadPackHandler, ["x", "/"], DictBackend({"/": repo}), io.BytesIO(data), out,
                  stateless_rpc=True, advertise_refs=advertise, protocol_version=version)
    return out.getvalue()


@pytest.mark.parametrize("caps,limit", [(b"side-band", 1000), (b"side-band-64k", 65520),
                                        (b"", None)])
def test_pack_framing(rich, caps, limit):
    bare, _ = rich
    repo = Repo(str(bare))
    main = git("rev-parse", "main", cwd=bare).strip()
    data = _request(caps + b" ofs-delta", [main], [], True)
    out = _stateless(repo, data)
    if limit is None:
        assert out.startswith(pkt_line(b"NAK\n") + b"PACK")
        return
    pkts, rest = split_pkts(out)
    assert rest == b""
    sizes = [len(p) + 4 for p in pkts if isinstance(p, bytes)]
    assert max(sizes) <= limit
    pack = b"".join(p[1:] for p in pkts if isinstance(p, bytes) and p[:1] == b"\x01")
    assert pack.startswith(b"PACK")


def test_v2_commands(rich, tmp_path):
    bare, info = rich
    repo = Repo(str(bare))
    adv = _stateless(repo, b"", version=2, advertise=True)
    assert adv.startswith(pkt_line(b"version 2\n"))
    assert b"ls-refs=unborn" in adv and b"fetch=shallow wait-for-done" in adv
    req = (pkt_line(b"command=ls-refs\n") + b"0001" + pkt_line(b"symrefs\n") + pkt_line(b"peel\n")
           + pkt_line(b"ref-prefix refs/tags/v\n") + b"0000")
    out = _stateless(repo, req, version=2)
    lines = [p for p in split_pkts(out)[0] if isinstance(p, bytes)]
    assert [x.split()[1] for x in lines] == [b"refs/tags/v1.0", b"refs/tags/v1.0-nested"]
    assert all(b" peeled:" + info["merge"] in x for x in lines)
    req = (pkt_line(b"command=object-info\n") + b"0001" + pkt_line(b"size\n")
           + pkt_line(b"oid " + info["first"] + b"\n") + b"0000")
    out = _stateless(repo, req, version=2)
    assert split_pkts(out)[0][0] == b"size"
    # want-ref needs uploadpack.allowRefInWant
    want_ref = (pkt_line(b"command=fetch\n") + b"0001" + pkt_line(b"want-ref refs/heads/side\n")
                + pkt_line(b"done\n") + b"0000")
    assert b"ERR " in _stateless(repo, want_ref, version=2)
    git("config", "uploadpack.allowRefInWant", "true", cwd=bare)
    repo = Repo(str(bare))
    out = _stateless(repo, want_ref, version=2)
    side = git("rev-parse", "side", cwd=bare).strip()
    assert pkt_line(b"wanted-refs\n") + pkt_line(side + b" refs/heads/side\n") in out
    assert pkt_line(b"packfile\n") in out
    # an empty repository: unborn HEAD
    empty = tmp_path / "empty.git"
    git("init", "-q", "--bare", "-b", "trunk", str(empty))
    req = (pkt_line(b"command=ls-refs\n") + b"0001" + pkt_line(b"symrefs\n")
           + pkt_line(b"unborn\n") + b"0000")
    out = _stateless(Repo(str(empty)), req, version=2)
    assert out == pkt_line(b"unborn HEAD symref-target:refs/heads/trunk\n") + b"0000"
    p = git_ok("clone", "-q", "git://127.0.0.1:1/nothing", str(tmp_path / "x"))
    assert p.returncode != 0


def test_upload_pack_command_reads_git_protocol(rich, tmp_path):
    bare, _ = rich
    script = puregit_script(tmp_path)
    env = dict(os.environ, GIT_PROTOCOL="version=2")
    p = subprocess.run([script, "upload-pack", "--advertise-refs", "--stateless-rpc", str(bare)],
                       env=env, capture_output=True)
    assert p.returncode == 0 and p.stdout.startswith(pkt_line(b"version 2\n"))
    p = subprocess.run([script, "upload-pack", "--advertise-refs", str(bare)], capture_output=True)
    assert p.returncode == 0 and b"symref=HEAD:refs/heads/main" in p.stdout
    p = subprocess.run([script, "upload-pack", str(tmp_path / "missing")], capture_output=True,
                       input=b"")
    assert p.returncode == 128 and b"Traceback" not in p.stderr


def test_keepalive_while_counting(rich):
    from puregit.upload_pack import UploadPack
    from puregit.wire.upload_request import UploadHaves, UploadRequest
    bare, _ = rich
    main = git("rev-parse", "main", cwd=bare).strip()
    up = UploadPack(Repo(str(bare)))
    up.receive_request(UploadRequest(wants=[main], capabilities=[b"side-band-64k",
                                                                b"no-progress", b"ofs-delta"]))
    assert up.receive_haves(UploadHaves(done=True)) == (pkt_line(b"NAK\n"), True)
    up.policy.keepalive = 1e-9   # every silent moment is "too long"
    out = []
    up.pack_sender(65515, progress=False).send(out.append)
    data = b"".join(out)
    pkts, rest = split_pkts(data)
    assert rest == b"" and pkts[-1] is not None
    assert b"\x01" in pkts                      # 0005\1: an empty band-1 keepalive
    assert not any(isinstance(p, bytes) and p[:1] == b"\x02" for p in pkts)   # no-progress
    pack = b"".join(p[1:] for p in pkts if isinstance(p, bytes) and p[:1] == b"\x01")
    assert pack.startswith(b"PACK")


def test_protocol_v1_clone(rich, server, tmp_path):
    bare, _ = rich
    trace = tmp_path / "trace"
    git("-c", "protocol.version=1", "clone", "-q", "--bare", url(server), str(tmp_path / "v1"),
        env={"GIT_TRACE_PACKET": str(trace)})
    fsck(tmp_path / "v1")
    assert b"clone< version 1" in trace.read_bytes()
    assert _refs(tmp_path / "v1") == _refs(bare)


def test_ewah_decoding():
    from puregit.bitmap import bits_to_positions, decode_ewah
    # RLW: running bit 1, run length 2, one literal word; then the literal 0b101
    rlw = 1 | (2 << 1) | (1 << 33)
    bits = decode_ewah([rlw, 0b101], 64 * 2 + 3)
    assert bits_to_positions(bits) == list(range(128)) + [128, 130]
    assert decode_ewah([0 | (3 << 1)], 192) == 0


def test_bitmap_plan_matches_rev_list(tmp_path):
    from puregit.upload_walk import CommitGraph, bitmap_plan
    src = tmp_path / "work"
    make_linear_repo(src, 10)
    bare = tmp_path / "b.git"
    git("clone", "-q", "--mirror", str(src), str(bare))
    git("repack", "-adb", "-q", cwd=bare)
    repo = Repo(str(bare))
    for rev in ("HEAD", "HEAD~4", "HEAD~9"):
        oid = git("rev-parse", rev, cwd=bare).strip()
        plan = bitmap_plan(repo.object_store, CommitGraph(repo.object_store.get_raw), [oid])
        assert plan is not None
        expected = {line.split()[0] for line in
                    git("rev-list", "--objects", oid.decode(), cwd=bare).splitlines()}
        assert {e[0] for e in plan.entries} == expected
        assert plan.whole_pack == (rev == "HEAD")


def test_bitmap_clone_with_tags_of_trees_and_blobs(rich, server, tmp_path):
    bare, _ = rich
    git("repack", "-adb", "-q", cwd=bare)
    git("clone", "-q", "--mirror", url(server), str(tmp_path / "m.git"))
    fsck(tmp_path / "m.git")
    assert _refs(tmp_path / "m.git") == _refs(bare)
