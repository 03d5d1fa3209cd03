"""``LocalGitClient``: fetch from and push to a repository on disk, in process.

No git binary and no pipes: the negotiation collapses to "which of my
commits does the other repository have", answered by looking in its object
store, and packs go straight from one store's pack generator into the other
store's pack indexer.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Optional

from ..errors import NotGitRepository, TransportError, UnsupportedTransport
from ..graph import commit_tree_and_parents
from .base import GitClient, call_determine_wants
from .results import FetchPackResult, LsRemoteResult, SendPackResult

__all__ = ["LocalGitClient"]

ZERO = b"0" * 40


def _open(path) -> Any:
    from ..repo import Repo
    p = os.fsdecode(path)
    if p.startswith("file://"):
        p = p[len("file://"):]
    try:
        return Repo(p)
    except NotGitRepository as exc:
        raise TransportError(f"'{p}' does not appear to be a git repository") from exc


def _advertised_refs(repo) -> tuple:
    refs = {}
    store = repo.object_store
    for name, sha in sorted(repo.refs.as_dict().items()):
        refs[name] = sha
        if name.startswith(b"refs/tags/"):
            try:
                peeled = store.peel_sha(sha).id
            except KeyError:
                continue
            if peeled != sha:
                refs[name + b"^{}"] = peeled
    return refs, repo.refs.get_symrefs()


def _shallow_boundary(store, wants: list, depth: int) -> set:
    """Commits at ``depth`` below the wants: sent, but their parents are not."""
    boundary = set()
    level = {}
    frontier = []
    for w in wants:
        sha = w
        type_num, body = store.get_raw(sha)
        while type_num == 4:
            from ..graph import tag_target
            sha = tag_target(body)[0]
            type_num, body = store.get_raw(sha)
        if type_num == 1 and sha not in level:
            level[sha] = 1
            frontier.append(sha)
    while frontier:
        nxt = []
        for sha in frontier:
            parents = commit_tree_and_parents(store.get_raw(sha)[1])[1]
            if level[sha] >= depth:
                if parents:
                    boundary.add(sha)
                continue
            for p in parents:
                if p not in level:
                    level[p] = level[sha] + 1
                    nxt.append(p)
        frontier = nxt
    return boundary


class LocalGitClient(GitClient):
    """A client for paths on this machine (``file://`` or plain paths)."""

    def get_url(self, path) -> str:
        return "file://" + os.path.abspath(os.fsdecode(path))

    def get_refs(self, path, protocol_version=None, ref_prefix=()) -> LsRemoteResult:
        repo = _open(path)
        try:
            refs, symrefs = _advertised_refs(repo)
        finally:
            repo.close()
        return LsRemoteResult(refs, symrefs)

    def fetch_pack(self, path, determine_wants, graph_walker, pack_data=None, progress=None,
                   depth: Optional[int] = None, ref_prefix=(), filter_spec=None,
                   protocol_version=None, shallow: Iterable[bytes] = (),
                   pack_sink: Optional[Callable] = None, **kwargs: Any) -> FetchPackResult:
        from ..pack_writer import generate_pack_chunks
        repo = _open(path)
        try:
            store = repo.object_store
            refs, symrefs = _advertised_refs(repo)
            result = FetchPackResult(refs, symrefs, b"puregit/local")
            wants = call_determine_wants(determine_wants, refs, depth)
            if not wants:
                return result
            haves = []
            while True:
                sha = graph_walker.next()
                if sha is None:
                    break
                if sha in store:
                    graph_walker.ack(sha)
                    haves.append(sha)
            boundary = set()
            if depth:
                boundary = _shallow_boundary(store, wants, depth)
                result.new_shallow = boundary - set(shallow)
                result.new_unshallow = set(shallow) - boundary
            entries = store.iter_reachable(wants, haves, boundary)
            if filter_spec in (b"blob:none", "blob:none"):
                entries = (e for e in entries if e[1] != 3)
            chunks = generate_pack_chunks(store, list(entries), thin_bases=haves,
                                          progress=progress)
            if pack_sink is not None:
                result.object_count = pack_sink(chunks)
            else:
                for c in chunks:
                    pack_data(c)
            return result
        finally:
            repo.close()

    def send_pack(self, path, update_refs, generate_pack_data, progress=None,
                  push_options=None, atomic: bool = False) -> SendPackResult:
        from .pushing import _call_generate
        repo = _open(path)
        try:
            old_refs, _ = _advertised_refs(repo)
            old_refs = {k: v for k, v in old_refs.items() if not k.endswith(b"^{}")}
            wanted = update_refs(dict(old_refs)) or {}
            changes = [(r, old_refs.get(r, ZERO), n or ZERO) for r, n in wanted.items()
                       if (n or ZERO) != old_refs.get(r, ZERO)]
            status: dict = {}
            new_refs = dict(old_refs)
            if not changes:
                return SendPackResult(new_refs, b"puregit/local", status)
            want = sorted({n for _, _, n in changes if n != ZERO})
            if want:
                have = sorted(set(old_refs.values()))
                pack = _call_generate(generate_pack_data, have, want, True, progress, True)
                store = repo.object_store
                store.add_pack_stream(_ChunkCollector(pack), thin=True)
                missing = {w for w in want if w not in store}
                for r, _, n in changes:
                    if n in missing:
                        status[r] = "missing necessary objects"
                if missing and atomic:
                    return SendPackResult(new_refs, b"puregit/local", {
                        r: status.get(r) or "atomic transaction failed" for r, _, _ in changes})
                changes = [c for c in changes if c[0] not in status]
            if atomic:
                stale = [r for r, o, _ in changes if repo.refs.as_dict().get(r, ZERO) != o]
                if stale:
                    return SendPackResult(new_refs, b"puregit/local",
                                          {r: "atomic transaction failed" for r, _, _ in changes})
            for ref, old, new in changes:
                if new == ZERO:
                    ok = repo.refs.remove_if_equals(ref, old)
                else:
                    ok = repo.refs.set_if_equals(ref, None if old == ZERO else old, new)
                status[ref] = None if ok else "failed to update ref"
                if ok:
                    if new == ZERO:
                        new_refs.pop(ref, None)
                    else:
                        new_refs[ref] = new
            return SendPackResult(new_refs, b"puregit/local", status)
        finally:
            repo.close()

    def archive(self, *args: Any, **kwargs: Any) -> None:
        raise UnsupportedTransport("archive from a local path is not supported yet")


class _ChunkCollector:
    """Iterate the chunks of whatever ``generate_pack_data`` returned."""

    def __init__(self, pack) -> None:
        self.pack = pack

    def __iter__(self):
        from .pushing import write_pack_data
        out: list = []
        # write_pack_data pushes chunks through a callback; bridge it lazily.
        count, data = self.pack if isinstance(self.pack, tuple) else (None, self.pack)
        first_kind = None
        for chunk in data:
            if isinstance(chunk, (bytes, bytearray, memoryview)):
                yield bytes(chunk)
            else:
                first_kind = chunk
                break
        if first_kind is not None:
            from itertools import chain
            buf: list = []
            write_pack_data(buf.append, (None, chain([first_kind], data)))
            yield from buf
