"""The git:// request line (first and only pkt-line the client sends to git-daemon).

Grammar (``gitprotocol-pack``)::

    git-proto-request = request-command SP pathname NUL [ host-parameter NUL ]
                        [ NUL extra-parameters ]
    host-parameter    = "host=" hostname [ ":" port ]
    extra-parameters  = 1*extra-parameter ; each 1*(%x01-ff) NUL, e.g. "version=2"

Observed from git 2.39.5: ``git-upload-pack /src.git\\0host=127.0.0.1:19418\\0\\0version=2\\0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

from ..errors import UnexpectedMessage
from .base import Line, Parser, WireMessage, data_pkt

__all__ = ["GitRequest", "parse_request_payload", "format_request_payload"]


def format_request_payload(command: bytes, path: bytes, host: Optional[bytes] = None,
                           extra: Iterable[bytes] = ()) -> bytes:
    for v in (command, path):
        if not v or b"\0" in v:
            raise ValueError(f"invalid git:// request field {v!r}")
    if b" " in command:
        raise ValueError(f"invalid git:// command {command!r}")
    out = command + b" " + path + b"\0"
    if host is not None:
        if b"\0" in host:
            raise ValueError(f"invalid host {host!r}")
        out += b"host=" + host + b"\0"
    extra = list(extra)
    if extra:
        out += b"\0"
        for e in extra:
            if not e or b"\0" in e:
                raise ValueError(f"invalid extra parameter {e!r}")
            out += e + b"\0"
    return out


def parse_request_payload(payload: bytes) -> tuple:
    """Return ``(command, path, host or None, [extra parameters])``."""
    command, sep, rest = payload.partition(b" ")
    if not sep or not command or not rest.endswith(b"\0"):
        raise UnexpectedMessage(f"malformed git:// request {payload[:80]!r}")
    fields = rest[:-1].split(b"\0")
    path = fields[0]
    if not path:
        raise UnexpectedMessage("git:// request without a path")
    i = 1
    host = None
    if i < len(fields) and fields[i].startswith(b"host="):
        host = fields[i][5:]
        i += 1
    extra: list = []
    if i < len(fields):
        if fields[i] != b"" or i + 1 >= len(fields):
            raise UnexpectedMessage(f"malformed git:// request parameters {payload[:80]!r}")
        extra = fields[i + 1:]
        if not all(extra):
            raise UnexpectedMessage("empty extra parameter in git:// request")
    return command, path, host, extra


@dataclass
class GitRequest(WireMessage):
    """``git-upload-pack /path\\0host=...\\0\\0version=2\\0`` as a value."""

    command: bytes = b"git-upload-pack"
    path: bytes = b"/"
    host: Optional[bytes] = None
    extra_parameters: list = field(default_factory=list)

    _server_message = False

    @property
    def protocol_version(self) -> int:
        """Highest ``version=N`` among the extra parameters (0 if none)."""
        best = 0
        for e in self.extra_parameters:
            if e.startswith(b"version=") and e[8:] in (b"0", b"1", b"2"):
                best = max(best, int(e[8:]))
        return best

    def _lines(self) -> Iterable[Line]:
        yield (format_request_payload(self.command, self.path, self.host,
                                      self.extra_parameters), False)

    @classmethod
    def _parser(cls) -> Parser:
        pkt = yield
        command, path, host, extra = parse_request_payload(data_pkt(pkt, "git:// request"))
        return cls(command, path, host, extra)
