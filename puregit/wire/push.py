"""Push (receive-pack) requests: ref update commands and push options.

Grammar (``gitprotocol-pack``)::

    update-requests = *shallow command-list
    command-list    = PKT-LINE(command NUL capability-list) *PKT-LINE(command) flush-pkt
    command         = old-id SP new-id SP name        ; zero-id for create/delete
    push-options    = *PKT-LINE(push-option) flush-pkt

cgit's send-pack writes commands without LF and puts a space after the NUL
(``\\0 report-status ...``); :class:`PushRequest` does the same unless it was
decoded from input that did otherwise.  Push certificates are not supported
(decoding one raises :class:`~puregit.errors.UnexpectedMessage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..capabilities import check_capability_item, parse_capability_list
from ..errors import UnexpectedMessage
from ..pktline import FLUSH
from .base import Line, Parser, WireMessage, check_oid, check_refname, check_text, data_pkt, parse_oid

__all__ = ["PushCommand", "PushRequest", "PushOptions"]


@dataclass
class PushCommand:
    """``old new ref``: create if ``old`` is all zeros, delete if ``new`` is."""

    old: bytes
    new: bytes
    ref: bytes

    @property
    def is_create(self) -> bool:
        return not self.old.strip(b"0")

    @property
    def is_delete(self) -> bool:
        return not self.new.strip(b"0")

    def line(self) -> bytes:
        old, new = check_oid(self.old), check_oid(self.new)
        if len(old) != len(new):
            raise ValueError("old and new ids have different lengths")
        return old + b" " + new + b" " + check_refname(self.ref)


@dataclass
class PushRequest(WireMessage):
    """The command list (first command carries the capabilities)."""

    commands: list = field(default_factory=list)      # list[PushCommand]
    capabilities: list = field(default_factory=list)
    shallows: list = field(default_factory=list)
    #: cgit writes ``NUL SP caps``; other clients ``NUL caps``.
    space_after_nul: bool = field(default=True, compare=False, repr=False)

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        for s in self.shallows:
            yield (b"shallow " + check_oid(s), False)
        for i, cmd in enumerate(self.commands):
            line = cmd.line()
            if i == 0:
                for c in self.capabilities:
                    check_capability_item(c)
                caps = b"".join(b" " + c for c in self.capabilities)
                line += b"\0" + (caps if self.space_after_nul else caps[1:])
            yield (line, False)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            text = data_pkt(pkt, "push command")
            if text.startswith(b"shallow "):
                if msg.commands:
                    raise UnexpectedMessage("shallow line after push commands")
                msg.shallows.append(parse_oid(text[8:]))
                continue
            if text.startswith(b"push-cert"):
                raise UnexpectedMessage("push certificates are not supported")
            text, nul, caps = text.partition(b"\0")
            if nul:
                if msg.commands:
                    raise UnexpectedMessage("capabilities on a push command after the first")
                msg.capabilities = parse_capability_list(caps)
                msg.space_after_nul = caps.startswith(b" ")
            parts = text.split(b" ")
            if len(parts) != 3 or not parts[2]:
                raise UnexpectedMessage(f"malformed push command {text[:80]!r}")
            old, new = parse_oid(parts[0]), parse_oid(parts[1])
            if len(old) != len(new):
                raise UnexpectedMessage("push command mixes object id lengths")
            msg.commands.append(PushCommand(old, new, parts[2]))


@dataclass
class PushOptions(WireMessage):
    """Push options (``git push -o``), sent after the commands when negotiated."""

    options: list = field(default_factory=list)

    _server_message = False

    def _lines(self) -> Iterable[Line]:
        for o in self.options:
            yield (check_text(o, "push option"), False)
        yield FLUSH

    @classmethod
    def _parser(cls) -> Parser:
        msg = cls()
        while True:
            pkt = yield
            if pkt is FLUSH:
                return msg
            text = data_pkt(pkt, "push option")
            if b"\0" in text or b"\n" in text:
                raise UnexpectedMessage("push option contains NUL or LF")
            msg.options.append(text)
