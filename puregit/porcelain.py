"""High-level operations, git-command shaped: clone, fetch, push, ls_remote, init, add, commit.

Repositories may be given as paths or :class:`~puregit.repo.Repo` objects;
locations as URLs, scp-like ``host:path``, local paths or remote names.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterable, Optional

from .client import get_transport_and_path
from .client.results import FetchPackResult, LsRemoteResult, SendPackResult
from .errors import PuregitError
from .refs import ZERO_SHA

__all__ = ["init", "clone", "fetch", "push", "ls_remote", "add", "commit", "get_remote_repo",
           "open_repo", "Error", "default_bytes_err_stream", "default_bytes_out_stream"]

default_bytes_out_stream = getattr(sys.stdout, "buffer", None) or sys.stdout
default_bytes_err_stream = getattr(sys.stderr, "buffer", None) or sys.stderr


class Error(PuregitError):
    """A porcelain operation failed (message is user-facing)."""


def _b(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return os.fsencode(value) if isinstance(value, (str, os.PathLike)) else value


def open_repo(path_or_repo: Any):
    from .repo import Repo
    if hasattr(path_or_repo, "object_store"):
        return path_or_repo
    return Repo(os.fsdecode(path_or_repo))


@contextmanager
def _repo(path_or_repo: Any):
    if hasattr(path_or_repo, "object_store"):
        yield path_or_repo
        return
    r = open_repo(path_or_repo)
    try:
        yield r
    finally:
        r.close()


def _progress_writer(errstream: Optional[BinaryIO], quiet: bool):
    if quiet or errstream is None:
        return None

    def write(data: bytes) -> None:
        try:
            errstream.write(data)
            errstream.flush()
        except (AttributeError, ValueError):
            pass
    return write


# --- init, add, commit ----------------------------------------------------------

def init(path: Any = ".", bare: bool = False, **kwargs: Any):
    """Create a repository (``git init``)."""
    from .repo import Repo
    path = os.fsdecode(path)
    os.makedirs(path, exist_ok=True)
    if bare:
        return Repo.init_bare(path, **kwargs)
    return Repo.init(path, **kwargs)


def _worktree_files(root: str) -> list:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def add(repo: Any = ".", paths: Optional[Iterable] = None) -> tuple:
    """Stage files (``git add``); no paths means every file in the work tree.

    Returns ``(added paths, ignored paths)`` like Dulwich (nothing is ignored yet).
    """
    with _repo(repo) as r:
        root = os.path.realpath(r.path)
        if paths is None:
            rel = _worktree_files(root)
        else:
            rel = []
            for p in ([paths] if isinstance(paths, (str, bytes, os.PathLike)) else paths):
                p = os.fsdecode(p)
                full = os.path.realpath(p if os.path.isabs(p) else os.path.join(os.getcwd(), p))
                if not os.path.exists(full) and not os.path.isabs(p):
                    full = os.path.realpath(os.path.join(root, p))
                if os.path.commonpath([full, root]) != root:
                    raise Error(f"'{p}' is outside repository at '{root}'")
                if os.path.isdir(full):
                    rel.extend(os.path.relpath(os.path.join(full, f), root)
                               for f in _worktree_files(full))
                else:
                    rel.append(os.path.relpath(full, root))
        rel = [x.replace(os.sep, "/") for x in rel]
        r.stage(rel)
        return rel, set()


def commit(repo: Any = ".", message: Any = None, author: Any = None, committer: Any = None,
           **kwargs: Any) -> bytes:
    """Record the index as a new commit on HEAD (``git commit``); return its id."""
    with _repo(repo) as r:
        return r.do_commit(message=message, author=author, committer=committer, **kwargs)


# --- remotes --------------------------------------------------------------------

def get_remote_repo(repo, remote_location: Any = None) -> tuple:
    """``(remote name or None, url)`` for a remote name or a location."""
    if remote_location is None:
        remote_location = "origin"
    loc = os.fsdecode(remote_location)
    config = repo.get_config()
    try:
        url = config.get((b"remote", loc.encode()), b"url")
        return loc, url.decode("utf-8")
    except KeyError:
        return None, loc


def _client(location: str, **kwargs: Any) -> tuple:
    client, path = get_transport_and_path(location, **{k: v for k, v in kwargs.items()
                                                       if v is not None})
    return client, path


def ls_remote(remote: Any, config: Any = None, **kwargs: Any) -> LsRemoteResult:
    """The refs of a remote (``git ls-remote``)."""
    client, path = _client(os.fsdecode(remote), **kwargs)
    return client.get_refs(path)


def _peel_ok(name: bytes) -> bool:
    return not name.endswith(b"^{}")


def _import_remote_refs(r, refs: dict, symrefs: dict, remote_name: Optional[str],
                        mirror: bool, bare: bool, prune: bool = False) -> dict:
    """Write fetched refs where ``git clone``/``git fetch`` put them; return them."""
    updates: dict = {}
    peeled: dict = {}
    for name, sha in refs.items():
        if name.endswith(b"^{}"):
            peeled[name[:-3]] = sha
            continue
        if mirror:
            if name.startswith(b"refs/"):
                updates[name] = sha
        elif name.startswith(b"refs/heads/"):
            if bare:
                updates[name] = sha
            elif remote_name:
                updates[b"refs/remotes/" + remote_name.encode() + name[10:]] = sha
        elif name.startswith(b"refs/tags/"):
            updates[name] = sha
    store = r.object_store
    updates = {k: v for k, v in updates.items() if v in store}
    current = r.refs.as_dict()
    changed = {k: v for k, v in updates.items() if current.get(k) != v}
    if changed:
        add_packed = getattr(r.refs, "add_packed_refs", None)
        if add_packed is not None and not any(k in current for k in changed):
            add_packed(changed, {k: v for k, v in peeled.items() if k in changed})
        else:
            for k, v in changed.items():
                r.refs.set_if_equals(k, None, v, message=b"fetch")
    return changed


def _head_target(refs: dict, symrefs: dict) -> Optional[bytes]:
    target = symrefs.get(b"HEAD")
    if target is not None:
        return target
    head = refs.get(b"HEAD")
    if head is None:
        return None
    for name in sorted(refs):
        if name.startswith(b"refs/heads/") and refs[name] == head:
            return name
    return None


def clone(source: Any, target: Any = None, bare: bool = False, checkout: Optional[bool] = None,
          errstream: Optional[BinaryIO] = default_bytes_err_stream, outstream: Any = None,
          origin: str = "origin", depth: Optional[int] = None, branch: Any = None,
          mirror: bool = False, filter_spec: Any = None, quiet: bool = False,
          protocol_version: Optional[int] = None, **kwargs: Any):
    """Clone a repository (``git clone``); returns the new Repo.

    Writes ``remote.<origin>`` config, ``refs/remotes/<origin>/*`` (or plain
    refs for ``bare``/``mirror``), tags, HEAD, and checks out HEAD unless
    bare.  On failure the half-made target directory is removed.
    """
    from .repo import Repo
    source = os.fsdecode(source)
    if mirror:
        bare = True
    if checkout is None:
        checkout = not bare
    if bare and checkout:
        raise Error("checkout and bare are incompatible")
    if target is None:
        target = os.path.basename(source.rstrip("/").rstrip(os.sep)) or "repo"
        if target.endswith(".git") and not bare:
            target = target[:-4]
        if bare and not target.endswith(".git"):
            target += ".git"
    target = os.fsdecode(target)
    if os.path.exists(target) and os.listdir(target):
        raise Error(f"destination path '{target}' already exists and is not an empty directory")
    created = not os.path.exists(target)
    os.makedirs(target, exist_ok=True)
    progress = _progress_writer(errstream, quiet)
    try:
        r = Repo.init_bare(target) if bare else Repo.init(target)
        try:
            client, path = _client(source, **kwargs)
            if os.path.exists(source) and not os.path.isabs(source) and "://" not in source:
                url = os.path.abspath(source)
                client, path = _client(url, **kwargs)
            else:
                url = source
            config = r.get_config()
            sec = (b"remote", origin.encode())
            config.set(sec, b"url", url.encode())
            if mirror:
                config.set(sec, b"fetch", b"+refs/*:refs/*")
                config.set(sec, b"mirror", b"true")
            else:
                config.set(sec, b"fetch", b"+refs/heads/*:refs/remotes/" + origin.encode() + b"/*")
            if filter_spec:
                config.set(sec, b"promisor", b"true")
                config.set(sec, b"partialclonefilter", _b(filter_spec))
                config.set((b"core",), b"repositoryformatversion", b"1")
                config.set((b"extensions",), b"partialclone", origin.encode())
            config.write_to_path()
            if progress:
                progress(f"Cloning into {'bare repository ' if bare else ''}'{target}'...\n".encode())

            def wants(refs, depth=None):
                return [sha for name, sha in refs.items()
                        if _peel_ok(name) and (name.startswith(b"refs/heads/")
                                               or name.startswith(b"refs/tags/")
                                               or (mirror and name.startswith(b"refs/"))
                                               or name == b"HEAD")]

            result = client.fetch(path, r, determine_wants=wants, progress=progress, depth=depth,
                                  filter_spec=_b(filter_spec) if filter_spec else None,
                                  protocol_version=protocol_version)
            _import_remote_refs(r, result.refs, result.symrefs, None if mirror else origin,
                                mirror, bare)
            head_ref = _head_target(result.refs, result.symrefs)
            if branch is not None:
                head_ref = b"refs/heads/" + _b(branch)
                if head_ref not in result.refs:
                    raise Error(f"Remote branch {os.fsdecode(_b(branch))} not found in upstream {origin}")
            head_sha = result.refs.get(head_ref) if head_ref else None
            if head_ref is not None:
                r.refs.set_symbolic_ref(b"HEAD", head_ref)
                if not bare and head_sha is not None:
                    r.refs.set_if_equals(head_ref, None, head_sha,
                                         message=b"clone: from " + url.encode())
                    r.refs.set_symbolic_ref(b"refs/remotes/" + origin.encode() + b"/HEAD",
                                            b"refs/remotes/" + origin.encode() + head_ref[10:])
                    config = r.get_config()
                    bsec = (b"branch", head_ref[11:])
                    config.set(bsec, b"remote", origin.encode())
                    config.set(bsec, b"merge", head_ref)
                    config.write_to_path()
            if checkout and head_sha is not None:
                tree = r[head_sha].tree
                if filter_spec:
                    _fetch_missing_blobs(client, path, r, tree, progress, protocol_version)
                r.reset_index(tree)
            return r
        except BaseException:
            r.close()
            raise
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for name in os.listdir(target):
                p = os.path.join(target, name)
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
        raise


def _parse_fetch_refspec(spec: bytes) -> tuple:
    force = spec.startswith(b"+")
    spec = spec.lstrip(b"+")
    src, _, dst = spec.partition(b":")
    return src, dst, force


def _map_refspecs(specs: list, name: bytes) -> Optional[bytes]:
    """Destination of remote ref ``name`` under the first matching fetch refspec."""
    for src, dst, _ in specs:
        if src.endswith(b"*"):
            if name.startswith(src[:-1]) and dst.endswith(b"*"):
                return dst[:-1] + name[len(src) - 1:]
        elif name == src:
            return dst or None
    return None


def _fetch_missing_blobs(client, path, r, tree: bytes, progress, protocol_version) -> None:
    """A partial clone's checkout needs the blobs of one tree: fetch just those (as git does)."""
    store = r.object_store
    missing = [e.sha for e in store.iter_tree_contents(tree)
               if e.mode != 0o160000 and e.sha not in store]
    if not missing:
        return
    from .client.receive import store_pack_stream
    client.fetch_pack(path, lambda refs, depth=None: missing, None, None, progress=progress,
                      protocol_version=protocol_version, include_tags=False,
                      pack_sink=lambda chunks: store_pack_stream(store, chunks, progress,
                                                                 promisor=True))


def fetch(repo: Any, remote_location: Any = None, outstream: Any = None,
          errstream: Optional[BinaryIO] = default_bytes_err_stream, depth: Optional[int] = None,
          quiet: bool = False, prune: bool = False, filter_spec: Any = None,
          protocol_version: Optional[int] = None, **kwargs: Any) -> FetchPackResult:
    """Fetch from a remote (``git fetch``).

    Refs named by ``remote.<name>.fetch`` (default ``+refs/heads/*:refs/remotes/<name>/*``)
    are fetched and mapped; tags that point at fetched objects follow, as git's
    default tag auto-following does.
    """
    with _repo(repo) as r:
        name, url = get_remote_repo(r, remote_location)
        client, path = _client(url, **kwargs)
        progress = _progress_writer(errstream, quiet)
        raw_specs: list = []
        if name:
            try:
                raw_specs = r.get_config().get_multivalue((b"remote", name.encode()), b"fetch")
            except KeyError:
                raw_specs = []
        if not raw_specs:
            raw_specs = [b"+refs/heads/*:refs/remotes/" + (name or "origin").encode() + b"/*"]
        specs = [_parse_fetch_refspec(s) for s in raw_specs]

        def wants(refs, depth=None):
            return [sha for n, sha in refs.items()
                    if _peel_ok(n) and _map_refspecs(specs, n) is not None]

        result = client.fetch(path, r, determine_wants=wants, progress=progress, depth=depth,
                              filter_spec=_b(filter_spec) if filter_spec else None,
                              protocol_version=protocol_version)
        store = r.object_store
        current = r.refs.as_dict()
        updates = {}
        for n, sha in result.refs.items():
            if not _peel_ok(n):
                continue
            dst = _map_refspecs(specs, n)
            if dst is None and n.startswith(b"refs/tags/") and n not in current:
                dst = n      # auto-follow tags whose objects we now have
            if dst is not None and sha in store and current.get(dst) != sha:
                updates[dst] = sha
        for dst, sha in sorted(updates.items()):
            r.refs.set_if_equals(dst, None, sha, message=b"fetch: " + url.encode())
        return result


def _resolve_local(r, name: bytes, refs: dict) -> tuple:
    """``(full ref name, id)`` for a refspec source."""
    for cand in (name, b"refs/" + name, b"refs/tags/" + name, b"refs/heads/" + name,
                 b"refs/remotes/" + name):
        if cand in refs:
            return cand, refs[cand]
    if len(name) == 40 and name in r.object_store:
        return name, name
    raise Error(f"src refspec {name.decode('utf-8', 'replace')} does not match any")


def _is_ancestor(store, old: bytes, new: bytes, limit: int = 1_000_000) -> bool:
    from .graph import commit_tree_and_parents
    if old == new:
        return True
    if old not in store:
        return False
    stack, seen = [new], set()
    while stack and len(seen) < limit:
        sha = stack.pop()
        if sha in seen:
            continue
        seen.add(sha)
        try:
            type_num, body = store.get_raw(sha)
        except KeyError:
            continue
        if type_num != 1:
            continue
        for p in commit_tree_and_parents(body)[1]:
            if p == old:
                return True
            stack.append(p)
    return False


def _parse_refspecs(r, refspecs: Any, force: bool) -> list:
    """``[(source full name or None, source id or None, destination, force)]``."""
    if refspecs is None:
        head = r.refs.follow(b"HEAD")[0][-1]
        refspecs = [head]
    if isinstance(refspecs, (bytes, str)):
        refspecs = [refspecs]
    out = []
    refs = r.refs.as_dict()
    for spec in refspecs:
        spec = _b(spec)
        plus = spec.startswith(b"+")
        if plus:
            spec = spec[1:]
        src, sep, dst = spec.partition(b":")
        if not src:
            if not dst.startswith(b"refs/"):
                dst = b"refs/heads/" + dst
            out.append((None, None, dst, True))
            continue
        full, sha = _resolve_local(r, src, refs)
        if not sep or not dst:
            dst = full if full.startswith(b"refs/") else b"refs/heads/" + src
        elif not dst.startswith(b"refs/"):
            dst = (b"refs/tags/" if full.startswith(b"refs/tags/") else b"refs/heads/") + dst
        out.append((full, sha, dst, force or plus))
    return out


def push(repo: Any, remote_location: Any = None, refspecs: Any = None, outstream: Any = None,
         errstream: Optional[BinaryIO] = default_bytes_err_stream, force: bool = False,
         atomic: bool = False, push_options: Optional[Iterable] = None, quiet: bool = False,
         **kwargs: Any) -> SendPackResult:
    """Push refs (``git push``); non-fast-forward updates need ``force`` or ``+``.

    Returns the :class:`SendPackResult`; refs refused locally (non-fast-forward)
    or by the server carry their reason in ``ref_status``.
    """
    with _repo(repo) as r:
        name, url = get_remote_repo(r, remote_location)
        client, path = _client(url, **kwargs)
        specs = _parse_refspecs(r, refspecs, force)
        progress = _progress_writer(errstream, quiet)
        local_status: dict = {}

        def update_refs(remote_refs: dict) -> dict:
            new = dict(remote_refs)
            for src, sha, dst, forced in specs:
                if src is None:
                    if dst in remote_refs:
                        new[dst] = ZERO_SHA
                    continue
                old = remote_refs.get(dst)
                if old is not None and old != sha and not forced and \
                        not _is_ancestor(r.object_store, old, sha):
                    local_status[dst] = ("fetch first" if old not in r.object_store
                                         else "non-fast-forward")
                    continue
                new[dst] = sha
            if atomic and local_status:
                for _, _, dst, _ in specs:
                    local_status.setdefault(dst, "atomic push failed")
                return dict(remote_refs)
            return new

        result = client.send_pack(path, update_refs, r.object_store.generate_pack_data
                                  if hasattr(r.object_store, "generate_pack_data")
                                  else _generate_pack_data(r.object_store),
                                  progress=progress, push_options=push_options, atomic=atomic)
        result.ref_status.update(local_status)
        if name:
            for src, sha, dst, _ in specs:
                if result.ref_status.get(dst, 0) is None and dst.startswith(b"refs/heads/"):
                    tracking = b"refs/remotes/" + name.encode() + dst[10:]
                    if src is None:
                        r.refs.remove_if_equals(tracking, None)
                    else:
                        r.refs.set_if_equals(tracking, None, sha, message=b"update by push")
        if errstream is not None and not quiet:
            for ref, st in sorted(result.ref_status.items()):
                if st is not None:
                    errstream.write(b" ! [rejected] %s (%s)\n" % (ref, st.encode("utf-8", "replace")))
        return result


def _generate_pack_data(store):
    from .client.packgen import generate_pack_data

    def gen(have, want, ofs_delta=True, progress=None, thin=True):
        return generate_pack_data(store, have, want, ofs_delta=ofs_delta, progress=progress,
                                  thin=thin)
    return gen
