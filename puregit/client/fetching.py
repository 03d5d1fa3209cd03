"""The fetch conversation (v0/v1 and v2) over a blocking :class:`Protocol`.

Pure decisions live in :mod:`.negotiation` and :mod:`puregit.wire`; this
module only moves messages.  Pack bytes are yielded chunk by chunk so the
caller can stream them into the pack indexer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional

from ..capabilities import (
    CAPABILITY_AGENT, CAPABILITY_DEEPEN_NOT, CAPABILITY_DEEPEN_SINCE, CAPABILITY_FILTER,
    CAPABILITY_INCLUDE_TAG, CAPABILITY_MULTI_ACK, CAPABILITY_MULTI_ACK_DETAILED,
    CAPABILITY_NO_PROGRESS, CAPABILITY_OFS_DELTA, CAPABILITY_SHALLOW, CAPABILITY_SIDE_BAND,
    CAPABILITY_SIDE_BAND_64K, CAPABILITY_THIN_PACK, capability_agent, find_capability,
    parse_symrefs,
)
from ..errors import CapabilityError, UnexpectedMessage, UnsafeRefWarning
from ..pktline import FLUSH
from ..refs import check_ref_format
from ..sideband import SidebandDemuxer
from ..wire import (
    AckLine, CapabilityAdvertisement, FetchRequest, FetchResponse, LsRefsRequest,
    LsRefsResponse, Nak, RefAdvertisement, ShallowUpdate, UploadRequest,
)
from .negotiation import (
    MULTI_ACK, MULTI_ACK_DETAILED, SINGLE_ACK, HaveNegotiator,
)
from .progress import sanitize_progress

__all__ = ["Advertisement", "FetchOptions", "read_advertisement", "ls_refs_v2",
           "fetch_v0", "fetch_v2", "filter_unsafe_refs", "UnsafeRefWarning"]

PEELED = b"^{}"


@dataclass
class Advertisement:
    """What the server said first: refs (v0) or capabilities (v2)."""

    version: int
    refs: dict = field(default_factory=dict)
    symrefs: dict = field(default_factory=dict)
    capabilities: list = field(default_factory=list)
    shallows: list = field(default_factory=list)
    v2: Optional[CapabilityAdvertisement] = None

    @property
    def agent(self) -> Optional[bytes]:
        if self.v2 is not None:
            return self.v2.get(CAPABILITY_AGENT)
        return find_capability(self.capabilities, CAPABILITY_AGENT)

    def has(self, cap: bytes) -> bool:
        return cap in {c.split(b"=", 1)[0] for c in self.capabilities}


@dataclass
class FetchOptions:
    depth: Optional[int] = None
    deepen_since: Optional[int] = None
    deepen_not: list = field(default_factory=list)
    filter_spec: Optional[bytes] = None
    include_tags: bool = True
    thin: bool = True
    shallow: set = field(default_factory=set)      # the local repository's shallow commits
    progress: Optional[Callable[[bytes], object]] = None

    @property
    def deepening(self) -> bool:
        return bool(self.depth or self.deepen_since or self.deepen_not)


def _safe_ref(name: bytes) -> bool:
    base = name[:-len(PEELED)] if name.endswith(PEELED) else name
    if base == b"HEAD":
        return True
    return check_ref_format(base) and all(0x20 < c < 0x7f or c >= 0x80 for c in base)


def filter_unsafe_refs(refs: dict) -> dict:
    """Drop refs git would refuse (``..``, control characters, ...) with a warning."""
    out = {}
    for name, sha in refs.items():
        if _safe_ref(name):
            out[name] = sha
        else:
            shown = sanitize_progress(name).decode("utf-8", "replace")
            warnings.warn(f"ignoring ref with broken name {shown!r}", UnsafeRefWarning,
                          stacklevel=3)
    return out


def read_advertisement(proto) -> Advertisement:
    """Read v0/v1 refs or the v2 capability advertisement, whichever comes."""
    first = proto.read_pkt()
    if first is FLUSH:
        return Advertisement(0)   # empty repository, git < 2.41
    if not isinstance(first, bytes):
        raise UnexpectedMessage(f"unexpected {first!r} at the start of the advertisement")
    proto.unread_pkt_line(first)
    if first.rstrip(b"\n") == b"version 2":
        caps = proto.read_message(CapabilityAdvertisement.decoder())
        return Advertisement(2, capabilities=list(caps.capabilities), v2=caps)
    adv = proto.read_message(RefAdvertisement.decoder())
    return Advertisement(adv.version or 0, filter_unsafe_refs(adv.as_dict()),
                         parse_symrefs(adv.capabilities), list(adv.capabilities),
                         list(adv.shallows))


def ls_refs_v2(proto, adv: Advertisement, prefixes: Iterable[bytes] = ()) -> None:
    """Run ``ls-refs`` and fill ``adv.refs``/``adv.symrefs`` (peeled tags as ``^{}``)."""
    caps = [capability_agent()]
    if adv.v2 is not None and adv.v2.get(b"object-format") is not None:
        caps.append(b"object-format=" + adv.v2.get(b"object-format"))
    unborn = b"unborn" in (adv.v2.features(b"ls-refs") if adv.v2 else set())
    req = LsRefsRequest(capabilities=caps, symrefs=True, peel=True, unborn=unborn,
                        ref_prefixes=list(prefixes))
    proto.write_message(req)
    resp = proto.read_message(LsRefsResponse.decoder())
    refs, symrefs = {}, {}
    for r in resp.refs:
        if r.symref_target is not None:
            symrefs[r.name] = r.symref_target
        if r.oid is None:
            continue
        refs[r.name] = r.oid
        if r.peeled is not None:
            refs[r.name + PEELED] = r.peeled
    adv.refs = filter_unsafe_refs(refs)
    adv.symrefs = symrefs


def _progress_cb(progress):
    if progress is None:
        return None
    return lambda data: progress(sanitize_progress(data))


def iter_sideband_pack(proto, progress=None, skip_acks: bool = False) -> Iterator[bytes]:
    """Band-1 data up to the flush; band 2 to ``progress`` (sanitized), band 3 raises.

    ``skip_acks``: git's upload-pack without multi_ack keeps ACKing common
    haves after its first ACK; those lines (never valid band packets, whose
    first byte is 1, 2 or 3) are dropped until the pack starts.
    """
    demux = SidebandDemuxer(_progress_cb(progress))
    started = False
    while not demux.done:
        pkt = proto.read_pkt()
        if skip_acks and not started and isinstance(pkt, bytes) and \
                (pkt.startswith(b"ACK ") or pkt.rstrip(b"\n") == b"NAK"):
            continue
        started = True
        data = demux.feed_pkt(pkt)
        if data:
            yield data


def iter_raw_pack(read) -> Iterator[bytes]:
    while True:
        data = read(1 << 16)
        if not data:
            return
        yield data


def _ack_mode(adv: Advertisement) -> int:
    if adv.has(CAPABILITY_MULTI_ACK_DETAILED):
        return MULTI_ACK_DETAILED
    if adv.has(CAPABILITY_MULTI_ACK):
        return MULTI_ACK
    return SINGLE_ACK


def _v0_capabilities(adv: Advertisement, opts: FetchOptions, ack_mode: int) -> list:
    caps = []
    if ack_mode == MULTI_ACK_DETAILED:
        caps.append(CAPABILITY_MULTI_ACK_DETAILED)
    elif ack_mode == MULTI_ACK:
        caps.append(CAPABILITY_MULTI_ACK)
    if adv.has(CAPABILITY_SIDE_BAND_64K):
        caps.append(CAPABILITY_SIDE_BAND_64K)
    elif adv.has(CAPABILITY_SIDE_BAND):
        caps.append(CAPABILITY_SIDE_BAND)
    if opts.thin and adv.has(CAPABILITY_THIN_PACK):
        caps.append(CAPABILITY_THIN_PACK)
    if opts.progress is None and adv.has(CAPABILITY_NO_PROGRESS):
        caps.append(CAPABILITY_NO_PROGRESS)
    if opts.include_tags and adv.has(CAPABILITY_INCLUDE_TAG):
        caps.append(CAPABILITY_INCLUDE_TAG)
    if adv.has(CAPABILITY_OFS_DELTA):
        caps.append(CAPABILITY_OFS_DELTA)
    if opts.deepening or opts.shallow:
        if not adv.has(CAPABILITY_SHALLOW):
            raise CapabilityError("server does not support shallow clients")
        caps.append(CAPABILITY_SHALLOW)
    if opts.deepen_since and not adv.has(CAPABILITY_DEEPEN_SINCE):
        raise CapabilityError("server does not support --shallow-since")
    if opts.deepen_not and not adv.has(CAPABILITY_DEEPEN_NOT):
        raise CapabilityError("server does not support --shallow-exclude")
    if opts.filter_spec is not None:
        if adv.has(CAPABILITY_FILTER):
            caps.append(CAPABILITY_FILTER)
        else:
            warnings.warn("filtering not recognized by server, ignoring", stacklevel=3)
            opts.filter_spec = None
    if adv.agent is not None:
        caps.append(capability_agent())
    return caps


def _read_round(proto, neg: HaveNegotiator, graph_walker) -> None:
    """Read ACK lines up to the NAK that ends a round (or a final plain ACK)."""
    while True:
        msg = proto.read_message(AckLine.decoder())
        if isinstance(msg, Nak):
            neg.on_nak()
            return
        if neg.on_ack(msg.oid, msg.status):
            graph_walker.ack(msg.oid)
        if msg.status is None:
            return


def fetch_v0(proto, read, adv: Advertisement, wants: list, graph_walker,
             opts: FetchOptions) -> tuple:
    """Request, negotiate; return ``(shallow update, pack chunk iterator)``."""
    ack_mode = _ack_mode(adv)
    caps = _v0_capabilities(adv, opts, ack_mode)
    req = UploadRequest(wants=wants, capabilities=caps, shallows=sorted(opts.shallow),
                        deepen=opts.depth, deepen_since=opts.deepen_since,
                        deepen_not=list(opts.deepen_not), filter=opts.filter_spec)
    proto.write_message(req)
    update = ShallowUpdate()
    if opts.deepening or opts.shallow:
        update = proto.read_message(ShallowUpdate.decoder())
    neg = HaveNegotiator(ack_mode, stateless=False)
    while True:
        sha = graph_walker.next()
        if sha is None:
            break
        proto.write_pkt_line(b"have " + sha + b"\n")
        if neg.add_have(sha):
            proto.write_pkt_line(None)
            if neg.flush_sent():
                _read_round(proto, neg, graph_walker)
                if neg.should_stop:
                    break
    if neg.send_done():
        proto.write_pkt_line(b"done\n")
    while neg.expects_more:
        _read_round(proto, neg, graph_walker)
    if CAPABILITY_SIDE_BAND_64K in caps or CAPABILITY_SIDE_BAND in caps:
        chunks = iter_sideband_pack(proto, opts.progress, skip_acks=ack_mode == SINGLE_ACK)
    else:
        chunks = iter_raw_pack(read)
    return update, chunks


def fetch_v2(proto, adv: Advertisement, wants: list, graph_walker, opts: FetchOptions) -> tuple:
    """v2 ``fetch`` rounds (stateless batching); return ``(shallow update, chunks)``."""
    features = adv.v2.features(b"fetch") if adv.v2 is not None else set()
    if (opts.deepening or opts.shallow) and b"shallow" not in features:
        raise CapabilityError("server does not support shallow clients")
    if opts.filter_spec is not None and b"filter" not in features:
        warnings.warn("filtering not recognized by server, ignoring", stacklevel=3)
        opts.filter_spec = None
    caps = [capability_agent()]
    fmt = adv.v2.get(b"object-format") if adv.v2 is not None else None
    if fmt is not None:
        caps.append(b"object-format=" + fmt)
    neg = HaveNegotiator(MULTI_ACK_DETAILED, stateless=True)
    common: list = []
    exhausted = False
    while True:
        batch = []
        if not exhausted and not neg.should_stop:
            while True:
                sha = graph_walker.next()
                if sha is None:
                    exhausted = True
                    break
                batch.append(sha)
                if neg.add_have(sha):
                    break
        done = not batch or neg.gave_up
        req = FetchRequest(capabilities=caps, wants=wants, haves=common + batch, done=done,
                           thin_pack=opts.thin, no_progress=opts.progress is None,
                           include_tag=opts.include_tags, ofs_delta=True,
                           shallows=sorted(opts.shallow), deepen=opts.depth,
                           deepen_since=opts.deepen_since, deepen_not=list(opts.deepen_not),
                           filter=opts.filter_spec)
        proto.write_message(req)
        neg.flush_sent()
        resp = proto.read_message(FetchResponse.decoder(stream=True))
        acks = resp.acknowledgments
        if acks is not None:
            for oid in acks.acks:
                if neg.on_ack(oid, b"common"):
                    graph_walker.ack(oid)
                    common.append(oid)
            if acks.ready:
                neg.got_ready = True
        neg.on_nak()
        if resp.packfile is not None:
            info = resp.shallow_info
            update = ShallowUpdate(list(info.shallows), list(info.unshallows)) if info \
                else ShallowUpdate()
            return update, iter_sideband_pack(proto, opts.progress)
        if done:
            raise UnexpectedMessage("server sent no packfile after 'done'")
