"""Round trips on exchanges recorded from git 2.39.5 (tests/fixtures/wire/record.py).

Each recorded stream is cut into its messages in protocol order.  For every
message: decoding works whole, byte-wise and with trailing bytes; re-encoding
gives back exactly the recorded bytes; and for messages written by real git
(not by the recorder's hand-made requests) a freshly built message with
default line endings is byte-identical too.
"""

import copy

import pytest

from puregit.errors import ErrPktError
from puregit.pktline import split_pkts
from puregit.sideband import SidebandDemuxer
from puregit.wire import (
    AckLine, CapabilityAdvertisement, FetchRequest, FetchResponse, GitRequest, LsRefsRequest,
    LsRefsResponse, Nak, PushOptions, PushRequest, RefAdvertisement, ReportStatus,
    ShallowUpdate, UploadHaves, UploadRequest,
)
from puregit.sideband import demux
from wire_testlib import fixture, three_ways

SIDEBAND = "sideband"          # side-band stream carrying a pack
SIDEBAND_REPORT = "sideband-report"  # side-band stream carrying report-status(-v2)
PACK = "pack"                  # raw pack until EOF
ERR = "err"                    # ERR packet until EOF
ACKS = "acks"                  # ACK/NAK lines up to the final ACK or NAK

# (fixture, written by real git?, [steps])
CONVERSATIONS = [
    ("clone-v0.client", True, [UploadRequest, UploadHaves]),
    ("clone-v0.server", True, [RefAdvertisement, ACKS, SIDEBAND]),
    ("fetch-v0.client", True, [UploadRequest, UploadHaves]),
    ("fetch-v0.server", True, [RefAdvertisement, ACKS, SIDEBAND]),
    ("shallow-v0.client", True, [UploadRequest, UploadHaves]),
    ("shallow-v0.server", True, [RefAdvertisement, ShallowUpdate, ACKS, SIDEBAND]),
    ("deepen-v0.client", True, [UploadRequest, UploadHaves]),
    ("deepen-v0.server", True, [RefAdvertisement, ShallowUpdate, ACKS, SIDEBAND]),
    ("empty-upload-pack.server", True, [RefAdvertisement]),
    ("push-empty.client", True, [PushRequest, PACK]),
    ("push-empty.server", True, [RefAdvertisement, SIDEBAND_REPORT]),
    ("push-update.client", True, [PushRequest, PushOptions, PACK]),
    ("push-update.server", True, [RefAdvertisement, SIDEBAND_REPORT]),
    ("push-report-status.client", False, [PushRequest, PACK]),
    ("push-report-status.server", True, [RefAdvertisement, ReportStatus]),
    ("push-report-status-v2.client", False, [PushRequest, PACK]),
    ("push-report-status-v2.server", True, [RefAdvertisement, (ReportStatus, {"v2": True})]),
    ("clone-v2.client", True, [LsRefsRequest, FetchRequest]),
    ("clone-v2.server", True, [CapabilityAdvertisement, LsRefsResponse, FetchResponse]),
    ("fetch-v2.client", True, [LsRefsRequest, FetchRequest]),
    ("fetch-v2.server", True, [CapabilityAdvertisement, LsRefsResponse, FetchResponse]),
    ("shallow-v2.client", True, [LsRefsRequest, FetchRequest]),
    ("shallow-v2.server", True, [CapabilityAdvertisement, LsRefsResponse, FetchResponse]),
    ("ls-refs-empty-v2.client", False, [LsRefsRequest]),
    ("ls-refs-empty-v2.server", True, [CapabilityAdvertisement, LsRefsResponse]),
    ("err-not-our-ref-v0.server", True, [RefAdvertisement, ERR]),
    ("err-not-our-ref-v2.client", False, [FetchRequest]),
    ("err-not-our-ref-v2.server", True, [CapabilityAdvertisement, ERR]),
    ("daemon-request-v0.client", True, [GitRequest]),
    ("daemon-request-v2.client", True, [GitRequest]),
]


def _check_message(cls, opts, data, by_git):
    msg, rest = cls.decode_prefix(data, **opts)
    segment = data[:len(data) - len(rest)]
    assert msg.encode() == segment
    assert three_ways(cls, segment, **opts) == msg
    if by_git:
        fresh = copy.copy(msg)
        fresh.lf = None
        assert fresh.encode() == segment, "default line endings differ from git's"
    return msg, rest


@pytest.mark.parametrize("name,by_git,steps", CONVERSATIONS, ids=[c[0] for c in CONVERSATIONS])
def test_recorded_exchange_round_trips(name, by_git, steps):
    data = fixture(name)
    seen = []
    for step in steps:
        if step == ACKS:
            while True:
                ack, data = _check_message(AckLine, {}, data, by_git)
                seen.append(ack)
                if isinstance(ack, Nak) or ack.status is None:
                    break
        elif step == SIDEBAND:
            progress = []
            pack, data = demux(data, progress.append)
            assert pack.startswith(b"PACK")
        elif step == SIDEBAND_REPORT:
            inner, data = demux(data)
            report = three_ways(ReportStatus, inner, v2=True)
            assert report.ok and report.encode() == inner
            seen.append(report)
        elif step == PACK:
            assert data.startswith(b"PACK")
            data = b""
        elif step == ERR:
            with pytest.raises(ErrPktError) as e:
                AckLine.decode(data)
            assert "not our ref" in e.value.remote_message
            data = b""
        else:
            cls, opts = step if isinstance(step, tuple) else (step, {})
            msg, data = _check_message(cls, opts, data, by_git)
            seen.append(msg)
    assert data == b"", f"{len(data)} bytes left over"


def test_recorded_values():
    adv = RefAdvertisement.decode_prefix(fixture("clone-v0.server"))[0]
    assert adv.refs[0].name == b"HEAD"
    assert adv.symrefs == {b"HEAD": b"refs/heads/main"}
    tag = [r for r in adv.refs if r.name == b"refs/tags/v1.0"][0]
    assert tag.peeled == b"24d5f1f7353b3bcea7a7021f59546acf12df08bc"
    assert b"multi_ack_detailed" in adv.capabilities

    empty = RefAdvertisement.decode_prefix(fixture("push-empty.server"))[0]
    assert empty.refs == [] and b"report-status-v2" in empty.capabilities

    req = UploadRequest.decode_prefix(fixture("deepen-v0.client"))[0]
    assert req.deepen == 1 and len(req.shallows) == 1 and b"deepen-relative" in req.capabilities

    rest = RefAdvertisement.decode_prefix(fixture("push-report-status.server"))[1]
    report = ReportStatus.decode(rest)
    assert [(r.ref, r.reason) for r in report.refs] == [
        (b"refs/heads/feature", None), (b"refs/heads/main", b"failed to update ref")]

    push = PushRequest.decode_prefix(fixture("push-update.client"))[0]
    assert [c.ref for c in push.commands] == [b"refs/heads/main", b"refs/heads/feature"]
    assert push.commands[1].is_create

    data = fixture("fetch-v2.server")
    _, data = CapabilityAdvertisement.decode_prefix(data)
    _, data = LsRefsResponse.decode_prefix(data)
    resp = FetchResponse.decode(data)
    assert resp.acknowledgments.ready and len(resp.acknowledgments.acks) == 4
    d = SidebandDemuxer()
    pack = b"".join(d.feed_pkt(p) for p in resp.packfile)
    assert pack.startswith(b"PACK")

    lsr = LsRefsResponse.decode_prefix(
        CapabilityAdvertisement.decode_prefix(fixture("ls-refs-empty-v2.server"))[1])[0]
    assert lsr.refs[0].oid is None and lsr.refs[0].symref_target == b"refs/heads/master"

    req = GitRequest.decode(fixture("daemon-request-v2.client"))
    assert req.path == b"/src.git" and req.protocol_version == 2


def test_fixtures_are_small():
    total = sum(len(fixture(c[0])) for c in CONVERSATIONS)
    assert total < 20000
    pkts, rest = split_pkts(fixture("clone-v0.server"))
    assert rest == b""
