"""puregit.refs against real git repositories, in both directions."""

from __future__ import annotations

import os
import subprocess
import threading

import pytest

from puregit.errors import (InvalidRefName, RefFormatError, RefLockError, RefNameConflict, RefNotFound,
                            RefUpdateRejected, SymrefLoop)
from puregit.hashes import SHA256
from puregit.packed_refs import format_packed_refs, parse_packed_refs
from puregit.refs import (ZERO_SHA, DictRefsContainer, DiskRefsContainer, check_ref_format,
                          check_ref_name_for_update)


@pytest.fixture
def env(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    e = dict(os.environ, HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home),
             GIT_AUTHOR_NAME="A U Thor", GIT_AUTHOR_EMAIL="a@example.com",
             GIT_COMMITTER_NAME="C O Mitter", GIT_COMMITTER_EMAIL="c@example.com")
    e.pop("GIT_DIR", None)
    return e


def git(env, cwd, *args, check=True) -> bytes:
    p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True)
    if check and p.returncode:
        raise AssertionError(f"git {args} failed: {p.stderr.decode()}")
    return p.stdout


@pytest.fixture
def repo(env, tmp_path):
    """A git-made repo: two commits, branches (one nested), annotated and light tags."""
    path = tmp_path / "repo"
    git(env, tmp_path, "init", "-q", "-b", "main", str(path))
    g = lambda *a: git(env, path, *a)  # noqa: E731
    g("commit", "-q", "--allow-empty", "-m", "one")
    g("tag", "-a", "v1", "-m", "annotated")
    g("tag", "light")
    g("branch", "feature/deep/x")
    g("commit", "-q", "--allow-empty", "-m", "two")
    g("branch", "other")
    return path


def show_ref(env, path, *extra) -> dict[bytes, bytes]:
    out = git(env, path, "show-ref", *extra, check=False)
    return {name: sha for sha, name in (line.split(b" ", 1) for line in out.splitlines())}


def refs_of(path, **kw) -> DiskRefsContainer:
    return DiskRefsContainer(os.path.join(path, ".git"), **kw)


def rev(env, path, what) -> bytes:
    return git(env, path, "rev-parse", what).strip()


# --- names ----------------------------------------------------------------

REF_NAMES = [
    "refs/heads/main", "refs/heads/feature/x", "refs/tags/v1.0", "heads/foo", "foo", "HEAD", "@",
    "refs/heads/@", "refs/heads/a@b", "refs/heads/@{x", "refs/heads/a@{b}", "refs/heads/.hidden",
    "refs/heads/x.lock", "refs/heads/x.lock/y", "refs/heads/x.locky", "refs/heads/a..b", "refs/heads/a.b",
    "refs/heads/a.", "refs/heads/a/", "/refs/heads/a", "refs//heads/a", "refs/heads/a b", "refs/heads/a~1",
    "refs/heads/a^", "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*", "refs/heads/*", "refs/heads/a[b",
    "refs/heads/a]b", "refs/heads/a\\b", "refs/heads/a\tb", "refs/heads/a\x01b", "refs/heads/a\x7fb",
    "refs/heads/ünïcode", "refs/heads/-dash", "refs/heads/a{b}", "refs/heads/a!b", "refs/heads/a#b",
    "refs/heads/a$b", "refs/heads/a%b", "refs/heads/a'b", 'refs/heads/a"b', "refs/heads/a,b",
    "refs/heads/a;b", "refs/heads/a=b", "refs/heads/a|b", "refs/heads/.", "refs/heads/..", "refs/./x",
    "refs/heads/a/.b", "refs/heads/a/b.", ".refs/heads", "refs.lock/heads", "a/b/c/d/e/f/g", "a/*",
    "a/*/b", "a/*/*", "refs/heads/a.lock.b", "refs/heads/@@", "refs/heads/{", "refs/heads/x@", "x/@{",
]


def git_check(env, tmp_path, name: str, *flags) -> bool:
    p = subprocess.run(["git", "check-ref-format", *flags, name], env=env, cwd=tmp_path,
                       capture_output=True)
    return p.returncode == 0


@pytest.mark.parametrize("flags", [(), ("--allow-onelevel",), ("--refspec-pattern",)])
def test_check_ref_format_agrees_with_git(env, tmp_path, flags):
    kw = {"allow_onelevel": "--allow-onelevel" in flags, "refspec_pattern": "--refspec-pattern" in flags}
    disagreements = []
    for name in REF_NAMES:
        ours = check_ref_format(name.encode(), **kw)
        if ours != git_check(env, tmp_path, name, *flags):
            disagreements.append(name)
    assert disagreements == []
    assert not check_ref_format(b"")


def test_update_names():
    assert check_ref_name_for_update("HEAD") == b"HEAD"
    assert check_ref_name_for_update(b"refs/heads/x") == b"refs/heads/x"
    for bad in [b"heads/x", b"FETCH_HEAD", b"refs/heads/../../config", b"refs/heads/a..b", b"", b"refs/"]:
        with pytest.raises(InvalidRefName):
            check_ref_name_for_update(bad)


# --- reading what git wrote --------------------------------------------------

def test_read_loose_repo(env, repo):
    refs = refs_of(repo)
    expected = show_ref(env, repo)
    ours = refs.as_dict()
    assert ours.pop(b"HEAD") == rev(env, repo, "HEAD")
    assert ours == expected
    assert refs.get_symrefs() == {b"HEAD": git(env, repo, "symbolic-ref", "HEAD").strip()}
    assert refs.read_ref("HEAD") == b"ref: refs/heads/main"
    assert refs.follow("HEAD") == ([b"HEAD", b"refs/heads/main"], expected[b"refs/heads/main"])
    assert refs.keys(b"refs/heads") == {b"main", b"other", b"feature/deep/x"}
    assert refs.as_dict(b"refs/tags") == {b"v1": expected[b"refs/tags/v1"],
                                          b"light": expected[b"refs/tags/light"]}
    assert b"refs/heads/main" in refs and "refs/heads/nope" not in refs
    with pytest.raises(RefNotFound):
        refs[b"refs/heads/nope"]
    with pytest.raises(KeyError):
        refs["refs/heads/nope"]
    assert refs["refs/heads/main"] == expected[b"refs/heads/main"]


def test_read_packed_repo(env, repo):
    git(env, repo, "pack-refs", "--all")
    git(env, repo, "branch", "loose-after-pack", "HEAD~1")
    git(env, repo, "update-ref", "refs/heads/other", "HEAD~1")   # loose overrides packed
    refs = refs_of(repo)
    ours = refs.as_dict()
    del ours[b"HEAD"]
    assert ours == show_ref(env, repo)
    fer = git(env, repo, "for-each-ref", "--format=%(objectname) %(refname)").splitlines()
    assert sorted(ours.items()) == sorted((n, s) for s, n in (line.split(b" ") for line in fer))
    peeled = show_ref(env, repo, "-d")
    assert refs.get_peeled(b"refs/tags/v1") == peeled[b"refs/tags/v1^{}"]
    assert refs.get_peeled(b"refs/tags/light") == peeled[b"refs/tags/light"]  # known not a tag
    assert refs.get_peeled(b"refs/heads/other") is None      # loose value differs from packed
    assert refs.get_peeled(b"refs/heads/loose-after-pack") is None
    assert b"refs/tags/v1" in refs.get_packed_refs()


def test_sha256_repo(env, tmp_path):
    path = tmp_path / "r256"
    git(env, tmp_path, "init", "-q", "-b", "main", "--object-format=sha256", str(path))
    git(env, path, "commit", "-q", "--allow-empty", "-m", "x")
    git(env, path, "tag", "t")
    git(env, path, "pack-refs", "--all")
    refs = refs_of(path, hash_algorithm=SHA256)
    head = rev(env, path, "HEAD")
    assert len(head) == 64 and refs[b"HEAD"] == head and refs[b"refs/tags/t"] == head
    assert refs.set_if_equals(b"refs/heads/new", ZERO_SHA, head)
    assert rev(env, path, "refs/heads/new") == head


# --- writing what git reads --------------------------------------------------

def test_writes_are_read_by_git(env, repo):
    refs = refs_of(repo)
    c1, c2 = rev(env, repo, "HEAD~1"), rev(env, repo, "HEAD")
    assert refs.add_if_new(b"refs/heads/new/branch", c1)
    assert not refs.add_if_new(b"refs/heads/new/branch", c2)
    refs[b"refs/tags/mytag"] = c2
    refs.set_symbolic_ref(b"refs/heads/alias", b"refs/heads/other")
    refs.add_packed_refs({b"refs/heads/packed1": c1, b"refs/heads/packed2": c2})
    assert rev(env, repo, "refs/heads/new/branch") == c1
    assert rev(env, repo, "refs/tags/mytag") == c2
    assert git(env, repo, "symbolic-ref", "refs/heads/alias").strip() == b"refs/heads/other"
    assert show_ref(env, repo)[b"refs/heads/packed1"] == c1
    # moving HEAD's branch through the symref
    assert refs.set_if_equals(b"HEAD", c2, c1)
    assert rev(env, repo, "refs/heads/main") == c1
    assert git(env, repo, "symbolic-ref", "HEAD").strip() == b"refs/heads/main"
    # delete a packed ref and a loose ref
    assert refs.remove_if_equals(b"refs/heads/packed1", c1)
    del refs[b"refs/heads/new/branch"]
    shown = show_ref(env, repo)
    assert b"refs/heads/packed1" not in shown and b"refs/heads/new/branch" not in shown
    assert shown[b"refs/heads/packed2"] == c2
    assert b"packed1" not in (repo / ".git" / "packed-refs").read_bytes()
    assert not (repo / ".git" / "refs" / "heads" / "new").exists()   # empty parent cleaned
    assert (repo / ".git" / "refs" / "heads").is_dir()
    ours = refs.as_dict()
    del ours[b"HEAD"]
    assert ours == shown
    git(env, repo, "fsck", "--no-dangling")


def test_pack_refs_written_by_us(env, repo):
    refs = refs_of(repo)

    def peel(sha):
        p = rev(env, repo, sha.decode() + "^{}")
        return p if p != sha else None

    refs.pack_refs(all=True, peel=peel)
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert not (repo / ".git" / "refs" / "heads" / "feature").exists()
    data = (repo / ".git" / "packed-refs").read_bytes()
    assert data.startswith(b"# pack-refs with: peeled fully-peeled sorted \n")
    assert show_ref(env, repo, "-d") == {
        **show_ref(env, repo), b"refs/tags/v1^{}": rev(env, repo, "v1^{}")}
    assert refs.get_peeled(b"refs/tags/v1") == rev(env, repo, "v1^{}")
    assert git(env, repo, "symbolic-ref", "HEAD").strip() == b"refs/heads/main"
    git(env, repo, "fsck", "--no-dangling")
    # git can keep working with it
    git(env, repo, "pack-refs", "--all")
    git(env, repo, "branch", "-D", "other")
    assert b"refs/heads/other" not in refs.as_dict()


def test_pack_refs_without_peel_does_not_claim_peeled(env, repo):
    refs = refs_of(repo)
    refs.pack_refs(all=True)
    assert not (repo / ".git" / "packed-refs").read_bytes().startswith(b"# pack-refs with: peeled")
    assert show_ref(env, repo, "-d")[b"refs/tags/v1^{}"] == rev(env, repo, "v1^{}")


# --- compare-and-swap, locks, junk ------------------------------------------

def test_cas_failures_change_nothing(env, repo):
    refs = refs_of(repo)
    c1, c2 = rev(env, repo, "HEAD~1"), rev(env, repo, "HEAD")
    before = show_ref(env, repo)
    assert not refs.set_if_equals(b"refs/heads/main", c1, c1)        # main is at c2
    assert not refs.set_if_equals(b"refs/heads/main", ZERO_SHA, c1)  # must not exist
    assert not refs.remove_if_equals(b"refs/heads/main", c1)
    assert not refs.set_if_equals(b"refs/heads/absent", c1, c2)      # expected c1, is absent
    assert not refs.remove_if_equals(b"refs/heads/absent", c1)
    with pytest.raises(RefUpdateRejected, match="is at"):
        refs.compare_and_set(b"refs/heads/main", c1, c1)
    with pytest.raises(RefUpdateRejected, match="already exists"):
        refs.compare_and_set(b"refs/heads/main", ZERO_SHA, c1)
    with pytest.raises(RefUpdateRejected):
        refs.compare_and_delete(b"refs/heads/main", c1)
    assert show_ref(env, repo) == before
    assert not any(p.endswith(".lock") for _, _, fs in os.walk(repo / ".git") for p in fs)
    assert refs.set_if_equals(b"refs/heads/main", c2, c1)
    refs.compare_and_set(b"refs/heads/main", c1, c2)
    assert rev(env, repo, "main") == c2


def test_stale_lock_raises_and_changes_nothing(env, repo):
    refs = refs_of(repo)
    c1 = rev(env, repo, "HEAD~1")
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_bytes(b"")
    before = show_ref(env, repo)
    with pytest.raises(RefLockError):
        refs.set_if_equals(b"refs/heads/main", None, c1)
    with pytest.raises(RefLockError):
        refs.remove_if_equals(b"refs/heads/main", None)
    assert lock.exists() and show_ref(env, repo) == before
    assert b"refs/heads/main.lock" not in refs.allkeys()
    # a stale packed-refs.lock blocks deleting a packed ref, leaving it in place
    git(env, repo, "pack-refs", "--all")
    (repo / ".git" / "packed-refs.lock").write_bytes(b"")
    with pytest.raises(RefLockError):
        refs.remove_if_equals(b"refs/tags/light", None)
    assert show_ref(env, repo) == before
    with pytest.raises(RefLockError):
        refs.add_packed_refs({b"refs/heads/p": c1})
    assert b"refs/heads/p" not in show_ref(env, repo)


def test_listing_reads_each_loose_file_once_and_agrees_with_ref_by_ref(env, repo):
    """as_dict/get_symrefs take a shortcut (one read per loose file); it must not change answers."""
    git(env, repo, "pack-refs", "--all")
    git(env, repo, "symbolic-ref", "refs/heads/alias", "refs/tags/light")   # to a packed-only ref
    git(env, repo, "update-ref", "refs/heads/other", "HEAD~1")             # loose over packed
    (repo / ".git" / "refs" / "heads" / "main").write_bytes(b"junk\n")     # broken over packed
    (repo / ".git" / "refs" / "heads" / "dangling").write_bytes(b"ref: refs/heads/nowhere\n")
    refs = refs_of(repo)
    opened = []
    real_open = open

    def counting_open(path, *a, **kw):
        opened.append(path)
        return real_open(path, *a, **kw)

    import builtins
    builtins.open, saved = counting_open, builtins.open
    try:
        listing = refs.as_dict()
    finally:
        builtins.open = saved
    one_by_one = type(refs).__mro__[1]._as_dict(refs, None, refs.read_ref)
    assert listing == one_by_one
    assert listing[b"refs/heads/alias"] == listing[b"refs/tags/light"]
    assert b"refs/heads/main" not in listing and b"refs/heads/dangling" not in listing
    loose_files = [p for p in opened if os.sep + "refs" + os.sep in p or p.endswith("HEAD")]
    assert len(loose_files) == len(set(loose_files))
    assert refs.get_symrefs() == {b"HEAD": b"refs/heads/main",
                                  b"refs/heads/alias": b"refs/tags/light",
                                  b"refs/heads/dangling": b"refs/heads/nowhere"}


def test_junk_ref_raises(env, repo):
    refs = refs_of(repo)
    (repo / ".git" / "refs" / "heads" / "junk").write_bytes(b"not a sha at all\n")
    (repo / ".git" / "refs" / "heads" / "short").write_bytes(b"abc123\n")
    (repo / ".git" / "refs" / "heads" / "badsym").write_bytes(b"ref: ../../config\n")
    for name in (b"refs/heads/junk", b"refs/heads/short", b"refs/heads/badsym"):
        with pytest.raises(RefFormatError):
            refs.read_ref(name)
        with pytest.raises(RefFormatError):
            refs[name]
    assert b"refs/heads/junk" not in refs.as_dict()        # listing skips broken refs, like git
    assert b"refs/heads/main" in refs.as_dict()
    packed = repo / ".git" / "packed-refs"
    packed.write_bytes(b"# pack-refs with: peeled \nzzzz refs/heads/x\n")
    with pytest.raises(RefFormatError):
        refs.get_packed_refs()


def test_invalid_names_never_touch_paths(repo, tmp_path):
    refs = refs_of(repo)
    (repo / ".git" / "secret").write_bytes(b"0" * 40 + b"\n")
    assert refs.read_ref(b"refs/../secret") is None
    assert refs.read_ref(b"secret") is None
    assert b"refs/heads/../../secret" not in refs
    with pytest.raises(InvalidRefName):
        refs.set_if_equals(b"refs/heads/../../x", None, b"1" * 40)
    with pytest.raises(InvalidRefName):
        refs.set_symbolic_ref(b"HEAD", b"../config")
    with pytest.raises(ValueError):
        refs.set_if_equals(b"refs/heads/x", None, b"not-hex")


def test_symref_loops(repo):
    refs = refs_of(repo)
    refs.set_symbolic_ref(b"refs/heads/a", b"refs/heads/b")
    refs.set_symbolic_ref(b"refs/heads/b", b"refs/heads/a")
    with pytest.raises(SymrefLoop):
        refs[b"refs/heads/a"]
    for i in range(7):
        refs.set_symbolic_ref(f"refs/heads/c{i}", f"refs/heads/c{i + 1}")
    refs[b"refs/heads/c7"] = refs[b"HEAD"]
    assert refs[b"refs/heads/c3"] == refs[b"HEAD"]
    with pytest.raises(SymrefLoop):
        refs[b"refs/heads/c0"]
    assert b"refs/heads/a" not in refs.as_dict()


def test_name_conflicts(env, repo):
    refs = refs_of(repo)
    c = rev(env, repo, "HEAD")
    with pytest.raises(RefNameConflict):
        refs[b"refs/heads/main/sub"] = c             # loose refs/heads/main in the way
    with pytest.raises(RefNameConflict):
        refs[b"refs/heads/feature/deep"] = c         # directory with refs below
    git(env, repo, "pack-refs", "--all")
    with pytest.raises(RefNameConflict):
        refs[b"refs/heads/other/sub"] = c            # packed refs/heads/other in the way
    del refs[b"refs/heads/feature/deep/x"]
    refs[b"refs/heads/feature/deep"] = c             # now fine
    assert rev(env, repo, "refs/heads/feature/deep") == c


def test_worktree_head(env, repo, tmp_path):
    wt = tmp_path / "wt"
    git(env, repo, "worktree", "add", "-q", "-b", "wtbranch", str(wt), "HEAD~1")
    wt_gitdir = repo / ".git" / "worktrees" / "wt"
    refs = DiskRefsContainer(repo / ".git", worktree_path=wt_gitdir)
    assert refs.read_ref(b"HEAD") == b"ref: refs/heads/wtbranch"
    assert refs[b"HEAD"] == rev(env, repo, "HEAD~1")
    refs.set_if_equals(b"HEAD", None, rev(env, repo, "main"))
    assert rev(env, wt, "HEAD") == rev(env, repo, "main")
    assert rev(env, repo, "HEAD") == rev(env, repo, "main")


# --- packed-refs format and in-memory container ----------------------------

def test_packed_refs_format_round_trip():
    a, b, c = b"a" * 40, b"b" * 40, b"c" * 40
    data = format_packed_refs({b"refs/tags/t": a, b"refs/heads/m": b}, {b"refs/tags/t": c, b"refs/heads/m": b})
    assert data == (b"# pack-refs with: peeled fully-peeled sorted \n" + b + b" refs/heads/m\n"
                    + a + b" refs/tags/t\n^" + c + b"\n")
    refs, peeled = parse_packed_refs(data)
    assert refs == {b"refs/heads/m": b, b"refs/tags/t": a}
    assert peeled == {b"refs/heads/m": b, b"refs/tags/t": c}
    for junk in [b"^" + a + b"\n", a + b"\n", b"xyz refs/heads/a\n", a + b" refs/heads/a"]:
        with pytest.raises(RefFormatError):
            parse_packed_refs(junk)


def test_dict_refs_container():
    a, b = b"1" * 40, b"2" * 40
    refs = DictRefsContainer({b"HEAD": b"ref: refs/heads/main", b"refs/heads/main": a})
    assert refs[b"HEAD"] == a
    assert refs.follow(b"HEAD") == ([b"HEAD", b"refs/heads/main"], a)
    assert not refs.set_if_equals(b"HEAD", b, b)
    assert refs.set_if_equals(b"HEAD", a, b)
    assert refs[b"refs/heads/main"] == b and refs.read_ref(b"HEAD") == b"ref: refs/heads/main"
    assert refs.add_if_new(b"refs/tags/t", a) and not refs.add_if_new(b"refs/tags/t", b)
    refs._update_peeled({b"refs/tags/t": b})
    assert refs.get_peeled(b"refs/tags/t") == b
    refs.import_refs(b"refs/remotes/origin", {b"x": a, b"y": b})
    assert refs.as_dict(b"refs/remotes/origin") == {b"x": a, b"y": b}
    refs.import_refs(b"refs/remotes/origin", {b"x": b}, prune=True)
    assert refs.keys(b"refs/remotes/origin") == {b"x"}
    assert not refs.remove_if_equals(b"refs/tags/t", b)
    assert refs.remove_if_equals(b"refs/tags/t", a)
    assert b"refs/tags/t" not in refs and refs.get_peeled(b"refs/tags/t") is None
    assert refs.get_symrefs() == {b"HEAD": b"refs/heads/main"}
    with pytest.raises(InvalidRefName):
        refs[b"bad ref"] = a
    logged = []
    refs = DictRefsContainer({}, logger=lambda *args: logged.append(args))
    refs.set_if_equals(b"refs/heads/x", None, a, committer=b"C <c@x>", timestamp=1, timezone=0, message=b"m")
    assert logged == [(b"refs/heads/x", None, a, b"C <c@x>", 1, 0, b"m")]


# --- concurrency ---------------------------------------------------------------

def test_readers_never_see_partial_packed_refs(repo):
    """Readers in many threads while packed-refs is rewritten again and again."""
    n = 150
    set_a = {f"refs/tags/t{i:04d}".encode(): b"a" * 40 for i in range(n)}
    set_b = {f"refs/tags/t{i:04d}".encode(): b"b" * 40 for i in range(n)}
    gitdir = repo / ".git"
    for tag in ("v1", "light"):
        os.unlink(gitdir / "refs" / "tags" / tag)
    writer_refs = DiskRefsContainer(gitdir)
    writer_refs.add_packed_refs(set_a)
    shared = DiskRefsContainer(gitdir)      # one container shared by all readers
    stop = threading.Event()
    problems: list[str] = []

    def writer():
        for i in range(30):
            writer_refs.add_packed_refs(set_b if i % 2 == 0 else set_a)
        stop.set()

    def reader(container):
        while not stop.is_set():
            packed = container.get_packed_refs()
            if packed not in (set_a, set_b):
                problems.append(f"partial packed dict with {len(packed)} refs")
            tags = container.as_dict(b"refs/tags")
            if len(tags) != n:
                problems.append(f"as_dict saw {len(tags)} tags")

    threads = [threading.Thread(target=reader, args=(shared if i % 2 else DiskRefsContainer(gitdir),))
               for i in range(6)]
    for t in threads:
        t.start()
    writer()
    for t in threads:
        t.join()
    assert problems == []
