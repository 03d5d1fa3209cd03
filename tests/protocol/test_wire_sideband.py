"""Side-band mux/demux: Git's packet sizes, progress, fatal errors."""

import pytest

from puregit.errors import (
    ErrPktError, RemoteError, SidebandError, SidebandFatalError, UnexpectedEOF, UnexpectedMessage,
)
from puregit.pktline import DELIM, FLUSH, split_pkts
from puregit.sideband import (
    SIDE_BAND_64K_MAX_DATA, SIDE_BAND_MAX_DATA, SidebandDemuxer, demux, iter_mux, mux,
)


def test_sizes_match_cgit():
    assert SIDE_BAND_MAX_DATA == 995
    assert SIDE_BAND_64K_MAX_DATA == 65515


@pytest.mark.parametrize("max_data,total", [(995, 1000), (65515, 65520)])
def test_mux_packet_sizes(max_data, total):
    data = bytes(range(256)) * 600  # 153600 bytes
    pkts = list(iter_mux(1, data, max_data))
    assert max(len(p) for p in pkts) == total
    assert all(p[4] == 1 for p in pkts)
    assert b"".join(p[5:] for p in pkts) == data
    assert len(pkts) == -(-len(data) // max_data)


def test_mux_keepalive_and_bad_channel():
    assert mux(1, b"") == b"0005\x01"
    assert mux(2, b"hi\n", 995) == b"0008\x02hi\n"
    with pytest.raises(SidebandError):
        mux(4, b"x")
    with pytest.raises(SidebandError):
        mux(1, b"x", 65516)


STREAM = (mux(1, b"PACKdata") + mux(2, b"Counting objects\r") + mux(1, b"")
          + mux(1, b"more", 995) + b"0000")


def test_demux_whole():
    progress = []
    data, rest = demux(STREAM + b"tail", progress.append)
    assert data == b"PACKdatamore"
    assert progress == [b"Counting objects\r"]
    assert rest == b"tail"


def test_demux_byte_at_a_time_with_trailing():
    progress = []
    d = SidebandDemuxer(progress.append)
    out = b""
    blob = STREAM + b"0009done\n"
    for i in range(len(blob)):
        out += d.feed(blob[i:i + 1])
    assert d.done
    assert out == b"PACKdatamore"
    assert progress == [b"Counting objects\r"]
    assert d.unused == b"0009done\n"


def test_demux_band3_is_remote_error():
    with pytest.raises(SidebandFatalError) as e:
        demux(mux(1, b"x") + mux(3, b"upload-pack: not our ref\n") + b"0000")
    assert isinstance(e.value, RemoteError)
    assert "not our ref" in e.value.remote_message


def test_demux_err_packet():
    with pytest.raises(ErrPktError) as e:
        demux(b"0011ERR bad thing\n")
    assert e.value.remote_message == "bad thing"


@pytest.mark.parametrize("blob", [b"0004", b"0006\x04x", b"0006\x00x"])
def test_demux_bad_band(blob):
    with pytest.raises(SidebandError):
        demux(blob + b"0000")


def test_demux_specials_and_eof():
    with pytest.raises(UnexpectedMessage):
        SidebandDemuxer().feed_pkt(DELIM)
    with pytest.raises(UnexpectedEOF):
        demux(mux(1, b"abc"))
    d = SidebandDemuxer()
    d.feed_pkt(FLUSH)
    with pytest.raises(UnexpectedMessage):
        d.feed_pkt(b"\x01x")


def test_nested_report_status_demux():
    # receive-pack nests report-status pkt-lines inside band 1
    inner = b"000eunpack ok\n0017ok refs/heads/main\n0000"
    data, _ = demux(mux(1, inner) + b"0000")
    pkts, rest = split_pkts(data)
    assert pkts == [b"unpack ok\n", b"ok refs/heads/main\n", FLUSH] and rest == b""
