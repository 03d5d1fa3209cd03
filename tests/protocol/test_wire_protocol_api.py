"""The Dulwich-compatible blocking API in puregit.protocol (seed reference)."""

from io import BytesIO

import pytest

from puregit import protocol as P
from puregit.errors import (
    ErrPktError, GitProtocolError, HangupException, PktLineError, RemoteError, UnexpectedMessage,
)
from puregit.pktline import DELIM, FLUSH, RESPONSE_END
from puregit.wire import RefAdvertisement, UploadRequest
from wire_testlib import fixture


def make(data: bytes, **kw):
    out = BytesIO()
    return P.Protocol(BytesIO(data).read, out.write, **kw), out


def test_constants():
    assert P.ZERO_SHA == b"0" * 40
    assert P.TCP_GIT_PORT == 9418
    assert (P.SINGLE_ACK, P.MULTI_ACK, P.MULTI_ACK_DETAILED) == (0, 1, 2)
    assert (P.SIDE_BAND_CHANNEL_DATA, P.SIDE_BAND_CHANNEL_PROGRESS,
            P.SIDE_BAND_CHANNEL_FATAL) == (1, 2, 3)
    assert P.NAK_LINE == b"NAK\n"
    assert P.PEELED_TAG_SUFFIX == b"^{}"
    assert P.CAPABILITIES_REF == b"capabilities^{}"
    assert P.DEFAULT_GIT_PROTOCOL_VERSION_FETCH == 2
    assert P.CAPABILITY_MULTI_ACK == b"multi_ack"
    assert P.CAPABILITY_SIDE_BAND_64K == b"side-band-64k"
    assert P.DEPTH_INFINITE == 0x7FFFFFFF
    for name in P.__all__:
        assert hasattr(P, name), name


def test_pkt_line_and_seq():
    assert P.pkt_line(b"a") == b"0005a"
    assert P.pkt_line(None) == b"0000"
    assert P.pkt_seq(b"a", b"bc") == b"0005a0006bc0000"


def test_read_pkt_line_and_seq():
    proto, _ = make(b"0008want0000" + b"0005a0005b0000")
    assert proto.read_pkt_line() == b"want"
    assert proto.read_pkt_line() is None
    assert list(proto.read_pkt_seq()) == [b"a", b"b"]
    with pytest.raises(HangupException):
        proto.read_pkt_line()


def test_read_pkt_distinguishes_specials():
    proto, _ = make(b"0000" + b"0001" + b"0002" + b"0005x")
    assert [proto.read_pkt() for _ in range(4)] == [FLUSH, DELIM, RESPONSE_END, b"x"]
    proto, _ = make(b"0001")
    with pytest.raises(UnexpectedMessage):
        proto.read_pkt_line()


def test_truncated_and_bad_input():
    for data in (b"00", b"000ahel"):
        proto, _ = make(data)
        with pytest.raises(HangupException):
            proto.read_pkt_line()
    proto, _ = make(b"-00a" + b"x" * 10)
    with pytest.raises(PktLineError):
        proto.read_pkt_line()


def test_err_line_raises_remote_error():
    proto, _ = make(P.pkt_line(b"ERR upload-pack: not our ref 1234\n"))
    with pytest.raises(ErrPktError) as e:
        proto.read_pkt_line()
    assert isinstance(e.value, RemoteError)
    assert e.value.remote_message == "upload-pack: not our ref 1234"


def test_eof_and_unread():
    proto, _ = make(b"0005a0000")
    assert not proto.eof()
    assert proto.read_pkt_line() == b"a"
    assert not proto.eof()
    assert proto.read_pkt_line() is None
    assert proto.eof()
    proto.unread_pkt_line(b"z")
    with pytest.raises(ValueError):
        proto.unread_pkt_line(b"y")
    assert not proto.eof()
    assert proto.read_pkt_line() == b"z"
    proto.unread_pkt_line(None)
    assert proto.read_pkt_line() is None


def test_report_activity():
    events = []
    proto, out = make(b"0005a0000", report_activity=lambda n, kind: events.append((n, kind)))
    proto.read_pkt_line()
    proto.read_pkt_line()
    proto.write_pkt_line(b"hi")
    assert events == [(5, "read"), (4, "read"), (6, "write")]


def test_close_and_context_manager():
    closed = []
    with P.Protocol(BytesIO().read, BytesIO().write, close=lambda: closed.append(1)):
        pass
    assert closed == [1]


def test_write_pkt_line_and_limits():
    proto, out = make(b"")
    proto.write_pkt_line(b"hello\n")
    proto.write_pkt_line(None)
    proto.write_pkt(DELIM)
    assert out.getvalue() == b"000ahello\n00000001"
    with pytest.raises(PktLineError):
        proto.write_pkt_line(b"x" * 65517)


def test_write_errors_are_typed():
    def broken(data):
        raise BrokenPipeError("gone")
    proto = P.Protocol(BytesIO().read, broken)
    with pytest.raises(GitProtocolError):
        proto.write_pkt_line(b"x")


def test_write_sideband_sizes():
    proto, out = make(b"")
    proto.write_sideband(1, b"x" * 70000)
    data = out.getvalue()
    assert data[:4] == b"fff0" and len(data) == 65520 + 4 + 1 + (70000 - 65515)
    proto, out = make(b"")
    proto.write_sideband(2, b"y" * 1000, max_data=995)
    assert out.getvalue()[:4] == b"03e8"


def test_write_file():
    proto, out = make(b"")
    f = proto.write_file()
    f.write(b"PACK")
    f.write(b"1234")
    assert f.tell() == 8
    f.close()
    assert out.getvalue() == b"PACK1234"


def test_protocol_file():
    written = []
    f = P.ProtocolFile(BytesIO(b"abc").read, written.append)
    assert f.read(2) == b"ab"
    f.write(b"xy")
    assert f.tell() == 2 and written == [b"xy"]
    f.close()


def test_send_and_read_cmd_git_daemon_request():
    proto, out = make(b"")
    proto.send_cmd(b"git-upload-pack", b"/src.git", b"host=127.0.0.1:19418", b"", b"version=2")
    wire = out.getvalue()
    # exactly what git 2.39.5 sends (protocol reference, section 2.1)
    assert wire[4:] == b"git-upload-pack /src.git\0host=127.0.0.1:19418\0\0version=2\0"
    proto2, _ = make(wire)
    assert proto2.read_cmd() == (b"git-upload-pack",
                                 [b"/src.git", b"host=127.0.0.1:19418", b"", b"version=2"])
    proto3, _ = make(wire)
    assert proto3.read_request() == (b"git-upload-pack", b"/src.git", b"127.0.0.1:19418",
                                     [b"version=2"])
    proto, out = make(b"")
    proto.send_request(b"git-upload-pack", b"/src.git", b"127.0.0.1:19418", (b"version=2",))
    assert out.getvalue() == wire


@pytest.mark.parametrize("payload", [b"git-upload-pack", b"git-upload-pack /x",
                                     b"git-upload-pack /x\0junk\0", b"git-upload-pack \0"])
def test_read_cmd_rejects_malformed(payload):
    proto, _ = make(P.pkt_line(payload))
    with pytest.raises(UnexpectedMessage):
        proto.read_cmd()


def test_send_cmd_refuses_nul():
    proto, _ = make(b"")
    with pytest.raises(ValueError):
        proto.send_cmd(b"git-upload-pack", b"/x\0y")


def test_read_and_write_message():
    data = fixture("clone-v0.server")
    proto, _ = make(data)
    adv = proto.read_message(RefAdvertisement.decoder())
    assert adv.as_dict()[b"refs/tags/v1.0^{}"] == b"24d5f1f7353b3bcea7a7021f59546acf12df08bc"
    assert proto.read_pkt_line() == b"NAK\n"
    proto, out = make(b"")
    msg = UploadRequest(wants=[b"a" * 40], capabilities=[b"ofs-delta"])
    proto.write_message(msg)
    assert out.getvalue() == msg.encode()


class FakeSocket:
    def __init__(self, data, chunk=3):
        self.data = data
        self.chunk = chunk
        self.calls = []

    def recv(self, n):
        self.calls.append(n)
        out = self.data[:min(n, self.chunk)]
        self.data = self.data[len(out):]
        return out


def test_receivable_protocol_read_and_recv():
    sock = FakeSocket(b"0009want\n0000abcdefgh", chunk=4)
    proto = P.ReceivableProtocol(sock.recv, BytesIO().write, rbufsize=16)
    assert proto.read_pkt_line() == b"want\n"
    assert proto.read_pkt_line() is None
    assert proto.recv(100) == b"abc"       # what is buffered, no blocking
    assert proto.recv(100) == b"defg"      # then at most one underlying recv
    assert proto.read(10) == b"h"          # EOF: what is left
    assert proto.recv(10) == b""
    assert all(n >= 16 for n in sock.calls)


def test_receivable_protocol_recv_uses_buffer():
    sock = FakeSocket(b"0005a" + b"tail", chunk=100)
    proto = P.ReceivableProtocol(sock.recv, BytesIO().write)
    assert proto.read_pkt_line() == b"a"
    assert proto.recv(2) == b"ta"
    assert proto.recv(10) == b"il"


def test_buffered_pkt_line_writer():
    chunks = []
    w = P.BufferedPktLineWriter(chunks.append, bufsize=10)
    w.write(b"abc")        # 7 bytes buffered
    assert chunks == [] and w.buffered == 7
    w.write(b"defg")       # 15 bytes: one chunk of 10 out, 5 kept
    assert chunks == [b"0007abc000"] and w.buffered == 5
    w.flush()
    assert chunks == [b"0007abc000", b"8defg"] and w.buffered == 0
    # accounting stays right after a flush
    w.write(b"12")
    assert w.buffered == 6 and len(chunks) == 2
    w.write(b"34")
    assert chunks[2] == b"000612000634"[:10] and w.buffered == 2
    w.flush()
    w.flush()
    assert b"".join(chunks) == b"0007abc0008defg000612000634"


def test_buffered_writer_default_size():
    chunks = []
    w = P.BufferedPktLineWriter(chunks.append)
    for _ in range(3):
        w.write(b"x" * 30000)
    w.flush()
    assert [len(c) for c in chunks] == [65515, 90012 - 65515]


def test_pkt_line_parser():
    got = []
    p = P.PktLineParser(got.append)
    blob = b"0008abcd0000" + b"0001" + b"0005z" + b"00"
    for i in range(len(blob)):
        p.parse(blob[i:i + 1])
    assert got == [b"abcd", None, DELIM, b"z"]
    assert p.get_tail() == b"00"
    with pytest.raises(PktLineError):
        P.PktLineParser(got.append).parse(b"0003")


def test_extract_capabilities():
    assert P.extract_capabilities(b"oid HEAD\0multi_ack thin-pack\n") == (
        b"oid HEAD", [b"multi_ack", b"thin-pack"])
    assert P.extract_capabilities(b"oid refs/heads/x\n") == (b"oid refs/heads/x\n", [])
    assert P.extract_capabilities(b"a b c\0 report-status quiet") == (
        b"a b c", [b"report-status", b"quiet"])


def test_extract_want_line_capabilities():
    assert P.extract_want_line_capabilities(b"want abc multi_ack side-band-64k\n") == (
        b"want abc", [b"multi_ack", b"side-band-64k"])
    assert P.extract_want_line_capabilities(b"want abc\n") == (b"want abc\n", [])


def test_ack_type_and_symref():
    assert P.ack_type([b"multi_ack_detailed"]) == P.MULTI_ACK_DETAILED
    assert P.ack_type([b"multi_ack"]) == P.MULTI_ACK
    assert P.ack_type([]) == P.SINGLE_ACK
    assert P.capability_symref(b"HEAD", b"refs/heads/main") == b"symref=HEAD:refs/heads/main"


def test_format_helpers():
    assert P.format_ref_line(b"refs/heads/x", b"a" * 40) == b"a" * 40 + b" refs/heads/x\n"
    assert P.format_ref_line(b"HEAD", b"a" * 40, [b"x", b"y"]) == b"a" * 40 + b" HEAD\0x y\n"
    assert P.format_ack_line(b"a" * 40, b"common") == b"ACK " + b"a" * 40 + b" common\n"
    assert P.format_ack_line(b"a" * 40) == b"ACK " + b"a" * 40 + b"\n"
    assert P.format_shallow_line(b"s") == b"shallow s"
    assert P.format_unshallow_line(b"s") == b"unshallow s"
    refs = {b"refs/tags/v1": b"1", b"refs/tags/v1^{}": b"2"}
    assert P.split_peeled_refs(refs) == ({b"refs/tags/v1": b"1"}, {b"refs/tags/v1": b"2"})
    assert P.strip_peeled_refs(refs) == {b"refs/tags/v1": b"1"}
