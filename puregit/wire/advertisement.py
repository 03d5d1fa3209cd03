"""The v0/v1 ref advertisement (first message of upload-pack and receive-pack).

Grammar (``gitprotocol-pack``)::

    [PKT-LINE("# service=" service LF) flush-pkt]      ; smart HTTP only
    [PKT-LINE("version 1" LF)]
    first-ref  = PKT-LINE(oid SP name NUL capability-list LF)
    *PKT-LINE(oid SP name LF) / PKT-LINE(oid SP name "^{}" LF)   ; peeled tag
    *PKT-LINE("shallow" SP oid LF)
    flush-pkt

An empty repository sends ``zero-id SP "capabilities^{}" NUL caps`` (receive-
pack always, upload-pack since git 2.41) or just a flush (upload-pack 2.39).
receive-pack also sends ``<oid> .have`` lines for alternates; they are kept in
``refs`` in wire order (see :attr:`RefAdvertisement.haves`).

Decoding is incremental; see :mod:`puregit.wire.base`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..capabilities import (
    CAPABILITY_OBJECT_FORMAT, check_capability_item, find_capability, parse_capability_list,
    parse_symrefs,
)
from ..errors import UnexpectedMessage
from ..pktline import FLUSH, Special
from .base import Line, Parser, WireMessage, check_oid, check_refname, data_pkt, parse_oid

__all__ = ["AdvertisedRef", "RefAdvertisement", "CAPABILITIES_REF", "PEELED_TAG_SUFFIX",
           "HAVE_REF"]

CAPABILITIES_REF = b"capabilities^{}"
PEELED_TAG_SUFFIX = b"^{}"
HAVE_REF = b".have"


@dataclass
class AdvertisedRef:
    """One advertised ref; ``peeled`` is the ``^{}`` line that follows a tag."""

    oid: bytes
    name: bytes
    peeled: Optional[bytes] = None


@dataclass
class RefAdvertisement(WireMessage):
    """A v0/v1 ref advertisement."""

    refs: list = field(default_factory=list)           # list[AdvertisedRef], wire order
    capabilities: list = field(default_factory=list)   # list[bytes]
    shallows: list = field(default_factory=list)       # server is shallow
    version: Optional[int] = None                      # 1 for "version 1"
    service: Optional[bytes] = None                    # smart-HTTP service header

    # -- convenience views -------------------------------------------------
    def as_dict(self) -> dict:
        """``{name: oid}`` plus ``{name + b"^{}": peeled}`` (Dulwich's refs dict)."""
        out = {}
        for r in self.refs:
            if r.name == HAVE_REF:
                continue
            out[r.name] = r.oid
            if r.peeled is not None:
                out[r.name + PEELED_TAG_SUFFIX] = r.peeled
        return out

    @property
    def haves(self) -> list:
        """Object ids advertised as ``.have`` (alternates)."""
        return [r.oid for r in self.refs if r.name == HAVE_REF]

    @property
    def symrefs(self) -> dict:
        return parse_symrefs(self.capabilities)

    @property
    def object_format(self) -> bytes:
        return find_capability(self.capabilities, CAPABILITY_OBJECT_FORMAT) or b"sha1"

    def _zero_id(self) -> bytes:
        return b"0" * (64 if self.object_format == b"sha256" else 40)

    # -- encoding ---------------------------------------------------------
    def _lines(self) -> Iterable[Line]:
        if self.service is not None:
            yield (b"# service=" + check_refname(self.service), True)
            yield FLUSH
        if self.version is not None:
            yield (b"version %d" % self.version, True)
        caps = b" ".join(self.capabilities)
        for c in self.capabilities:
            check_capability_item(c)
        if not self.refs:
            if self.capabilities:
                yield (self._zero_id() + b" " + CAPABILITIES_REF + b"\0" + caps, True)
        for i, r in enumerate(self.refs):
            line = check_oid(r.oid) + b" " + check_refname(r.name)
            if i == 0:
                line += b"\0" + caps
            yield (line, True)
            if r.peeled is not None:
                yield (check_oid(r.peeled) + b" " + r.name + PEELED_TAG_SUFFIX, True)
        for s in self.shallows:
            yield (b"shallow " + check_oid(s), True)
        yield FLUSH

    # -- decoding ---------------------------------------------------------
    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        pkt = yield
        if not isinstance(pkt, Special) and pkt.startswith(b"# service="):
            msg.service = data_pkt(pkt, "service line")[len(b"# service="):]
            if not msg.service or b" " in msg.service:
                raise UnexpectedMessage(f"malformed service line {pkt[:80]!r}")
            pkt = yield
            if pkt is not FLUSH:  # cgit allows only the flush here
                raise UnexpectedMessage("expected flush-pkt after the service line")
            pkt = yield
        if not isinstance(pkt, Special) and pkt.startswith(b"version "):
            v = data_pkt(pkt, "version line")
            if v == b"version 1":
                msg.version = 1
            elif v == b"version 2":
                raise UnexpectedMessage("this is a protocol v2 capability advertisement")
            else:
                raise UnexpectedMessage(f"unsupported protocol {v[:40]!r}")
            pkt = yield
        first = True
        hash_len = None
        empty_marker = False
        while pkt is not FLUSH:
            text = data_pkt(pkt, "ref advertisement line")
            if first:
                text, nul, caps = text.partition(b"\0")
                if nul:
                    msg.capabilities = parse_capability_list(caps)
            elif b"\0" in text:
                raise UnexpectedMessage("NUL in a ref line after the first")
            oid_text, sep, name = text.partition(b" ")
            if not sep:
                raise UnexpectedMessage(f"malformed ref line {text[:80]!r}")
            if oid_text == b"shallow":
                if first:
                    raise UnexpectedMessage("shallow line before any ref")
                msg.shallows.append(parse_oid(name))
                pkt = yield
                continue
            if msg.shallows:
                raise UnexpectedMessage("ref line after shallow lines")
            oid = parse_oid(oid_text)
            if hash_len is None:
                hash_len = len(oid)
            elif len(oid) != hash_len:
                raise UnexpectedMessage("mixed object id lengths in the advertisement")
            if not name or b" " in name or b"\n" in name:
                raise UnexpectedMessage(f"malformed ref name {name[:80]!r}")
            if empty_marker:
                raise UnexpectedMessage("ref line after capabilities^{}")
            if name == CAPABILITIES_REF:
                if not first or oid.strip(b"0"):
                    raise UnexpectedMessage("misplaced capabilities^{} line")
                empty_marker = True
            elif name.endswith(PEELED_TAG_SUFFIX):
                base = name[:-len(PEELED_TAG_SUFFIX)]
                if not msg.refs or msg.refs[-1].name != base or msg.refs[-1].peeled is not None:
                    raise UnexpectedMessage(f"peeled line {name[:80]!r} does not follow its ref")
                msg.refs[-1].peeled = oid
            else:
                msg.refs.append(AdvertisedRef(oid, name))
            first = False
            pkt = yield
        if empty_marker and not msg.capabilities:
            # Keep the round trip exact: the marker line is what carries caps.
            raise UnexpectedMessage("capabilities^{} line without capabilities")
        fmt = find_capability(msg.capabilities, CAPABILITY_OBJECT_FORMAT)
        if hash_len is not None and fmt in (b"sha1", b"sha256") and \
                hash_len != (64 if fmt == b"sha256" else 40):
            raise UnexpectedMessage("object ids do not match the advertised object-format")
        return msg
