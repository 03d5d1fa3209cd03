"""The v0/v1 fetch request: want list, shallow/deepen/filter, then haves.

Grammar (``gitprotocol-pack``)::

    upload-request = want-list *shallow-line *1depth-request [filter-request] flush-pkt
    first-want     = PKT-LINE("want" SP obj-id SP capability-list)
    depth-request  = "deepen" SP depth / "deepen-since" SP timestamp / "deepen-not" SP ref
    upload-haves   = *PKT-LINE("have" SP obj-id) (flush-pkt / PKT-LINE("done"))

Two messages: :class:`UploadRequest` (everything up to the first flush) and
:class:`UploadHaves` (one block of haves ending in flush or ``done``).  A
clone sends ``UploadRequest`` then ``UploadHaves(haves=[], done=True)``.
Line endings follow cgit by default (``want``/``have``/``done`` end in LF,
``shallow``/``deepen*``/``filter`` do not); see :mod:`puregit.wire.base`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..capabilities import check_capability_item, parse_capability_list
from ..errors import UnexpectedMessage
from ..pktline import FLUSH
from .base import (
    Line, Parser, WireMessage, check_oid, check_text, data_pkt, parse_oid, parse_uint,
)

__all__ = ["UploadRequest", "UploadHaves", "DEPTH_INFINITE"]

#: cgit's INFINITE_DEPTH, what ``--unshallow`` sends as ``deepen``.
DEPTH_INFINITE = 0x7FFFFFFF


@dataclass
class UploadRequest(WireMessage):
    """Client's wants (first one carrying the capabilities) and depth options."""

    wants: list = field(default_factory=list)
    capabilities: list = field(default_factory=list)
    shallows: list = field(default_factory=list)
    deepen: Optional[int] = None
    deepen_since: Optional[int] = None
    deepen_not: list = field(default_factory=list)
    filter: Optional[bytes] = None

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        for i, w in enumerate(self.wants):
            line = b"want " + check_oid(w)
            if i == 0 and self.capabilities:
                for c in self.capabilities:
                    check_capability_item(c)
                line += b" " + b" ".join(self.capabilities)
            yield (line, True)
        for s in self.shallows:
            yield (b"shallow " + check_oid(s), False)
        if self.deepen is not None:
            yield (b"deepen %d" % _positive(self.deepen), False)
        if self.deepen_since is not None:
            yield (b"deepen-since %d" % _positive(self.deepen_since, 0), False)
        for r in self.deepen_not:
            yield (b"deepen-not " + check_text(r, "deepen-not ref", space=False), False)
        if self.filter is not None:
            yield (b"filter " + check_text(self.filter, "filter spec"), False)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            text = data_pkt(pkt, "upload request line")
            key, sep, rest = text.partition(b" ")
            if not sep:
                raise UnexpectedMessage(f"malformed upload request line {text[:80]!r}")
            if key == b"want":
                oid_text, sep, caps = rest.partition(b" ")
                if sep:
                    if msg.wants:
                        raise UnexpectedMessage("capabilities on a want line after the first")
                    msg.capabilities = parse_capability_list(caps)
                msg.wants.append(parse_oid(oid_text))
            elif key == b"shallow":
                msg.shallows.append(parse_oid(rest))
            elif key == b"deepen":
                if msg.deepen is not None:
                    raise UnexpectedMessage("duplicate deepen line")
                msg.deepen = parse_uint(rest, "depth")
                if msg.deepen <= 0:
                    raise UnexpectedMessage("deepen needs a positive depth")
            elif key == b"deepen-since":
                if msg.deepen_since is not None:
                    raise UnexpectedMessage("duplicate deepen-since line")
                msg.deepen_since = parse_uint(rest, "timestamp")
            elif key == b"deepen-not":
                if not rest or b" " in rest:
                    raise UnexpectedMessage(f"malformed deepen-not {rest[:80]!r}")
                msg.deepen_not.append(rest)
            elif key == b"filter":
                if msg.filter is not None or not rest:
                    raise UnexpectedMessage("duplicate or empty filter line")
                msg.filter = rest
            else:
                raise UnexpectedMessage(f"unexpected upload request line {text[:80]!r}")


@dataclass
class UploadHaves(WireMessage):
    """One block of ``have`` lines, ending in a flush or (``done=True``) ``done``."""

    haves: list = field(default_factory=list)
    done: bool = False

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        for h in self.haves:
            yield (b"have " + check_oid(h), True)
        yield (b"done", True) if self.done else FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            text = data_pkt(pkt, "have line")
            if text == b"done":
                msg.done = True
                return msg
            key, sep, rest = text.partition(b" ")
            if key != b"have" or not sep:
                raise UnexpectedMessage(f"expected have/done/flush, got {text[:80]!r}")
            msg.haves.append(parse_oid(rest))


def _positive(n: int, minimum: int = 1) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < minimum:
        raise ValueError(f"invalid depth/timestamp {n!r}")
    return n
