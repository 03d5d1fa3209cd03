"""upload-pack protocol v2: capability advertisement, ls-refs, fetch, object-info.

v2 is stateless per command (``gitprotocol-v2``): every ``fetch`` request
repeats the wants and the common haves, so each command builds a fresh
:class:`puregit.upload_pack.UploadPack` and the same code serves git://,
pipes and (one command per call) smart HTTP.  The response pieces are built
as bytes by pure functions; :func:`serve_v2` is the blocking loop.
"""

from __future__ import annotations

from typing import Optional

from .capabilities import (
    CAPABILITY_INCLUDE_TAG, CAPABILITY_NO_PROGRESS, CAPABILITY_OFS_DELTA, CAPABILITY_THIN_PACK,
    capability_agent, find_capability,
)
from .errors import HangupException, ProtocolError, PuregitError
from .pktline import DELIM, FLUSH, Special, pkt_line
from .sideband import SIDE_BAND_64K_MAX_DATA
from .upload_pack import UploadPack, UploadPackError, UploadPolicy
from .wire.v2 import CapabilityAdvertisement, FetchRequest, LsRefsRequest

__all__ = ["serve_v2", "capability_advertisement", "ls_refs_response", "MAX_REQUEST_BYTES"]

#: A v2 request is read whole before answering; refuse absurd ones.
MAX_REQUEST_BYTES = 64 << 20
_FLUSH = pkt_line(None)
_DELIM = DELIM.encode()


def capability_advertisement(repo, agent: Optional[bytes] = None) -> bytes:
    try:
        policy = UploadPolicy(repo.get_config())
    except PuregitError:
        policy = UploadPolicy(None)
    fetch = b"fetch=shallow wait-for-done"
    if policy.allow_filter:
        fetch += b" filter"
    if policy.allow_ref_in_want:
        fetch += b" ref-in-want"
    name = getattr(repo.hash_algo, "name", "sha1")
    fmt = name.encode() if isinstance(name, str) else name
    caps = [capability_agent(agent), b"ls-refs=unborn", fetch, b"server-option",
            b"object-format=" + fmt, b"object-info"]
    return CapabilityAdvertisement(capabilities=caps).encode()


def ls_refs_response(up: UploadPack, req: LsRefsRequest) -> bytes:
    snap = up.snapshot
    prefixes = req.ref_prefixes if len(req.ref_prefixes) <= 65536 else []

    def wanted(name: bytes) -> bool:
        return not prefixes or any(name.startswith(p) for p in prefixes)

    out = []
    head_target = snap.head_target()
    if wanted(b"HEAD"):
        if snap.head is not None:
            line = snap.head + b" HEAD"
            if req.symrefs and head_target:
                line += b" symref-target:" + head_target
            if req.peel:
                p = up._peel_commit(snap.head)
                if p is not None and p != snap.head:
                    line += b" peeled:" + p
            out.append(line + b"\n")
        elif req.unborn and head_target:
            line = b"unborn HEAD"
            if req.symrefs:
                line += b" symref-target:" + head_target
            out.append(line + b"\n")
    for name, oid in snap.refs:
        if not wanted(name):
            continue
        line = oid + b" " + name
        if req.symrefs and name in snap.symrefs:
            line += b" symref-target:" + snap.symrefs[name]
        if req.peel:
            p = snap.peeled(name)
            if p is not None and p != oid:
                line += b" peeled:" + p
        out.append(line + b"\n")
    return b"".join(pkt_line(x) for x in out) + _FLUSH


def _object_info(repo, args: list) -> bytes:
    want_size = False
    oids = []
    for a in args:
        if a == b"size":
            want_size = True
        elif a.startswith(b"oid "):
            oids.append(a[4:].strip().lower())
        else:
            raise UploadPackError(f"object-info: unexpected line: '{a[:80].decode(errors='replace')}'")
    out = []
    if want_size:
        out.append(b"size")
    for oid in oids:
        try:
            _, body = repo.object_store.get_raw(oid)
            size = b"%d" % len(body) if want_size else b""
        except (KeyError, PuregitError, ValueError):
            size = b""
        out.append(oid + b" " + size)
    return b"".join(pkt_line(x) for x in out) + _FLUSH


def fetch(repo, req: FetchRequest, write, agent=None) -> None:
    """Answer one v2 fetch request through ``write``."""
    up = UploadPack(repo, stateless_rpc=True, protocol_version=2, agent=agent)
    caps = set()
    if req.thin_pack:
        caps.add(CAPABILITY_THIN_PACK)
    if req.ofs_delta:
        caps.add(CAPABILITY_OFS_DELTA)
    if req.include_tag:
        caps.add(CAPABILITY_INCLUDE_TAG)
    if req.no_progress:
        caps.add(CAPABILITY_NO_PROGRESS)
    up.capabilities = caps
    wanted_refs = []
    if req.want_refs:
        if not up.policy.allow_ref_in_want:
            raise UploadPackError(f"unexpected line: 'want-ref {req.want_refs[0].decode(errors='replace')}'")
        for name in req.want_refs:
            oid = None
            if name.startswith(b"refs/") and not up.policy.is_hidden(name):
                try:
                    oid = repo.refs.follow(name)[1]
                except PuregitError:
                    oid = None
            if oid is None:
                raise UploadPackError(f"unknown ref {name.decode(errors='replace')}")
            wanted_refs.append((oid, name))
    if req.sideband_all or req.packfile_uris is not None:
        raise UploadPackError("unexpected line: feature not advertised")
    up.wants = up.check_wants(req.wants) + [o for o, _ in wanted_refs if o not in req.wants]
    up.wants = list(dict.fromkeys(up.wants))
    if req.filter is not None:
        if not up.policy.allow_filter:
            raise UploadPackError(f"unexpected line: 'filter {req.filter.decode(errors='replace')}'")
        up.set_filter(req.filter)
    if req.deepen is not None and req.deepen > 0x7FFFFFFF:
        raise UploadPackError(f"Invalid deepen: {req.deepen}")
    up.process_shallow(req.shallows, req.deepen, req.deepen_since, req.deepen_not,
                       req.deepen_relative, v2=True)
    if not up.wants and not req.wait_for_done:
        write(_FLUSH)
        return
    if not req.done:
        common = []
        for h in req.haves:
            if up.got_oid(h.lower()) != -1:
                common.append(h.lower())
        lines = [b"acknowledgments\n"]
        if not common:
            lines.append(b"NAK\n")
        lines += [b"ACK " + c + b"\n" for c in common]
        ready = not req.wait_for_done and up.ok_to_give_up()
        if ready:
            lines.append(b"ready\n")
        write(b"".join(pkt_line(x) for x in lines))
        if not ready:
            write(_FLUSH)
            return
        write(_DELIM)
    else:
        for h in req.haves:
            up.got_oid(h.lower())
    head = []
    if wanted_refs:
        head.append(pkt_line(b"wanted-refs\n") + b"".join(
            pkt_line(o + b" " + n + b"\n") for o, n in wanted_refs) + _DELIM)
    if up.depth_requested or up.client_shallows or up.server_shallow:
        head.append(pkt_line(b"shallow-info\n") + b"".join(
            [pkt_line(b"shallow " + s) for s in up.new_shallows]
            + [pkt_line(b"unshallow " + s) for s in up.unshallowed]) + _DELIM)
    head.append(pkt_line(b"packfile\n"))
    write(b"".join(head))
    sender = up.pack_sender(SIDE_BAND_64K_MAX_DATA, progress=not req.no_progress)
    try:
        sender.send(write)
    except (PuregitError, ValueError, KeyError) as e:
        write(pkt_line(b"\x03git upload-pack: " + str(e)[:400].encode("utf-8", "replace")))
        raise


def _read_request(proto) -> Optional[list]:
    """All packets of one request up to its flush; None when the client is done."""
    try:
        first = proto.read_pkt()
    except HangupException:
        return None
    if first is FLUSH:
        return None
    pkts = [first]
    total = 0
    while True:
        pkt = proto.read_pkt()
        pkts.append(pkt)
        if pkt is FLUSH:
            return pkts
        if not isinstance(pkt, Special):
            total += len(pkt) + 4
            if total > MAX_REQUEST_BYTES:
                raise UploadPackError("request too large")


def serve_v2(repo, proto, stateless_rpc: bool = False, advertise_refs: bool = False,
             agent: Optional[bytes] = None) -> None:
    """The v2 command loop (one command when ``stateless_rpc``)."""
    write = proto.write
    if not stateless_rpc or advertise_refs:
        write(capability_advertisement(repo, agent))
    if advertise_refs:
        return
    name = getattr(repo.hash_algo, "name", "sha1")
    fmt = name.encode() if isinstance(name, str) else name
    while True:
        try:
            pkts = _read_request(proto)
            if pkts is None:
                return
            first = pkts[0]
            if isinstance(first, Special) or not first.startswith(b"command="):
                raise UploadPackError("invalid command")
            command = first[8:].rstrip(b"\n")
            caps = []
            for p in pkts[1:]:
                if isinstance(p, Special):
                    break
                caps.append(p.rstrip(b"\n"))
            client_fmt = find_capability(caps, b"object-format")
            if client_fmt is not None and client_fmt != fmt:
                raise UploadPackError(f"mismatched object format: server {fmt.decode()}; "
                                      f"client {client_fmt.decode(errors='replace')}")
            if command == b"ls-refs":
                req = LsRefsRequest.from_pkts(pkts)
                up = UploadPack(repo, stateless_rpc=True, protocol_version=2, agent=agent)
                write(ls_refs_response(up, req))
            elif command == b"fetch":
                req = FetchRequest.from_pkts(pkts)
                fetch(repo, req, write, agent)
            elif command == b"object-info":
                args = []
                seen_delim = False
                for p in pkts[1:]:
                    if p is DELIM:
                        seen_delim = True
                    elif seen_delim and not isinstance(p, Special):
                        args.append(p.rstrip(b"\n"))
                write(_object_info(repo, args))
            else:
                raise UploadPackError(f"invalid command '{command[:40].decode(errors='replace')}'")
        except UploadPackError as e:
            write(pkt_line(b"ERR " + str(e).encode("utf-8", "replace")))
            raise
        except HangupException:
            raise
        except ProtocolError as e:
            write(pkt_line(b"ERR upload-pack: " + str(e)[:400].encode("utf-8", "replace")))
            raise
        if stateless_rpc:
            return
