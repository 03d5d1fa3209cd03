"""``GitClient``: fetch, push, ls-remote and archive over any byte channel.

Subclasses only say how to open a channel (:meth:`GitClient._connect`); the
conversations live in :mod:`.fetching` and :mod:`.pushing`.  Paths may be
``str`` or ``bytes``.
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Iterable, Optional

from ..errors import HangupException, RemoteError, UnexpectedEOF, UnexpectedMessage
from ..pktline import FLUSH
from ..sideband import SidebandDemuxer
from .fetching import FetchOptions, fetch_v0, fetch_v2, ls_refs_v2, read_advertisement
from .progress import sanitize_progress
from .pushing import push_v0
from .results import FetchPackResult, LsRemoteResult, SendPackResult

__all__ = ["GitClient", "call_determine_wants", "default_determine_wants"]

ZERO = b"0" * 40


def _path_bytes(path: Any) -> bytes:
    if isinstance(path, bytes):
        return path
    return os.fsencode(path)


def call_determine_wants(determine_wants, refs: dict, depth: Optional[int]) -> list:
    """Call ``determine_wants(refs)`` or ``determine_wants(refs, depth=...)``."""
    try:
        params = inspect.signature(determine_wants).parameters
    except (TypeError, ValueError):
        params = {}
    takes_depth = "depth" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    wants = determine_wants(refs, depth=depth) if takes_depth else determine_wants(refs)
    out, seen = [], set()
    for w in wants or ():
        if isinstance(w, str):
            w = w.encode("ascii")
        if w is None or not w.strip(b"0") or w in seen:
            continue
        seen.add(w)
        out.append(w)
    return out


def _drop_peeled_wants(wants: list, refs: dict) -> list:
    """A tag's peeled target comes with the tag; asking for it too is "not our ref" in v0."""
    tips = {v for k, v in refs.items() if not k.endswith(b"^{}")}
    wanted = set(wants)
    implied = {v for k, v in refs.items()
               if k.endswith(b"^{}") and refs.get(k[:-3]) in wanted}
    return [w for w in wants if w in tips or w not in implied]


def default_determine_wants(refs: dict, depth: Optional[int] = None) -> list:
    """Everything the server has (except peeled tag entries)."""
    return [sha for name, sha in refs.items() if not name.endswith(b"^{}")]


class GitClient:
    """Base of every client.  ``thin_packs``: ask for thin packs (completed on arrival)."""

    #: Which protocol version to ask for when fetching (the server may answer lower).
    protocol_version: int = 2

    def __init__(self, thin_packs: bool = True, report_activity=None, quiet: bool = False,
                 include_tags: bool = True, timeout: Optional[float] = None,
                 protocol_version: Optional[int] = None, **kwargs: Any) -> None:
        self._thin_packs = thin_packs
        self._report_activity = report_activity
        self._include_tags = include_tags
        self._quiet = quiet
        self.timeout = timeout
        if protocol_version is not None:
            self.protocol_version = protocol_version

    # -- transports implement this ------------------------------------------
    def _connect(self, service: bytes, path: bytes, protocol_version: Optional[int] = None):
        """Open a :class:`.conn.Channel` to ``git-<service>`` for ``path``."""
        raise NotImplementedError

    def get_url(self, path) -> str:
        raise NotImplementedError

    # -- ls-remote -----------------------------------------------------------
    def get_refs(self, path, protocol_version: Optional[int] = None,
                 ref_prefix: Iterable[bytes] = ()) -> LsRemoteResult:
        """The remote's refs (peeled tags as ``name^{}``) and symrefs."""
        ch = self._connect(b"upload-pack", _path_bytes(path),
                           self.protocol_version if protocol_version is None else protocol_version)
        with _hangup_context(ch):
            adv = read_advertisement(ch.protocol)
            if adv.version == 2:
                ls_refs_v2(ch.protocol, adv, ref_prefix)
            ch.protocol.write_pkt_line(None)
            ch.flush()
            return LsRemoteResult(adv.refs, adv.symrefs)

    # -- fetch ---------------------------------------------------------------
    def fetch_pack(self, path, determine_wants, graph_walker, pack_data: Callable[[bytes], object],
                   progress: Optional[Callable[[bytes], object]] = None,
                   depth: Optional[int] = None, ref_prefix: Iterable[bytes] = (),
                   filter_spec: Optional[bytes] = None, protocol_version: Optional[int] = None,
                   shallow_since: Optional[int] = None, shallow_exclude: Iterable[bytes] = (),
                   shallow: Iterable[bytes] = (), include_tags: Optional[bool] = None,
                   pack_sink: Optional[Callable[[Iterable[bytes]], Any]] = None) -> FetchPackResult:
        """Negotiate and receive a pack; its bytes go to ``pack_data`` chunk by chunk.

        ``pack_sink`` (used by :meth:`fetch`) receives the chunk iterator itself,
        so the pack can be streamed into the indexer.
        """
        if isinstance(filter_spec, str):
            filter_spec = filter_spec.encode()
        if graph_walker is None:
            graph_walker = _NoHaves()
        opts = FetchOptions(depth=depth, deepen_since=shallow_since,
                            deepen_not=[_path_bytes(x) for x in shallow_exclude],
                            filter_spec=filter_spec,
                            include_tags=self._include_tags if include_tags is None else include_tags,
                            thin=self._thin_packs, shallow=set(shallow), progress=progress)
        version = self.protocol_version if protocol_version is None else protocol_version
        ch = self._connect(b"upload-pack", _path_bytes(path), version)
        with _hangup_context(ch):
            proto = ch.protocol
            adv = read_advertisement(proto)
            if adv.version == 2:
                ls_refs_v2(proto, adv, ref_prefix)
            result = FetchPackResult(adv.refs, adv.symrefs, adv.agent)
            wants = _drop_peeled_wants(call_determine_wants(determine_wants, adv.refs, depth),
                                       adv.refs)
            if not wants:
                proto.write_pkt_line(None)
                ch.flush()
                return result
            if adv.version == 2:
                update, chunks = fetch_v2(proto, adv, wants, graph_walker, opts)
            else:
                update, chunks = fetch_v0(proto, ch.read, adv, wants, graph_walker, opts)
            result.new_shallow = set(update.shallows)
            result.new_unshallow = set(update.unshallows)
            if pack_sink is not None:
                result.object_count = pack_sink(chunks)
            else:
                for chunk in chunks:
                    pack_data(chunk)
            return result

    def fetch(self, path, target, determine_wants=None, progress=None, depth: Optional[int] = None,
              ref_prefix: Iterable[bytes] = (), filter_spec: Optional[bytes] = None,
              protocol_version: Optional[int] = None, **kwargs: Any) -> FetchPackResult:
        """Fetch into ``target`` (a repository): negotiation, pack indexing, shallow file.

        Refs are not updated; the caller (porcelain) decides where they go.
        """
        from .receive import local_graph_walker, read_shallow, store_pack_stream, write_shallow

        if determine_wants is None:
            determine_wants = default_determine_wants
        store = target.object_store

        def wants_missing(refs, depth=None):
            wants = call_determine_wants(determine_wants, refs, depth)
            if depth is None and not filter_spec:
                wants = [w for w in wants if w not in store]
            return wants

        shallow = read_shallow(target)
        walker = local_graph_walker(target, shallow)
        result = self.fetch_pack(path, wants_missing, walker, None, progress=progress,
                                 depth=depth, ref_prefix=ref_prefix, filter_spec=filter_spec,
                                 protocol_version=protocol_version, shallow=shallow,
                                 pack_sink=lambda chunks: store_pack_stream(
                                     store, chunks, progress, promisor=bool(filter_spec)),
                                 **kwargs)
        if result.new_shallow or result.new_unshallow:
            write_shallow(target, (shallow | result.new_shallow) - result.new_unshallow)
        return result

    # -- push ----------------------------------------------------------------
    def send_pack(self, path, update_refs, generate_pack_data, progress=None,
                  push_options: Optional[Iterable[bytes]] = None,
                  atomic: bool = False) -> SendPackResult:
        """Push: ``update_refs(refs) -> new refs`` (zero id deletes);
        ``generate_pack_data(have, want, ofs_delta=..., progress=...)`` gives the pack."""
        ch = self._connect(b"receive-pack", _path_bytes(path), None)
        with _hangup_context(ch):
            def write_raw(data: bytes) -> None:
                ch.write(data)
            result = push_v0(ch.protocol, write_raw, update_refs, generate_pack_data,
                             progress, push_options, atomic)
            ch.flush()
            return result

    # -- archive -------------------------------------------------------------
    def archive(self, path, committish, write_data: Callable[[bytes], object], progress=None,
                write_error: Optional[Callable[[bytes], object]] = None, format=None,
                subdirs: Optional[Iterable] = None, prefix=None) -> None:
        """``git archive --remote``: the archive's bytes go to ``write_data``."""
        ch = self._connect(b"upload-archive", _path_bytes(path), None)
        with _hangup_context(ch):
            proto = ch.protocol
            args = []
            if format is not None:
                args.append(b"--format=" + _path_bytes(format))
            if prefix is not None:
                args.append(b"--prefix=" + _path_bytes(prefix))
            args.append(_path_bytes(committish))
            args.extend(_path_bytes(s) for s in subdirs or ())
            for a in args:
                proto.write_pkt_line(b"argument " + a + b"\n")
            proto.write_pkt_line(None)
            pkt = proto.read_pkt()
            if pkt is FLUSH or not isinstance(pkt, bytes):
                raise UnexpectedMessage(f"expected ACK from upload-archive, got {pkt!r}")
            text = pkt.rstrip(b"\n")
            if text.startswith(b"NACK "):
                raise RemoteError(text[5:])
            if text != b"ACK":
                raise UnexpectedMessage(f"expected ACK from upload-archive, got {text[:80]!r}")
            if proto.read_pkt() is not FLUSH:
                raise UnexpectedMessage("expected a flush after ACK from upload-archive")

            def on_progress(data: bytes) -> None:
                sink = progress if progress is not None else None
                if sink is not None:
                    sink(sanitize_progress(data))

            demux = SidebandDemuxer(on_progress)
            while not demux.done:
                try:
                    pkt = proto.read_pkt()
                except UnexpectedEOF:
                    break   # cgit's upload-archive ends with EOF, not always a flush
                try:
                    data = demux.feed_pkt(pkt)
                except RemoteError as exc:
                    if write_error is not None:
                        write_error(sanitize_progress(_b(exc.remote_message)))
                    raise
                if data:
                    write_data(data)


class _NoHaves:
    """A graph walker for a repository with nothing to offer."""

    def next(self):
        return None

    def ack(self, sha) -> None:
        pass


def _b(text) -> bytes:
    return text.encode("utf-8", "replace") if isinstance(text, str) else text


class _hangup_context:
    """Close the channel; give a hangup the peer's stderr (why it hung up)."""

    def __init__(self, ch) -> None:
        self.ch = ch

    def __enter__(self):
        return self.ch

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if isinstance(exc, HangupException) and not exc.stderr_lines:
                lines = self.ch.stderr_lines()
                if lines:
                    self.ch.close()
                    raise HangupException(lines) from exc
        finally:
            self.ch.close()
        return False
