"""receive-pack against the real git client (pipes), plus crafted hostile input.

Pushes go through ``git push --receive-pack=<script>`` where the script runs
``puregit.receive_pack.main``.  Bad input is fed to ``main()`` in-process as
raw bytes.  After every failure the server's ``objects/``, ``refs/`` and
``packed-refs`` must be byte-for-byte what they were, and a normal push must
still work.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys

import pytest

from helpers import fsck, git, git_ok

from puregit.receive_pack import main as rp_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZERO = "0" * 40


# --- fixtures and helpers ---------------------------------------------------------

@pytest.fixture()
def rp_script(tmp_path_factory):
    d = tmp_path_factory.mktemp("bin")
    path = d / "puregit-receive-pack"
    code = ('import sys; sys.path.insert(0, "%s"); from puregit.receive_pack import main; '
            'sys.exit(main(sys.argv[1:]))' % ROOT)
    path.write_text(f"#!/bin/sh\nexec {sys.executable} -c '{code}' \"$@\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture()
def work(tmp_path):
    w = tmp_path / "work"
    git("init", "-q", "-b", "main", str(w))
    commit(w, "a", "one")
    commit(w, "b", "two")
    return w


@pytest.fixture()
def server(tmp_path):
    s = tmp_path / "server.git"
    git("init", "-q", "--bare", "-b", "main", str(s))
    return s


def commit(w, name, text) -> str:
    (w / name).write_text(text + "\n")
    git("add", name, cwd=w)
    git("commit", "-q", "-m", text, cwd=w)
    return rev(w, "HEAD")


def rev(repo, what) -> str:
    return git("rev-parse", what, cwd=repo).strip().decode()


def push(work, server, rp_script, *args, check=True, env=None):
    p = git_ok("push", "--porcelain", f"--receive-pack={rp_script}", str(server), *args,
               cwd=work, env=env)
    out = p.stdout.decode() + p.stderr.decode()
    if check:
        assert p.returncode == 0, out
    return p.returncode, out


def refs_of(repo) -> dict:
    out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=repo).decode()
    return dict(line.split(" ") for line in out.splitlines())


def snapshot(repo) -> dict:
    """Every file and directory under objects/ and refs/, plus packed-refs."""
    snap = {}
    for top in ("objects", "refs"):
        for dirpath, dirs, files in os.walk(os.path.join(repo, top)):
            rel = os.path.relpath(dirpath, repo)
            snap[rel + "/"] = None
            for f in files:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    snap[os.path.join(rel, f)] = fh.read()
    p = os.path.join(repo, "packed-refs")
    if os.path.exists(p):
        with open(p, "rb") as fh:
            snap["packed-refs"] = fh.read()
    return snap


def add_hook(server, name, body):
    path = server / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def pkt(data: bytes) -> bytes:
    return b"%04x" % (len(data) + 4) + data


def pack_from(repo, ids, thin_base=None) -> bytes:
    """A pack of ``ids`` made by git pack-objects (``thin_base``: --thin against it)."""
    if thin_base:
        spec = "".join(f"{i}\n" for i in ids) + f"^{thin_base}\n"
        return git("pack-objects", "--stdout", "--thin", "--revs", "-q", cwd=repo,
                   input=spec.encode())
    return git("pack-objects", "--stdout", "-q", cwd=repo,
               input="".join(f"{i}\n" for i in ids).encode())


def empty_pack() -> bytes:
    body = b"PACK\0\0\0\2\0\0\0\0"
    return body + hashlib.sha1(body).digest()


def raw_push(server, data: bytes, argv=()):
    """Feed ``data`` to main() as stdin; return (exit code, stdout after the advertisement, stderr)."""
    out, err = io.BytesIO(), io.BytesIO()
    code = rp_main([*argv, str(server)], stdin=io.BytesIO(data), stdout=out, stderr=err)
    raw = out.getvalue()
    if "--stateless-rpc" not in argv:
        pos = 0
        while raw[pos:pos + 4] != b"0000":
            n = int(raw[pos:pos + 4], 16)
            assert n >= 4, raw
            pos += n
        raw = raw[pos + 4:]
    return code, raw, err.getvalue()


def parse_report(raw: bytes) -> list:
    """pkt-lines (sideband demuxed if needed) up to the flush."""
    lines = []
    pos = 0
    while pos < len(raw):
        n = int(raw[pos:pos + 4], 16)
        if n == 0:
            break
        lines.append(raw[pos + 4:pos + n].rstrip(b"\n"))
        pos += n
    if lines and lines[0][:1] in (b"\x01", b"\x02"):
        inner = b"".join(l[1:] for l in lines if l[:1] == b"\x01")
        return parse_report(inner)
    return lines


def command_request(cmds, caps=b"report-status", options=None) -> bytes:
    data = b""
    for i, c in enumerate(cmds):
        line = c.encode() if isinstance(c, str) else c
        if i == 0:
            line += b"\0 " + caps
        data += pkt(line)
    data += b"0000"
    if options is not None:
        data += b"".join(pkt(o) for o in options) + b"0000"
    return data


def seeded(work, server, rp_script):
    """Server with main pushed; returns (snapshot taken after, old head)."""
    push(work, server, rp_script, "main")
    return snapshot(server), rev(work, "main")


# --- pushes with the real client ------------------------------------------------

def test_push_new_branch_update_tag_force_delete(work, server, rp_script):
    push(work, server, rp_script, "main")
    assert refs_of(server) == {"refs/heads/main": rev(work, "main")}
    fsck(server)
    # update (fast-forward) and a new branch and tags
    commit(work, "c", "three")
    git("branch", "side", cwd=work)
    git("tag", "light", cwd=work)
    git("tag", "-a", "-m", "annotated", "v1", cwd=work)
    push(work, server, rp_script, "main", "side", "light", "v1")
    refs = refs_of(server)
    assert refs["refs/heads/main"] == rev(work, "main")
    assert refs["refs/tags/v1"] == rev(work, "v1")
    assert refs["refs/tags/light"] == rev(work, "light")
    fsck(server)
    # forced non-fast-forward
    git("reset", "-q", "--hard", "HEAD~2", cwd=work)
    commit(work, "d", "rewritten")
    code, out = push(work, server, rp_script, "main", check=False)
    assert code != 0 and "rejected" in out
    push(work, server, rp_script, "--force", "main")
    assert refs_of(server)["refs/heads/main"] == rev(work, "main")
    fsck(server)
    # delete
    push(work, server, rp_script, ":side", ":light")
    refs = refs_of(server)
    assert "refs/heads/side" not in refs and "refs/tags/light" not in refs
    fsck(server)
    assert not [n for n in os.listdir(server / "objects") if n.startswith("tmp")]


def test_thin_pack_is_completed(work, server, rp_script):
    big = "\n".join(f"line {i} of a file that will be delta compressed" for i in range(400))
    (work / "big.txt").write_text(big + "\n")
    git("add", "big.txt", cwd=work)
    git("commit", "-q", "-m", "big", cwd=work)
    push(work, server, rp_script, "main")
    (work / "big.txt").write_text(big + "\nand one more line\n")
    git("commit", "-q", "-am", "small change", cwd=work)
    push(work, server, rp_script, "main")
    assert refs_of(server)["refs/heads/main"] == rev(work, "main")
    fsck(server)


def test_atomic_push_with_one_stale_ref_changes_nothing(work, server, rp_script):
    git("branch", "other", cwd=work)
    push(work, server, rp_script, "main", "other")
    # raw: the client's old id for "other" is stale
    commit(work, "e", "new work")
    git("branch", "-f", "other", "main", cwd=work)
    before = snapshot(server)
    code, out = raw_atomic_stale(work, server)
    assert code == 0
    assert out == [b"unpack ok", b"ng refs/heads/main atomic transaction failed",
                   b"ng refs/heads/other atomic transaction failed"]
    assert snapshot(server) == before
    # real client: "other" moves on the server between advertisement and update
    moved = rev(work, "main~2")
    add_hook(server, "pre-receive", f"echo {moved} > refs/heads/other\n")
    code, out = push(work, server, rp_script, "--atomic", "main", "other", check=False)
    assert code != 0
    assert "refs/heads/main" in out and "refs/heads/other" in out
    assert out.count("atomic transaction failed") == 2, out
    assert rev(server, "refs/heads/main") == rev(work, "main~1")
    assert rev(server, "refs/heads/other") == moved
    assert not [n for n in os.listdir(server / "objects") if n.startswith("tmp")]


def raw_atomic_stale(work, server):
    main_new = rev(work, "main")
    main_old = rev(server, "refs/heads/main")
    stale = rev(work, "main~2")   # not what "other" holds on the server
    pack = pack_from(work, [main_new], thin_base=main_old)
    req = command_request([f"{main_old} {main_new} refs/heads/main",
                           f"{stale} {main_new} refs/heads/other"], b"report-status atomic")
    code, raw, _ = raw_push(server, req + pack)
    return code, parse_report(raw)


def test_atomic_push_real_client(work, server, rp_script):
    git("branch", "other", cwd=work)
    push(work, server, rp_script, "main", "other")
    commit(work, "f", "more")
    git("branch", "-f", "other", "main", cwd=work)
    git("branch", "new", cwd=work)
    push(work, server, rp_script, "--atomic", "main", "other", "new")
    refs = refs_of(server)
    assert refs["refs/heads/main"] == refs["refs/heads/other"] == refs["refs/heads/new"]
    fsck(server)


def test_atomic_with_declined_ref_is_all_or_nothing(work, server, rp_script):
    push(work, server, rp_script, "main")
    git("config", "receive.denyDeletes", "true", cwd=server)
    git("branch", "x", cwd=work)
    push(work, server, rp_script, "x")
    before = snapshot(server)
    commit(work, "g", "g")
    code, out = push(work, server, rp_script, "--atomic", "main", ":x", check=False)
    assert code != 0
    assert "deletion prohibited" in out and "atomic push failure" in out
    assert snapshot(server) == before


def test_push_options_reach_hooks(work, server, rp_script, tmp_path):
    git("config", "receive.advertisePushOptions", "true", cwd=server)
    log = tmp_path / "hooklog"
    for name in ("pre-receive", "post-receive"):
        add_hook(server, name, f'echo "{name} $GIT_PUSH_OPTION_COUNT $GIT_PUSH_OPTION_0 '
                               f'$GIT_PUSH_OPTION_1" >> {log}\ncat >> {log}\n')
    add_hook(server, "update", f'echo "update $1 $2 $3 [$GIT_PUSH_OPTION_COUNT]" >> {log}\n')
    add_hook(server, "post-update", f'echo "post-update $* $(pwd) $GIT_DIR" >> {log}\n')
    code, out = push(work, server, rp_script, "-o", "ci.skip", "-o", "x=y z", "main")
    text = log.read_text().splitlines()
    head = rev(work, "main")
    assert text[0] == "pre-receive 2 ci.skip x=y z"
    assert text[1] == f"{ZERO} {head} refs/heads/main"
    assert text[2] == f"update refs/heads/main {ZERO} {head} []"
    assert text[3] == "post-receive 2 ci.skip x=y z"
    assert text[4] == f"{ZERO} {head} refs/heads/main"
    assert text[5] == f"post-update refs/heads/main {server} ."


def test_pre_receive_sees_quarantine_and_can_refuse(work, server, rp_script, tmp_path):
    push(work, server, rp_script, "main")
    before = snapshot(server)
    log = tmp_path / "env"
    add_hook(server, "pre-receive",
             f'echo "$GIT_QUARANTINE_PATH|$GIT_OBJECT_DIRECTORY|$GIT_ALTERNATE_OBJECT_DIRECTORIES" > {log}\n'
             'read old new ref\n'
             'git cat-file -t $new >> ' + str(log) + '\n'
             'echo "nope: policy says no"\necho "to stderr" >&2\nexit 1\n')
    commit(work, "h", "h")
    code, out = push(work, server, rp_script, "main", check=False)
    assert code != 0
    assert "pre-receive hook declined" in out
    assert "remote: nope: policy says no" in out and "remote: to stderr" in out
    q, objdir, alt = log.read_text().splitlines()[0].split("|")
    assert q == objdir and os.path.basename(q).startswith("tmp_objdir-incoming-")
    assert alt == str(server / "objects")
    assert log.read_text().splitlines()[1] == "commit"
    assert snapshot(server) == before
    os.unlink(server / "hooks" / "pre-receive")
    push(work, server, rp_script, "main")
    fsck(server)


def test_update_hook_refuses_one_ref(work, server, rp_script):
    push(work, server, rp_script, "main")
    add_hook(server, "update", 'case "$1" in refs/heads/locked) echo "locked!"; exit 1;; esac\n')
    git("branch", "locked", cwd=work)
    git("branch", "free", cwd=work)
    code, out = push(work, server, rp_script, "locked", "free", check=False)
    assert code != 0
    assert "hook declined" in out and "remote: locked!" in out
    refs = refs_of(server)
    assert "refs/heads/locked" not in refs and "refs/heads/free" in refs
    fsck(server)


def test_deny_non_fast_forwards(work, server, rp_script):
    push(work, server, rp_script, "main")
    git("config", "receive.denyNonFastForwards", "true", cwd=server)
    before = snapshot(server)
    git("reset", "-q", "--hard", "HEAD~1", cwd=work)
    commit(work, "z", "diverge")
    code, out = push(work, server, rp_script, "--force", "main", check=False)
    assert code != 0 and "non-fast-forward" in out
    assert snapshot(server) == before
    git("pull", "-q", "--no-rebase", "--no-edit", str(server), "main", cwd=work)
    push(work, server, rp_script, "main")
    fsck(server)


def test_deny_deletes_and_delete_current(work, server, rp_script):
    git("branch", "b2", cwd=work)
    push(work, server, rp_script, "main", "b2")
    code, out = push(work, server, rp_script, ":main", check=False)
    assert code != 0 and "deletion of the current branch prohibited" in out
    git("config", "receive.denyDeletes", "true", cwd=server)
    code, out = push(work, server, rp_script, ":b2", check=False)
    assert code != 0 and "deletion prohibited" in out
    assert set(refs_of(server)) == {"refs/heads/main", "refs/heads/b2"}


def test_deny_current_branch_in_non_bare(work, tmp_path, rp_script):
    target = tmp_path / "nonbare"
    git("clone", "-q", str(work), str(target))
    commit(work, "n", "n")
    code, out = push(work, target, rp_script, "main", check=False)
    assert code != 0 and "branch is currently checked out" in out
    code, out = push(work, target, rp_script, "main:refs/heads/other")
    assert rev(target, "refs/heads/other") == rev(work, "main")


def test_report_status_v2_in_packet_trace(work, server, rp_script):
    code, out = push(work, server, rp_script, "main", env={"GIT_TRACE_PACKET": "1"})
    assert "report-status-v2" in out
    assert "< unpack ok" in out or "unpack ok" in out


def test_packed_refs_update_and_delete(work, server, rp_script):
    git("branch", "p1", cwd=work)
    git("branch", "p2", cwd=work)
    push(work, server, rp_script, "main", "p1", "p2")
    git("pack-refs", "--all", cwd=server)
    commit(work, "p", "p")
    git("branch", "-f", "p1", "main", cwd=work)
    push(work, server, rp_script, "p1", ":p2")
    refs = refs_of(server)
    assert refs["refs/heads/p1"] == rev(work, "main") and "refs/heads/p2" not in refs
    assert b"refs/heads/p2" not in (server / "packed-refs").read_bytes()
    fsck(server)


def test_delete_nonexistent_ref_matches_cgit(work, server, rp_script):
    push(work, server, rp_script, "main")
    head = rev(work, "main")
    req = command_request([f"{head} {ZERO} refs/heads/nope"], b"report-status delete-refs")
    _, raw, _ = raw_push(server, req)
    assert parse_report(raw) == [b"unpack ok", b"ng refs/heads/nope failed to update ref"]
    req = command_request([f"{ZERO} {ZERO} refs/heads/nope"], b"report-status delete-refs")
    _, raw, _ = raw_push(server, req)
    assert parse_report(raw) == [b"unpack ok", b"ok refs/heads/nope"]


def test_advertisement(work, server, rp_script, tmp_path):
    _, raw, _ = raw_push(server, b"0000", argv=("--advertise-refs", "--stateless-rpc"))
    first = raw[4:int(raw[:4], 16)]
    assert first.startswith(ZERO.encode() + b" capabilities^{}\0")
    caps = first.split(b"\0")[1].split()
    for c in (b"report-status", b"report-status-v2", b"delete-refs", b"side-band-64k", b"quiet",
              b"atomic", b"ofs-delta", b"object-format=sha1"):
        assert c in caps
    assert b"push-options" not in caps
    push(work, server, rp_script, "main")
    git("tag", "-a", "-m", "t", "v1", cwd=work)
    push(work, server, rp_script, "v1")
    _, raw, _ = raw_push(server, b"0000", argv=("--advertise-refs", "--stateless-rpc"))
    assert b"HEAD" not in raw and b"^{}" not in raw
    # alternates give .have lines
    alt = tmp_path / "alt.git"
    git("init", "-q", "--bare", str(alt))
    (alt / "objects" / "info" / "alternates").write_text(str(server / "objects") + "\n")
    _, raw, _ = raw_push(alt, b"0000", argv=("--advertise-refs", "--stateless-rpc"))
    assert rev(work, "main").encode() + b" .have" in raw


def test_stateless_rpc_request(work, server):
    head = rev(work, "main")
    pack = git("pack-objects", "--stdout", "--revs", "-q", cwd=work, input=f"{head}\n".encode())
    req = command_request([f"{ZERO} {head} refs/heads/main"], b"report-status side-band-64k")
    code, raw, _ = raw_push(server, req + pack, argv=("--stateless-rpc",))
    assert code == 0
    assert parse_report(raw) == [b"unpack ok", b"ok refs/heads/main"]
    fsck(server)


# --- bad input: nothing changes, and a normal push still works -----------------------

def _check_unchanged_then_push(work, server, rp_script, before):
    assert snapshot(server) == before
    commit(work, "after", "after")
    push(work, server, rp_script, "main")
    fsck(server)


@pytest.mark.parametrize("data", [
    b"garbage that is not a pkt-line",
    b"0010short",                                       # EOF inside a pkt-line
    b"zzzz" + b"x" * 20,                                # not hex
    b"ffff" + b"x" * 10,                                # too long
    b"0003",                                            # undefined length
    pkt(b"hello\0 report-status") + b"0000",            # not a command
    pkt(b"%s %s refs/heads/x\0 report-status" % (b"1" * 40, b"2" * 39)) + b"0000",
    pkt(b"%s %s\0 report-status" % (b"0" * 40, b"1" * 40)) + b"0000",
    pkt(b"%s %s refs/heads/x\0 report-status" % (b"0" * 40, b"1" * 40)),   # EOF before flush
])
def test_garbage_requests(work, server, rp_script, data):
    before, _ = seeded(work, server, rp_script)
    code, raw, err = raw_push(server, data)
    assert raw == b""
    if data != b"0010short":   # a hang-up inside the first packet ends the session quietly
        assert code == 128 and err.startswith(b"fatal:")
    _check_unchanged_then_push(work, server, rp_script, before)


def _pack_cases(work):
    head = rev(work, "main")
    good = git("pack-objects", "--stdout", "--revs", "-q", cwd=work, input=f"{head}\n".encode())
    body = good[:-20]
    bad_sum = body + bytes(20)
    lying_count = body[:8] + (int.from_bytes(body[8:12], "big") + 5).to_bytes(4, "big") + body[12:]
    lying_count += hashlib.sha1(lying_count).digest()
    fewer = body[:8] + (int.from_bytes(body[8:12], "big") - 1).to_bytes(4, "big") + body[12:]
    fewer += hashlib.sha1(fewer).digest()
    corrupt = bytearray(good)
    corrupt[40] ^= 0xFF
    corrupt = bytes(corrupt[:-20]) + hashlib.sha1(bytes(corrupt[:-20])).digest()
    return head, {
        "truncated": good[: len(good) // 2],
        "bad checksum": bad_sum,
        "count too high": lying_count,
        "count too low": fewer,
        "corrupt zlib": corrupt,
        "not a pack": b"PACK\0\0\0\x09" + b"\0" * 24,
        "junk": b"this is not a pack at all, sorry!!",
        "nothing": b"",
    }


@pytest.mark.parametrize("case", ["truncated", "bad checksum", "count too high", "count too low",
                                  "corrupt zlib", "not a pack", "junk", "nothing"])
def test_corrupt_or_lying_packs(work, server, rp_script, case):
    git("init", "-q", "--bare", str(server), check=False)
    before = snapshot(server)
    head, cases = _pack_cases(work)
    req = command_request([f"{ZERO} {head} refs/heads/main"])
    code, raw, _ = raw_push(server, req + cases[case])
    report = parse_report(raw)
    assert report[0].startswith(b"unpack ") and report[0] != b"unpack ok", report
    assert report[1] == b"ng refs/heads/main unpacker error"
    _check_unchanged_then_push(work, server, rp_script, before)


def _hostile_tree(repo, entries) -> str:
    body = b"".join(mode + b" " + name + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries)
    return git("hash-object", "-t", "tree", "-w", "--literally", "--stdin", cwd=repo,
               input=body).strip().decode()


def _commit_tree(repo, tree, parent=None) -> str:
    args = ["commit-tree", tree, "-m", "hostile"]
    if parent:
        args += ["-p", parent]
    return git(*args, cwd=repo).strip().decode()


@pytest.mark.parametrize("name,mode", [
    (b".git", b"40000"), (b".GIT", b"40000"), (b"git~1", b"40000"), (b".git. ", b"100644"),
    (b"..", b"40000"), (b".", b"40000"), (b"a/b", b"100644"), (b"", b"100644"),
    (b".g\xe2\x80\x8cit", b"40000"), (b"file", b"0100644"),
])
def test_hostile_tree_names_are_refused(work, server, rp_script, name, mode):
    before, old = seeded(work, server, rp_script)
    blob = git("hash-object", "-w", "--stdin", cwd=work, input=b"x\n").strip().decode()
    inner = _hostile_tree(work, [(b"100644", b"config", blob)])
    sha = inner if mode == b"40000" else blob
    tree = _hostile_tree(work, [(mode, name, sha)])
    c = _commit_tree(work, tree, old)
    pack = pack_from(work, [c, tree, inner, blob])
    req = command_request([f"{old} {c} refs/heads/main"])
    code, raw, _ = raw_push(server, req + pack)
    report = parse_report(raw)
    assert report[0].startswith(b"unpack ") and report[0] != b"unpack ok", report
    assert report[1] == b"ng refs/heads/main unpacker error"
    _check_unchanged_then_push(work, server, rp_script, before)


@pytest.mark.parametrize("gitmodules", [
    b'[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/pwned\n',
    b'[submodule "x"]\n\tpath = -x\n\turl = https://example.com/x\n',
    b'[submodule "../../hooks"]\n\tpath = x\n\turl = https://example.com/x\n',
    b'[submodule "x"]\n\tpath = x\n\turl = https://example.com/x\n\tupdate = !rm -rf /\n',
])
def test_hostile_gitmodules_are_refused(work, server, rp_script, gitmodules):
    before, old = seeded(work, server, rp_script)
    blob = git("hash-object", "-w", "--stdin", cwd=work, input=gitmodules).strip().decode()
    tree = _hostile_tree(work, [(b"100644", b".gitmodules", blob)])
    c = _commit_tree(work, tree, old)
    req = command_request([f"{old} {c} refs/heads/main"])
    code, raw, _ = raw_push(server, req + pack_from(work, [c, tree, blob]))
    report = parse_report(raw)
    assert report[0] != b"unpack ok" and b"gitmodules" in report[0], report
    _check_unchanged_then_push(work, server, rp_script, before)


def test_gitmodules_symlink_and_non_blob(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    blob = git("hash-object", "-w", "--stdin", cwd=work, input=b"target").strip().decode()
    tree = _hostile_tree(work, [(b"120000", b".gitmodules", blob)])
    c = _commit_tree(work, tree, old)
    req = command_request([f"{old} {c} refs/heads/main"])
    _, raw, _ = raw_push(server, req + pack_from(work, [c, tree, blob]))
    assert b"gitmodulesSymlink" in parse_report(raw)[0]
    assert snapshot(server) == before


def test_malformed_commit_is_refused(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    tree = rev(work, "main^{tree}")
    body = f"tree {tree}\nparent {old}\ncommitter C <c@x> 1 +0000\n\nno author\n".encode()
    c = git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", cwd=work,
            input=body).strip().decode()
    req = command_request([f"{old} {c} refs/heads/main"])
    _, raw, _ = raw_push(server, req + pack_from(work, [c]))
    assert b"missingAuthor" in parse_report(raw)[0]
    _check_unchanged_then_push(work, server, rp_script, before)


def test_strict_fsck_when_configured(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    git("config", "receive.fsckObjects", "true", cwd=server)
    before = snapshot(server)
    tree = rev(work, "main^{tree}")
    body = (f"tree {tree}\nparent {old}\nauthor A <a@x> 1 +0000\n"
            f"committer C <c@x> 1 +00x0\n\nbad time zone\n").encode()
    c = git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", cwd=work,
            input=body).strip().decode()
    req = command_request([f"{old} {c} refs/heads/main"])
    _, raw, _ = raw_push(server, req + pack_from(work, [c]))
    assert b"badTimezone" in parse_report(raw)[0]
    _check_unchanged_then_push(work, server, rp_script, before)


@pytest.mark.parametrize("ref", [b"refs/heads/a..b", b"refs/heads/x.lock", b"main", b"HEAD",
                                 b"refs/heads/", b"refs/foo", b"refs/heads/~x",
                                 b"refs/heads/@{x}", b"refs//heads/x", b"refs/heads/.hidden"])
def test_invalid_ref_names(work, server, rp_script, ref):
    before, old = seeded(work, server, rp_script)
    req = command_request([f"{ZERO} {old} ".encode() + ref])
    _, raw, _ = raw_push(server, req + empty_pack())
    assert parse_report(raw) == [b"unpack ok", b"ng " + ref + b" funny refname"]
    _check_unchanged_then_push(work, server, rp_script, before)


def test_stale_old_id_and_existing_create(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    other = rev(work, "main~1")
    req = command_request([f"{other} {old} refs/heads/main", f"{ZERO} {other} refs/heads/main"])
    _, raw, err = raw_push(server, req + empty_pack())
    assert parse_report(raw) == [b"unpack ok", b"ng refs/heads/main failed to update ref",
                                 b"ng refs/heads/main failed to update ref"]
    assert b"but expected" in err
    _check_unchanged_then_push(work, server, rp_script, before)


def test_missing_objects_fail_connectivity(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    # new commit whose tree is not sent
    commit(work, "m", "m")
    new = rev(work, "main")
    pack = pack_from(work, [new])  # the commit alone
    req = command_request([f"{old} {new} refs/heads/main", f"{ZERO} {'1' * 40} refs/heads/ghost"])
    _, raw, _ = raw_push(server, req + pack)
    assert parse_report(raw) == [b"unpack ok", b"ng refs/heads/main missing necessary objects",
                                 b"ng refs/heads/ghost missing necessary objects"]
    _check_unchanged_then_push(work, server, rp_script, before)


def test_max_input_size(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    git("config", "receive.maxInputSize", "100", cwd=server)
    before = snapshot(server)
    (work / "big").write_bytes(os.urandom(5000))
    git("add", "big", cwd=work)
    git("commit", "-q", "-m", "big", cwd=work)
    code, out = push(work, server, rp_script, "main", check=False)
    assert code != 0 and "maximum allowed size" in out
    assert snapshot(server) == before
    git("config", "--unset", "receive.maxInputSize", cwd=server)
    _check_unchanged_then_push(work, server, rp_script, snapshot(server))


def test_held_lock_reports_failure_and_leaves_lock(work, server, rp_script):
    before, old = seeded(work, server, rp_script)
    lock = server / "refs" / "heads" / "main.lock"
    lock.write_text("someone else\n")
    commit(work, "l", "l")
    code, out = push(work, server, rp_script, "main", check=False)
    assert code != 0 and "failed to update ref" in out
    assert lock.read_text() == "someone else\n"
    lock.unlink()
    assert rev(server, "main") == old
    push(work, server, rp_script, "main")
    fsck(server)


def test_fsck_skip_list_lets_known_broken_objects_in(work, server, rp_script):
    """receive.fsck.skipList: a listed object is not checked; anything else still is."""
    before, old = seeded(work, server, rp_script)
    git("config", "receive.fsckObjects", "true", cwd=server)
    tree = rev(work, "main^{tree}")
    body = (f"tree {tree}\nparent {old}\nauthor A <a@x> 1 +0000\n"
            f"committer C <c@x> 1 +00x0\n\nbad time zone, known and accepted\n").encode()
    c = git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", cwd=work,
            input=body).strip().decode()
    (server / "skip").write_text(f"# imported history\n{'0' * 40}\n\n{c}  # badTimezone\n")
    git("config", "receive.fsck.skipList", "skip", cwd=server)   # relative to the repository
    req = command_request([f"{old} {c} refs/heads/main"])
    _, raw, _ = raw_push(server, req + pack_from(work, [c]))
    assert parse_report(raw) == [b"unpack ok", b"ok refs/heads/main"]
    assert rev(server, "main") == c
    # a second broken commit, not listed, is still refused
    body2 = body.replace(b"known and accepted", b"not listed")
    c2 = git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", cwd=work,
             input=body2.replace(f"parent {old}".encode(), f"parent {c}".encode())
             ).strip().decode()
    req = command_request([f"{c} {c2} refs/heads/main"])
    _, raw, _ = raw_push(server, req + pack_from(work, [c2]))
    assert b"badTimezone" in parse_report(raw)[0] and rev(server, "main") == c
    # an unreadable or malformed skip list refuses the push, as git does
    for text in (None, "not-an-id\n"):
        if text is None:
            (server / "skip").unlink()
        else:
            (server / "skip").write_text(text)
        _, raw, _ = raw_push(server, req + pack_from(work, [c2]))
        assert parse_report(raw)[0].startswith(b"unpack could not read fsck skip list")
    assert rev(server, "main") == c
