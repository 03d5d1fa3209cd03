"""The push conversation (send-pack side of receive-pack, protocol v0/v1).

Push over protocol v2 does not exist anywhere (cgit included), so this is
always the v0 exchange: ref advertisement, commands (+ push options), the
pack unless only deleting, then report-status.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from ..capabilities import (
    CAPABILITY_ATOMIC, CAPABILITY_DELETE_REFS, CAPABILITY_NO_THIN, CAPABILITY_OFS_DELTA,
    CAPABILITY_PUSH_OPTIONS, CAPABILITY_QUIET, CAPABILITY_REPORT_STATUS,
    CAPABILITY_SIDE_BAND_64K, capability_agent,
)
from ..errors import CapabilityError, UnexpectedEOF
from ..sideband import SidebandDemuxer
from ..wire import PushCommand, PushOptions, PushRequest, ReportStatus
from .fetching import Advertisement, _progress_cb, read_advertisement
from .results import SendPackResult

__all__ = ["push_v0", "write_pack_data"]


def _zero(length: int = 40) -> bytes:
    return b"0" * length


def write_pack_data(write: Callable[[bytes], object], pack) -> None:
    """Send what ``generate_pack_data`` returned: ``(count, chunks or objects)``."""
    count, data = pack if isinstance(pack, tuple) else (None, pack)
    it = iter(data)
    first = next(it, None)
    if first is None:
        from ..pack_writer import write_pack_objects
        write_pack_objects(write, [])
        return
    if isinstance(first, (bytes, bytearray, memoryview)):
        write(first)
        for chunk in it:
            write(chunk)
        return
    # Dulwich-style objects: let the pack writer encode them.
    from itertools import chain

    from ..pack_writer import write_pack_objects
    write_pack_objects(write, chain([first], it))


def _call_generate(generate_pack_data, have, want, ofs_delta, progress, thin):
    try:
        return generate_pack_data(have, want, ofs_delta=ofs_delta, progress=progress, thin=thin)
    except TypeError as exc:
        if "thin" not in str(exc):
            raise
        return generate_pack_data(have, want, ofs_delta=ofs_delta, progress=progress)


def push_v0(proto, write_raw: Callable[[bytes], object], update_refs, generate_pack_data,
            progress=None, push_options: Optional[Iterable[bytes]] = None,
            atomic: bool = False) -> SendPackResult:
    adv: Advertisement = read_advertisement(proto)
    old_refs = {k: v for k, v in adv.refs.items() if not k.endswith(b"^{}")}
    zero = _zero(len(next(iter(old_refs.values()), b"0" * 40)))
    wanted = update_refs(dict(old_refs))
    status: dict = {}
    commands = []
    for ref, new in (wanted or {}).items():
        if isinstance(ref, str):
            ref = ref.encode()
        if isinstance(new, str):
            new = new.encode()
        old = old_refs.get(ref, zero)
        new = new or zero
        if old == new:
            continue
        if new == zero and not adv.has(CAPABILITY_DELETE_REFS):
            status[ref] = "remote does not support deleting refs"
            continue
        if new == zero and old == zero:
            continue
        commands.append(PushCommand(old, new, ref))
    if not commands:
        proto.write_pkt_line(None)
        return SendPackResult(old_refs, adv.agent, status)
    caps = [CAPABILITY_REPORT_STATUS]
    sideband = adv.has(CAPABILITY_SIDE_BAND_64K)
    if sideband:
        caps.append(CAPABILITY_SIDE_BAND_64K)
    if progress is None and adv.has(CAPABILITY_QUIET):
        caps.append(CAPABILITY_QUIET)
    if atomic:
        if not adv.has(CAPABILITY_ATOMIC):
            raise CapabilityError("the receiving end does not support --atomic push")
        caps.append(CAPABILITY_ATOMIC)
    options = [o.encode() if isinstance(o, str) else o for o in (push_options or ())]
    if options:
        if not adv.has(CAPABILITY_PUSH_OPTIONS):
            raise CapabilityError("the receiving end does not support push options")
        caps.append(CAPABILITY_PUSH_OPTIONS)
    ofs = adv.has(CAPABILITY_OFS_DELTA)
    if ofs:
        caps.append(CAPABILITY_OFS_DELTA)
    if adv.agent is not None:
        caps.append(capability_agent())
    proto.write_message(PushRequest(commands=commands, capabilities=caps))
    if options:
        proto.write_message(PushOptions(options))
    if any(not c.is_delete for c in commands):
        have = sorted({v for v in old_refs.values() if v != zero})
        want = sorted({c.new for c in commands if not c.is_delete})
        pack = _call_generate(generate_pack_data, have, want, ofs, progress,
                              not adv.has(CAPABILITY_NO_THIN))
        write_pack_data(write_raw, pack)
    report = _read_report(proto, sideband, progress)
    new_refs = dict(old_refs)
    for rs in report.refs:
        ref = rs.ref
        if rs.ok:
            status[ref] = None
        else:
            status[ref] = rs.reason.decode("utf-8", "replace") if rs.reason else "rejected"
    if not report.unpack_ok:
        why = report.unpack.decode("utf-8", "replace")
        for c in commands:
            if status.get(c.ref) is None:
                status[c.ref] = f"unpacker error: {why}"
    for c in commands:
        status.setdefault(c.ref, "no status reported by the server")
        if status[c.ref] is None:
            if c.is_delete:
                new_refs.pop(c.ref, None)
            else:
                new_refs[c.ref] = c.new
    return SendPackResult(new_refs, adv.agent, status)


def _read_report(proto, sideband: bool, progress) -> ReportStatus:
    if not sideband:
        return proto.read_message(ReportStatus.decoder())
    demux = SidebandDemuxer(_progress_cb(progress))
    decoder = ReportStatus.decoder()
    while not demux.done:
        try:
            pkt = proto.read_pkt()
        except UnexpectedEOF:
            if decoder.done:
                break
            raise
        data = demux.feed_pkt(pkt)
        if data and not decoder.done:
            decoder.feed(data)
    return decoder.finish()
