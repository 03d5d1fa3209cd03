"""Protocol v2 messages: capability advertisement, command requests, ls-refs, fetch.

Grammar (``gitprotocol-v2``)::

    capability-advertisement = PKT-LINE("version 2" LF) *PKT-LINE(key[=value] LF) flush-pkt
    request        = flush-pkt                                  ; no more commands
                   / PKT-LINE("command=" key) *capability-line delim-pkt *arg flush-pkt
    ls-refs output = *PKT-LINE((oid / "unborn") SP refname
                               *(SP ("symref-target:" ref / "peeled:" oid)) LF) flush-pkt
    fetch output   = acknowledgments flush-pkt
                   / [acknowledgments delim-pkt] [shallow-info delim-pkt]
                     [wanted-refs delim-pkt] [packfile-uris delim-pkt] packfile flush-pkt

Requests decode leniently (the delim may be missing, arguments may come in
any order); encoders write cgit's order and line endings.  The ``packfile``
section holds raw side-band payloads; pass ``stream=True`` to
:meth:`FetchResponse.decoder` to stop right after the ``packfile`` line and
read the pack yourself with :class:`puregit.sideband.SidebandDemuxer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..capabilities import parse_capability
from ..errors import SidebandError, SidebandFatalError, UnexpectedMessage
from ..pktline import DELIM, FLUSH, Special, pkt_line
from .acks import ACK_READY
from .base import (
    Line, Parser, Raw, WireMessage, check_oid, check_refname, check_text, data_pkt,
    parse_oid, parse_uint,
)
from .shallow import parse_shallow_line, shallow_lines

__all__ = [
    "CapabilityAdvertisement", "CommandRequest", "LsRefsRequest", "LsRef", "LsRefsResponse",
    "FetchRequest", "Acknowledgments", "ShallowInfo", "FetchResponse", "VERSION_2_LINE",
]

VERSION_2_LINE = b"version 2"
_KEY_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _check_key(key: bytes) -> bytes:
    if not key or not _KEY_CHARS.issuperset(key):
        raise UnexpectedMessage(f"invalid v2 capability key {key[:40]!r}")
    return key


@dataclass
class CapabilityAdvertisement(WireMessage):
    """The server's first message in v2: ``version 2`` and ``key[=value]`` lines."""

    capabilities: list = field(default_factory=list)

    def get(self, key: bytes) -> Optional[bytes]:
        """Value of ``key`` (``b""`` if present without a value), None if absent."""
        for c in self.capabilities:
            k, v = parse_capability(c)
            if k == key:
                return b"" if v is None else v
        return None

    def features(self, command: bytes) -> set:
        """Space-separated features of a command, e.g. ``fetch=shallow filter``."""
        v = self.get(command)
        return set(v.split()) if v else set()

    def _lines(self) -> Iterable[Line]:
        yield (VERSION_2_LINE, True)
        for c in self.capabilities:
            _check_key(parse_capability(c)[0])
            yield (check_text(c, "capability"), True)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        pkt = yield
        if data_pkt(pkt, "version line") != VERSION_2_LINE:
            raise UnexpectedMessage("expected 'version 2'")
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            text = data_pkt(pkt, "capability line")
            key, _, _ = text.partition(b"=")
            _check_key(key)
            if b"\0" in text:
                raise UnexpectedMessage("NUL in a capability line")
            msg.capabilities.append(text)


def _read_request(expected: Optional[bytes]) -> Parser:
    """Sub-parser: returns (command or None, capabilities, args)."""
    pkt = yield
    if pkt is FLUSH and expected is None:
        return None, [], []
    text = data_pkt(pkt, "command line")
    if not text.startswith(b"command="):
        raise UnexpectedMessage(f"expected command=, got {text[:80]!r}")
    command = _check_key(text[8:])
    if expected is not None and command != expected:
        raise UnexpectedMessage(f"expected command={expected.decode()}, got {command[:40]!r}")
    caps, args = [], []
    pkt = yield
    while pkt is not DELIM and pkt is not FLUSH:
        cap = data_pkt(pkt, "capability line")
        _check_key(cap.partition(b"=")[0])
        caps.append(cap)
        pkt = yield
    if pkt is DELIM:
        while True:
            pkt = yield
            if pkt is FLUSH:
                break
            args.append(data_pkt(pkt, "command argument"))
    return command, caps, args


def _request_head(command: bytes, caps, command_lf: bool) -> Iterable[Line]:
    yield (b"command=" + _check_key(command), command_lf)
    for c in caps:
        _check_key(parse_capability(c)[0])
        yield (check_text(c, "capability"), False)


@dataclass
class CommandRequest(WireMessage):
    """Any v2 command request; ``command`` None is the bare flush (client done)."""

    command: Optional[bytes] = None
    capabilities: list = field(default_factory=list)
    args: list = field(default_factory=list)

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        if self.command is None:
            yield FLUSH
            return
        yield from _request_head(self.command, self.capabilities, True)
        yield DELIM
        for a in self.args:
            yield (check_text(a, "argument"), True)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        command, caps, args = yield from _read_request(None)
        return cls(command, caps, args)


@dataclass
class LsRefsRequest(WireMessage):
    """``command=ls-refs`` with its arguments."""

    capabilities: list = field(default_factory=list)
    peel: bool = False
    symrefs: bool = False
    unborn: bool = False
    ref_prefixes: list = field(default_factory=list)

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        yield from _request_head(b"ls-refs", self.capabilities, True)
        yield DELIM
        if self.peel:
            yield (b"peel", True)
        if self.symrefs:
            yield (b"symrefs", True)
        if self.unborn:
            yield (b"unborn", True)
        for p in self.ref_prefixes:
            yield (b"ref-prefix " + check_text(p, "ref prefix", space=False), True)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        _, caps, args = yield from _read_request(b"ls-refs")
        msg = cls(caps)
        for a in args:
            if a in (b"peel", b"symrefs", b"unborn"):
                setattr(msg, a.decode(), True)
            elif a.startswith(b"ref-prefix ") and len(a) > 11:
                msg.ref_prefixes.append(a[11:])
            else:
                raise UnexpectedMessage(f"unexpected ls-refs argument {a[:80]!r}")
        return msg


@dataclass
class LsRef:
    """One ls-refs line; ``oid`` None means ``unborn``."""

    oid: Optional[bytes]
    name: bytes
    symref_target: Optional[bytes] = None
    peeled: Optional[bytes] = None
    extra: list = field(default_factory=list)   # unknown attributes, kept verbatim


@dataclass
class LsRefsResponse(WireMessage):
    refs: list = field(default_factory=list)

    def _lines(self) -> Iterable[Line]:
        for r in self.refs:
            line = (b"unborn" if r.oid is None else check_oid(r.oid)) + b" " + check_refname(r.name)
            if r.symref_target is not None:
                line += b" symref-target:" + check_refname(r.symref_target)
            if r.peeled is not None:
                line += b" peeled:" + check_oid(r.peeled)
            for e in r.extra:
                line += b" " + check_refname(e)
            yield (line, True)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            parts = data_pkt(pkt, "ls-refs line").split(b" ")
            if len(parts) < 2 or not parts[1]:
                raise UnexpectedMessage(f"malformed ls-refs line {parts[0][:80]!r}")
            oid = None if parts[0] == b"unborn" else parse_oid(parts[0])
            ref = LsRef(oid, parts[1])
            for attr in parts[2:]:
                if attr.startswith(b"symref-target:") and len(attr) > 14 \
                        and ref.symref_target is None:
                    ref.symref_target = attr[14:]
                elif attr.startswith(b"peeled:") and ref.peeled is None:
                    ref.peeled = parse_oid(attr[7:])
                elif attr:
                    ref.extra.append(attr)
                else:
                    raise UnexpectedMessage("empty ls-refs attribute")
            msg.refs.append(ref)


_FLAG_ARGS = (b"thin-pack", b"no-progress", b"include-tag", b"ofs-delta", b"sideband-all",
              b"wait-for-done", b"deepen-relative")


@dataclass
class FetchRequest(WireMessage):
    """``command=fetch`` with its arguments (cgit order when encoding)."""

    capabilities: list = field(default_factory=list)
    wants: list = field(default_factory=list)
    want_refs: list = field(default_factory=list)
    haves: list = field(default_factory=list)
    done: bool = False
    thin_pack: bool = False
    no_progress: bool = False
    include_tag: bool = False
    ofs_delta: bool = False
    sideband_all: bool = False
    wait_for_done: bool = False
    shallows: list = field(default_factory=list)
    deepen: Optional[int] = None
    deepen_relative: bool = False
    deepen_since: Optional[int] = None
    deepen_not: list = field(default_factory=list)
    filter: Optional[bytes] = None
    packfile_uris: Optional[bytes] = None

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        yield from _request_head(b"fetch", self.capabilities, False)
        yield DELIM
        for flag in (b"thin-pack", b"no-progress", b"include-tag", b"ofs-delta",
                     b"sideband-all", b"wait-for-done"):
            if getattr(self, flag.decode().replace("-", "_")):
                yield (flag, False)
        for s in self.shallows:
            yield (b"shallow " + check_oid(s), False)
        if self.deepen is not None:
            if self.deepen <= 0:
                raise ValueError("deepen needs a positive depth")
            yield (b"deepen %d" % self.deepen, False)
        if self.deepen_since is not None:
            yield (b"deepen-since %d" % self.deepen_since, False)
        for r in self.deepen_not:
            yield (b"deepen-not " + check_text(r, "deepen-not ref", space=False), False)
        if self.deepen_relative:
            yield (b"deepen-relative", True)
        if self.filter is not None:
            yield (b"filter " + check_text(self.filter, "filter spec"), False)
        if self.packfile_uris is not None:
            yield (b"packfile-uris " + check_text(self.packfile_uris, "protocols", False), False)
        for w in self.wants:
            yield (b"want " + check_oid(w), True)
        for r in self.want_refs:
            yield (b"want-ref " + check_refname(r), True)
        for h in self.haves:
            yield (b"have " + check_oid(h), True)
        if self.done:
            yield (b"done", True)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        _, caps, args = yield from _read_request(b"fetch")
        msg = cls(caps)
        for a in args:
            if a in _FLAG_ARGS:
                setattr(msg, a.decode().replace("-", "_"), True)
                continue
            if a == b"done":
                msg.done = True
                continue
            key, sep, rest = a.partition(b" ")
            if not sep or not rest:
                raise UnexpectedMessage(f"unexpected fetch argument {a[:80]!r}")
            if key == b"want":
                msg.wants.append(parse_oid(rest))
            elif key == b"have":
                msg.haves.append(parse_oid(rest))
            elif key == b"shallow":
                msg.shallows.append(parse_oid(rest))
            elif key == b"want-ref" and b" " not in rest:
                msg.want_refs.append(rest)
            elif key == b"deepen" and msg.deepen is None:
                msg.deepen = parse_uint(rest, "depth")
                if msg.deepen <= 0:
                    raise UnexpectedMessage("deepen needs a positive depth")
            elif key == b"deepen-since" and msg.deepen_since is None:
                msg.deepen_since = parse_uint(rest, "timestamp")
            elif key == b"deepen-not" and b" " not in rest:
                msg.deepen_not.append(rest)
            elif key == b"filter" and msg.filter is None:
                msg.filter = rest
            elif key == b"packfile-uris" and msg.packfile_uris is None and b" " not in rest:
                msg.packfile_uris = rest
            else:
                raise UnexpectedMessage(f"unexpected fetch argument {a[:80]!r}")
        return msg


@dataclass
class Acknowledgments:
    """The ``acknowledgments`` section: NAK or ACKs, then maybe ``ready``."""

    acks: list = field(default_factory=list)
    nak: bool = False
    ready: bool = False


@dataclass
class ShallowInfo:
    shallows: list = field(default_factory=list)
    unshallows: list = field(default_factory=list)


_SECTIONS = (b"acknowledgments", b"shallow-info", b"wanted-refs", b"packfile-uris", b"packfile")


@dataclass
class FetchResponse(WireMessage):
    """Sections of a v2 fetch response; absent sections are None."""

    acknowledgments: Optional[Acknowledgments] = None
    shallow_info: Optional[ShallowInfo] = None
    wanted_refs: Optional[list] = None        # [(oid, refname)]
    packfile_uris: Optional[list] = None      # [(pack-hash, uri)]
    packfile: Optional[list] = None           # raw side-band payloads (band byte first)

    def encode_header(self) -> bytes:
        """Everything up to and including the ``packfile`` line (for streaming).

        Follow it with :func:`puregit.sideband.mux` output and a flush-pkt.
        """
        if self.packfile is None:
            raise ValueError("no packfile section")
        pkts = self.pkts()[:-(len(self.packfile) + 1)]
        return b"".join(pkt_line(p) for p in pkts)

    def _lines(self) -> Iterable[Line]:
        sections = []
        a = self.acknowledgments
        if a is not None:
            lines = [(b"acknowledgments", True)]
            if a.nak:
                if a.acks:
                    raise ValueError("acknowledgments cannot hold both NAK and ACKs")
                lines.append((b"NAK", True))
            lines += [(b"ACK " + check_oid(o), True) for o in a.acks]
            if a.ready:
                lines.append((ACK_READY, True))
            sections.append(lines)
        if self.shallow_info is not None:
            sections.append([(b"shallow-info", True)] + list(
                shallow_lines(self.shallow_info.shallows, self.shallow_info.unshallows)))
        if self.wanted_refs is not None:
            sections.append([(b"wanted-refs", True)] + [
                (check_oid(o) + b" " + check_refname(r), True) for o, r in self.wanted_refs])
        if self.packfile_uris is not None:
            sections.append([(b"packfile-uris", True)] + [
                (check_refname(h) + b" " + check_refname(u), True) for h, u in self.packfile_uris])
        if self.packfile is not None:
            sections.append([(b"packfile", True)] + [Raw(p) for p in self.packfile])
        for i, s in enumerate(sections):
            if i:
                yield DELIM
            yield from s
        yield FLUSH

    @classmethod
    def _parser(cls, stream: bool = False, sideband_all: bool = False, progress=None) -> Parser:
        msg = cls()
        last = -1

        def unwrap(pkt):
            # With sideband-all every data packet is itself side-band framed.
            if sideband_all and not isinstance(pkt, Special):
                if not pkt:
                    raise SidebandError("empty side-band packet")
                if pkt[0] == 1:
                    return pkt[1:]
                if pkt[0] == 2:
                    if progress is not None:
                        progress(pkt[1:])
                    return None
                if pkt[0] == 3:
                    raise SidebandFatalError(pkt[1:])
                raise SidebandError(f"invalid side-band channel {pkt[0]}")
            return pkt

        def next_pkt():
            while True:
                p = yield
                p = unwrap(p)
                if p is not None:
                    return p

        pkt = yield from next_pkt()
        while True:
            header = data_pkt(pkt, "section header")
            if header not in _SECTIONS or _SECTIONS.index(header) <= last:
                raise UnexpectedMessage(f"unexpected section header {header[:80]!r}")
            last = _SECTIONS.index(header)
            if header == b"packfile":
                msg.packfile = []
                if stream:
                    return msg
                while True:
                    pkt = yield  # raw side-band payloads; checked by the demuxer
                    if pkt is FLUSH:
                        return msg
                    if isinstance(pkt, Special):
                        raise UnexpectedMessage(f"unexpected {pkt!r} in packfile section")
                    msg.packfile.append(pkt)
            lines = []
            while True:
                pkt = yield from next_pkt()
                if isinstance(pkt, Special):
                    break
                lines.append(data_pkt(pkt, header.decode()))
            _fill_section(msg, header, lines)
            if pkt is FLUSH:
                if header != b"acknowledgments" or last != 0:
                    raise UnexpectedMessage("fetch response ended without a packfile section")
                return msg
            if pkt is not DELIM:
                raise UnexpectedMessage(f"unexpected {pkt!r} in fetch response")
            pkt = yield from next_pkt()


def _fill_section(msg: FetchResponse, header: bytes, lines: list) -> None:
    if header == b"acknowledgments":
        a = Acknowledgments()
        for i, text in enumerate(lines):
            if text == b"NAK" and not a.nak and not a.acks and not a.ready:
                a.nak = True
            elif text.startswith(b"ACK ") and not a.nak and not a.ready:
                a.acks.append(parse_oid(text[4:]))
            elif text == ACK_READY and not a.ready:
                a.ready = True
            else:
                raise UnexpectedMessage(f"unexpected acknowledgments line {text[:80]!r}")
        msg.acknowledgments = a
    elif header == b"shallow-info":
        s = ShallowInfo()
        for text in lines:
            key, oid = parse_shallow_line(text)
            if key == b"shallow":
                if s.unshallows:
                    raise UnexpectedMessage("shallow line after unshallow lines")
                s.shallows.append(oid)
            else:
                s.unshallows.append(oid)
        msg.shallow_info = s
    else:
        pairs = []
        for text in lines:
            a, sep, b = text.partition(b" ")
            if not sep or not b or b" " in b:
                raise UnexpectedMessage(f"malformed {header.decode()} line {text[:80]!r}")
            pairs.append((parse_oid(a) if header == b"wanted-refs" else a, b))
        if header == b"wanted-refs":
            msg.wanted_refs = pairs
        else:
            msg.packfile_uris = pairs
