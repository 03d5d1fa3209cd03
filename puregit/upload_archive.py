"""upload-archive: serve ``git archive --remote``.

The client sends ``argument <arg>`` pkt-lines and a flush; the server checks
them, answers ``ACK`` and a flush (or ``NACK <reason>``), then streams the
archive on side-band band 1 (65515-byte packets), messages on band 2, a
fatal error on band 3, and a final flush, as cgit's ``upload-archive`` does.
:func:`parse_archive_args` is the pure part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .archive import FORMATS, ArchiveError, archive_stream
from .backend import Handler
from .errors import HangupException, ProtocolError, PuregitError, ServerError
from .pktline import FLUSH, Special, pkt_line
from .sideband import SIDE_BAND_64K_MAX_DATA, iter_mux

__all__ = ["UploadArchiveHandler", "ArchiveRequest", "parse_archive_args", "MAX_ARGS"]

MAX_ARGS = 64


@dataclass
class ArchiveRequest:
    format: str = "tar"
    prefix: bytes = b""
    treeish: Optional[bytes] = None
    paths: list = field(default_factory=list)
    level: int = -1


def parse_archive_args(args: list) -> ArchiveRequest:
    """Parse the client's arguments (git archive's options a remote may send)."""
    req = ArchiveRequest()
    rest = []
    options_done = False
    for a in args:
        if not options_done and a.startswith(b"-"):
            if a == b"--":
                options_done = True
            elif a.startswith(b"--format="):
                req.format = a[9:].decode("ascii", "replace")
            elif a.startswith(b"--prefix="):
                req.prefix = a[9:]
            elif len(a) == 2 and a[1:].isdigit():
                req.level = int(a[1:])
            elif a in (b"--worktree-attributes", b"-v", b"--verbose"):
                pass
            else:
                raise ArchiveError(f"unknown option '{a[:80].decode(errors='replace')}'")
            continue
        rest.append(a)
    if req.format not in FORMATS:
        raise ArchiveError(f"Unknown archive format '{req.format}'")
    if not rest:
        raise ArchiveError("must specify a tree-ish")
    req.treeish = rest[0]
    req.paths = rest[1:]
    for p in req.paths + [req.prefix]:
        if b"\0" in p:
            raise ArchiveError("invalid path")
    return req


class UploadArchiveHandler(Handler):
    """upload-archive over a Protocol (git://, ssh, pipes)."""

    service = b"git-upload-archive"

    def handle(self) -> None:
        proto = self.proto
        repo = self.backend.open_repository(self.args[0])
        args = []
        try:
            while True:
                pkt = proto.read_pkt()
                if pkt is FLUSH:
                    break
                if isinstance(pkt, Special):
                    raise ProtocolError("'argument' token or flush expected")
                line = pkt[:-1] if pkt.endswith(b"\n") else pkt
                if not line.startswith(b"argument "):
                    raise ProtocolError("'argument' token or flush expected")
                args.append(line[9:])
                if len(args) > MAX_ARGS:
                    raise ProtocolError(f"Too many options (>{MAX_ARGS})")
        except HangupException:
            raise
        except ProtocolError as e:
            proto.write(pkt_line(b"NACK " + str(e).encode("utf-8", "replace")[:400] + b"\n"))
            raise
        proto.write(pkt_line(b"ACK\n") + pkt_line(None))
        try:
            req = parse_archive_args(args)
            allow = False
            try:
                allow = bool(repo.get_config().get_boolean((b"uploadarchive",),
                                                            b"allowunreachable", False))
            except (PuregitError, KeyError, ValueError):
                pass
            stream = archive_stream(repo, req.treeish, req.format, req.prefix, req.paths,
                                    req.level, allow_unreachable=allow)
            for chunk in stream:
                proto.write(b"".join(iter_mux(1, chunk, SIDE_BAND_64K_MAX_DATA)))
        except (ArchiveError, PuregitError, KeyError, ValueError) as e:
            msg = f"fatal: {e}\n".encode("utf-8", "replace")
            proto.write(b"".join(iter_mux(2, msg)))
            proto.write(b"".join(iter_mux(3, b"git upload-archive: archiver died with error")))
            proto.write(pkt_line(None))
            raise ServerError(str(e)) from None
        proto.write(pkt_line(None))
