"""report-status and report-status-v2: receive-pack's verdict on a push.

Grammar (``gitprotocol-pack``)::

    report-status    = PKT-LINE("unpack" SP ("ok" / error-msg))
                       1*(PKT-LINE("ok" SP refname) / PKT-LINE("ng" SP refname SP error-msg))
                       flush-pkt
    report-status-v2 : each "ok" line may be followed by
                       PKT-LINE("option" SP ("refname" SP refname / "old-oid" SP oid /
                                             "new-oid" SP oid / "forced-update"))

One dataclass serves both; decode with ``v2=True`` to accept option lines.
When ``side-band-64k`` is in use the whole report arrives inside band-1
packets: demultiplex first (:mod:`puregit.sideband`), then decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..errors import UnexpectedMessage
from ..pktline import FLUSH
from .base import Line, Parser, WireMessage, check_oid, check_refname, check_text, data_pkt, parse_oid

__all__ = ["RefStatus", "ReportStatus", "OPTION_KEYS"]

OPTION_KEYS = (b"refname", b"old-oid", b"new-oid", b"forced-update")


@dataclass
class RefStatus:
    """``ok <ref>`` (``reason`` None) or ``ng <ref> <reason>``; v2 options."""

    ref: bytes
    reason: Optional[bytes] = None
    options: list = field(default_factory=list)   # [(key, value-or-None)]

    @property
    def ok(self) -> bool:
        return self.reason is None


@dataclass
class ReportStatus(WireMessage):
    """``unpack`` result plus one status per pushed ref."""

    unpack: bytes = b"ok"
    refs: list = field(default_factory=list)       # list[RefStatus]

    @property
    def unpack_ok(self) -> bool:
        return self.unpack == b"ok"

    @property
    def ok(self) -> bool:
        return self.unpack_ok and all(r.ok for r in self.refs)

    def _lines(self) -> Iterable[Line]:
        yield (b"unpack " + check_text(self.unpack, "unpack status"), True)
        for r in self.refs:
            if r.reason is None:
                yield (b"ok " + check_refname(r.ref), True)
            else:
                yield (b"ng " + check_refname(r.ref) + b" " + check_text(r.reason, "reason"), True)
                if r.options:
                    raise ValueError("report-status options only follow ok lines")
            for key, value in r.options:
                if key not in OPTION_KEYS:
                    raise ValueError(f"unknown report-status option {key!r}")
                if key == b"forced-update":
                    yield (b"option forced-update", True)
                elif key == b"refname":
                    yield (b"option refname " + check_refname(value), True)
                else:
                    yield (b"option " + key + b" " + check_oid(value), True)
        yield FLUSH

    @classmethod
    def _parser(cls, v2: bool = False) -> Parser:
        pkt = yield
        text = data_pkt(pkt, "unpack status")
        if not text.startswith(b"unpack ") or len(text) == 7:
            raise UnexpectedMessage(f"expected unpack status, got {text[:80]!r}")
        msg = cls(unpack=text[7:])
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            text = data_pkt(pkt, "ref status")
            key, sep, rest = text.partition(b" ")
            if not sep or not rest:
                raise UnexpectedMessage(f"malformed ref status {text[:80]!r}")
            if key == b"ok":
                msg.refs.append(RefStatus(_refname(rest)))
            elif key == b"ng":
                ref, sep, reason = rest.partition(b" ")
                msg.refs.append(RefStatus(_refname(ref), reason if sep else b""))
            elif key == b"option" and v2:
                if not msg.refs or not msg.refs[-1].ok:
                    raise UnexpectedMessage("option line does not follow an ok line")
                okey, sep, value = rest.partition(b" ")
                if okey == b"forced-update" and not sep:
                    msg.refs[-1].options.append((okey, None))
                elif okey == b"refname" and sep:
                    msg.refs[-1].options.append((okey, _refname(value)))
                elif okey in (b"old-oid", b"new-oid") and sep:
                    msg.refs[-1].options.append((okey, parse_oid(value)))
                else:
                    raise UnexpectedMessage(f"malformed option line {text[:80]!r}")
            else:
                raise UnexpectedMessage(f"unexpected report-status line {text[:80]!r}")


def _refname(name: bytes) -> bytes:
    if not name or b" " in name or b"\0" in name:
        raise UnexpectedMessage(f"malformed ref name {name[:80]!r}")
    return name
