"""One suite, every implementation: refs containers and object stores behave alike."""

import pytest

from puregit.errors import InvalidRefName, MissingObjectError, RefUpdateRejected, SymrefLoop
from puregit.object_store import DiskObjectStore, MemoryObjectStore
from puregit.objects import Blob, Commit, Tree
from puregit.refs import DictRefsContainer, DiskRefsContainer
from puregit.repo import Repo

A = b"a" * 40
B = b"b" * 40
C = b"c" * 40
ZERO = b"0" * 40


@pytest.fixture(params=["dict", "disk"])
def refs(request, tmp_path):
    if request.param == "dict":
        r = DictRefsContainer({})
    else:
        Repo.init_bare(str(tmp_path / "r.git"), mkdir=True)
        r = DiskRefsContainer(str(tmp_path / "r.git"))
    r.set_symbolic_ref(b"HEAD", b"refs/heads/master")
    return r


def test_add_if_new(refs):
    assert refs.add_if_new(b"refs/heads/master", A)
    assert not refs.add_if_new(b"refs/heads/master", B)
    assert refs[b"refs/heads/master"] == A
    assert refs[b"HEAD"] == A


def test_set_if_equals(refs):
    refs[b"refs/heads/x"] = A
    assert not refs.set_if_equals(b"refs/heads/x", B, C)
    assert refs[b"refs/heads/x"] == A
    assert refs.set_if_equals(b"refs/heads/x", A, B)
    assert refs[b"refs/heads/x"] == B
    assert refs.set_if_equals(b"refs/heads/x", None, C)  # None: don't care
    assert refs[b"refs/heads/x"] == C
    assert not refs.set_if_equals(b"refs/heads/y", A, B)  # absent is not A
    assert b"refs/heads/y" not in refs


def test_zero_old_means_must_not_exist(refs):
    refs[b"refs/heads/x"] = A
    assert not refs.set_if_equals(b"refs/heads/x", ZERO, B)
    assert refs[b"refs/heads/x"] == A
    assert refs.set_if_equals(b"refs/heads/new", ZERO, B)


def test_remove_if_equals(refs):
    refs[b"refs/heads/x"] = A
    assert not refs.remove_if_equals(b"refs/heads/x", B)
    assert refs[b"refs/heads/x"] == A
    assert refs.remove_if_equals(b"refs/heads/x", A)
    assert b"refs/heads/x" not in refs


def test_raising_variants(refs):
    refs[b"refs/heads/x"] = A
    with pytest.raises(RefUpdateRejected):
        refs.compare_and_set(b"refs/heads/x", B, C)
    with pytest.raises(RefUpdateRejected):
        refs.compare_and_delete(b"refs/heads/x", B)
    assert refs[b"refs/heads/x"] == A


def test_symrefs_and_listing(refs):
    refs[b"refs/heads/master"] = A
    refs[b"refs/tags/v1"] = B
    assert refs.get_symrefs() == {b"HEAD": b"refs/heads/master"}
    assert refs.as_dict() == {b"HEAD": A, b"refs/heads/master": A, b"refs/tags/v1": B}
    assert refs.as_dict(b"refs/tags") == {b"v1": B}
    assert refs.follow(b"HEAD") == ([b"HEAD", b"refs/heads/master"], A)


def test_missing_ref_is_key_error(refs):
    with pytest.raises(KeyError):
        refs[b"refs/heads/nope"]


def test_symref_loop(refs):
    refs.set_symbolic_ref(b"refs/heads/a", b"refs/heads/b")
    refs.set_symbolic_ref(b"refs/heads/b", b"refs/heads/a")
    with pytest.raises((SymrefLoop, KeyError)):
        refs[b"refs/heads/a"]


def test_invalid_names_refused_on_write(refs):
    for bad in (b"refs/heads/a..b", b"refs/heads/x.lock", b"refs/heads/a b", b"refs/heads/"):
        with pytest.raises(InvalidRefName):
            refs[bad] = A


@pytest.fixture(params=["memory", "disk"])
def store(request, tmp_path):
    if request.param == "memory":
        return MemoryObjectStore()
    return DiskObjectStore.init(str(tmp_path / "objects"))


def test_store_basics(store):
    blob = Blob.from_data(b"hello\n")
    sha = store.add_object(blob)
    assert sha == blob.id
    assert sha in store and bytes(sha) in store
    assert store[sha] == blob
    assert store.get_raw(sha) == (3, b"hello\n")
    assert list(store) == [sha]
    with pytest.raises(MissingObjectError):
        store[B]
    assert store.get(B) is None


def test_store_peel_and_tree_contents(store):
    blob = Blob.from_data(b"x")
    store.add_object(blob)
    sub = Tree()
    sub.add(b"f", 0o100644, blob.id)
    store.add_object(sub)
    root = Tree()
    root.add(b"d", 0o40000, sub.id)
    root.add(b"g", 0o100755, blob.id)
    store.add_object(root)
    entries = sorted(store.iter_tree_contents(root.id))
    assert [(e.path, e.mode) for e in entries] == [(b"d/f", 0o100644), (b"g", 0o100755)]
    c = Commit()
    c.tree = root.id
    c.author = c.committer = b"A <a@example.com>"
    c.author_time = c.commit_time = 1
    c.message = b"m\n"
    store.add_object(c)
    assert store.peel_sha(c.id) == c
