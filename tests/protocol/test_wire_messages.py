"""Typed messages: encoders, decoders (whole / byte-wise / trailing), errors."""

import pytest

from puregit.errors import (
    ErrPktError, InvalidObjectId, InvalidRefName, ProtocolError, SidebandFatalError,
    UnexpectedEOF, UnexpectedMessage,
)
from puregit.pktline import DELIM, FLUSH, RESPONSE_END, encode_pkts, pkt_line
from puregit.sideband import mux
from puregit.wire import (
    Ack, AckLine, Acknowledgments, AdvertisedRef, CapabilityAdvertisement, CommandRequest,
    FetchRequest, FetchResponse, GitRequest, LsRef, LsRefsRequest, LsRefsResponse, Nak,
    PushCommand, PushOptions, PushRequest, RefAdvertisement, RefStatus, ReportStatus,
    ShallowInfo, ShallowUpdate, UploadHaves, UploadRequest,
)
from wire_testlib import three_ways

A = b"a" * 40
B = b"b" * 40
C = b"c" * 40
S256 = b"d" * 64
Z = b"0" * 40


def P(*items):
    return encode_pkts([None if i is None else i for i in items])


# Each case: (class, decode options, message, expected wire bytes)
CASES = [
    (RefAdvertisement, {}, RefAdvertisement(
        refs=[AdvertisedRef(A, b"HEAD"), AdvertisedRef(A, b"refs/heads/main"),
              AdvertisedRef(B, b"refs/tags/v1", peeled=A)],
        capabilities=[b"multi_ack", b"symref=HEAD:refs/heads/main", b"agent=git/2.39.5"]),
     P(A + b" HEAD\0multi_ack symref=HEAD:refs/heads/main agent=git/2.39.5\n",
       A + b" refs/heads/main\n", B + b" refs/tags/v1\n", A + b" refs/tags/v1^{}\n", FLUSH)),
    (RefAdvertisement, {}, RefAdvertisement(capabilities=[b"report-status", b"delete-refs"]),
     P(Z + b" capabilities^{}\0report-status delete-refs\n", FLUSH)),
    (RefAdvertisement, {}, RefAdvertisement(capabilities=[b"object-format=sha256"]),
     P(b"0" * 64 + b" capabilities^{}\0object-format=sha256\n", FLUSH)),
    (RefAdvertisement, {}, RefAdvertisement(), P(FLUSH)),
    (RefAdvertisement, {}, RefAdvertisement(
        refs=[AdvertisedRef(A, b".have"), AdvertisedRef(B, b"refs/heads/x")],
        capabilities=[b"report-status"], shallows=[C], version=1,
        service=b"git-receive-pack"),
     P(b"# service=git-receive-pack\n", FLUSH, b"version 1\n", A + b" .have\0report-status\n",
       B + b" refs/heads/x\n", b"shallow " + C + b"\n", FLUSH)),
    (RefAdvertisement, {}, RefAdvertisement(
        refs=[AdvertisedRef(S256, b"refs/heads/main")], capabilities=[b"object-format=sha256"]),
     P(S256 + b" refs/heads/main\0object-format=sha256\n", FLUSH)),
    (UploadRequest, {}, UploadRequest(
        wants=[A, B], capabilities=[b"multi_ack_detailed", b"side-band-64k"], shallows=[C],
        deepen=3, deepen_since=1700000000, deepen_not=[b"refs/heads/old"], filter=b"blob:none"),
     P(b"want " + A + b" multi_ack_detailed side-band-64k\n", b"want " + B + b"\n",
       b"shallow " + C, b"deepen 3", b"deepen-since 1700000000", b"deepen-not refs/heads/old",
       b"filter blob:none", FLUSH)),
    (UploadRequest, {}, UploadRequest(), P(FLUSH)),
    (UploadHaves, {}, UploadHaves(haves=[A, B]), P(b"have " + A + b"\n", b"have " + B + b"\n", FLUSH)),
    (UploadHaves, {}, UploadHaves(haves=[A], done=True), P(b"have " + A + b"\n", b"done\n")),
    (UploadHaves, {}, UploadHaves(done=True), P(b"done\n")),
    (Ack, {}, Ack(A), P(b"ACK " + A + b"\n")),
    (Ack, {}, Ack(A, b"continue"), P(b"ACK " + A + b" continue\n")),
    (Ack, {}, Ack(A, b"common"), P(b"ACK " + A + b" common\n")),
    (Ack, {}, Ack(A, b"ready"), P(b"ACK " + A + b" ready\n")),
    (Nak, {}, Nak(), P(b"NAK\n")),
    (AckLine, {}, Ack(B, b"ready"), P(b"ACK " + B + b" ready\n")),
    (AckLine, {}, Nak(), P(b"NAK\n")),
    (ShallowUpdate, {}, ShallowUpdate(shallows=[A], unshallows=[B, C]),
     P(b"shallow " + A, b"unshallow " + B, b"unshallow " + C, FLUSH)),
    (ShallowUpdate, {}, ShallowUpdate(), P(FLUSH)),
    (PushRequest, {}, PushRequest(
        commands=[PushCommand(Z, A, b"refs/heads/new"), PushCommand(B, Z, b"refs/heads/gone")],
        capabilities=[b"report-status-v2", b"side-band-64k"], shallows=[C]),
     P(b"shallow " + C, Z + b" " + A + b" refs/heads/new\0 report-status-v2 side-band-64k",
       B + b" " + Z + b" refs/heads/gone", FLUSH)),
    (PushRequest, {}, PushRequest(), P(FLUSH)),
    (PushOptions, {}, PushOptions(options=[b"ci.skip", b"a b=c"]), P(b"ci.skip", b"a b=c", FLUSH)),
    (ReportStatus, {}, ReportStatus(b"ok", [RefStatus(b"refs/heads/a"),
                                            RefStatus(b"refs/heads/b", b"non-fast-forward")]),
     P(b"unpack ok\n", b"ok refs/heads/a\n", b"ng refs/heads/b non-fast-forward\n", FLUSH)),
    (ReportStatus, {}, ReportStatus(b"index-pack abnormal exit", [
        RefStatus(b"refs/heads/a", b"unpacker error")]),
     P(b"unpack index-pack abnormal exit\n", b"ng refs/heads/a unpacker error\n", FLUSH)),
    (ReportStatus, {"v2": True}, ReportStatus(b"ok", [
        RefStatus(b"refs/for/main", options=[(b"refname", b"refs/changes/1"),
                                            (b"old-oid", A), (b"new-oid", B),
                                            (b"forced-update", None)]),
        RefStatus(b"refs/heads/x")]),
     P(b"unpack ok\n", b"ok refs/for/main\n", b"option refname refs/changes/1\n",
       b"option old-oid " + A + b"\n", b"option new-oid " + B + b"\n",
       b"option forced-update\n", b"ok refs/heads/x\n", FLUSH)),
    (GitRequest, {}, GitRequest(b"git-upload-pack", b"/src.git", b"127.0.0.1:19418", [b"version=2"]),
     P(b"git-upload-pack /src.git\0host=127.0.0.1:19418\0\0version=2\0")),
    (GitRequest, {}, GitRequest(b"git-receive-pack", b"/x.git"), P(b"git-receive-pack /x.git\0")),
    (GitRequest, {}, GitRequest(b"git-upload-pack", b"/x", None, [b"version=1"]),
     P(b"git-upload-pack /x\0\0version=1\0")),
    (CapabilityAdvertisement, {}, CapabilityAdvertisement(
        [b"agent=git/2.39.5", b"ls-refs=unborn", b"fetch=shallow wait-for-done", b"server-option",
         b"object-format=sha1", b"object-info"]),
     P(b"version 2\n", b"agent=git/2.39.5\n", b"ls-refs=unborn\n", b"fetch=shallow wait-for-done\n",
       b"server-option\n", b"object-format=sha1\n", b"object-info\n", FLUSH)),
    (CommandRequest, {}, CommandRequest(b"object-info", [b"agent=x"], [b"size", b"oid " + A]),
     P(b"command=object-info\n", b"agent=x", DELIM, b"size\n", b"oid " + A + b"\n", FLUSH)),
    (CommandRequest, {}, CommandRequest(), P(FLUSH)),
    (LsRefsRequest, {}, LsRefsRequest([b"agent=git/2.39.5", b"object-format=sha1"], peel=True,
                                      symrefs=True, unborn=True, ref_prefixes=[b"HEAD", b"refs/tags/"]),
     P(b"command=ls-refs\n", b"agent=git/2.39.5", b"object-format=sha1", DELIM, b"peel\n",
       b"symrefs\n", b"unborn\n", b"ref-prefix HEAD\n", b"ref-prefix refs/tags/\n", FLUSH)),
    (LsRefsResponse, {}, LsRefsResponse([
        LsRef(A, b"HEAD", symref_target=b"refs/heads/main"), LsRef(B, b"refs/tags/v1", peeled=A),
        LsRef(None, b"refs/heads/unborn-x"), LsRef(C, b"refs/x", extra=[b"future:1"])]),
     P(A + b" HEAD symref-target:refs/heads/main\n", B + b" refs/tags/v1 peeled:" + A + b"\n",
       b"unborn refs/heads/unborn-x\n", C + b" refs/x future:1\n", FLUSH)),
    (FetchRequest, {}, FetchRequest(
        [b"agent=git/2.39.5"], wants=[A], want_refs=[b"refs/heads/main"], haves=[B, C], done=True,
        thin_pack=True, no_progress=True, include_tag=True, ofs_delta=True, sideband_all=True,
        wait_for_done=True, shallows=[C], deepen=2, deepen_relative=True, deepen_since=5,
        deepen_not=[b"v0"], filter=b"blob:limit=1024", packfile_uris=b"https"),
     P(b"command=fetch", b"agent=git/2.39.5", DELIM, b"thin-pack", b"no-progress", b"include-tag",
       b"ofs-delta", b"sideband-all", b"wait-for-done", b"shallow " + C, b"deepen 2",
       b"deepen-since 5", b"deepen-not v0", b"deepen-relative\n", b"filter blob:limit=1024",
       b"packfile-uris https", b"want " + A + b"\n", b"want-ref refs/heads/main\n",
       b"have " + B + b"\n", b"have " + C + b"\n", b"done\n", FLUSH)),
    (FetchResponse, {}, FetchResponse(acknowledgments=Acknowledgments(acks=[A, B])),
     P(b"acknowledgments\n", b"ACK " + A + b"\n", b"ACK " + B + b"\n", FLUSH)),
    (FetchResponse, {}, FetchResponse(acknowledgments=Acknowledgments(nak=True)),
     P(b"acknowledgments\n", b"NAK\n", FLUSH)),
    (FetchResponse, {}, FetchResponse(
        acknowledgments=Acknowledgments(acks=[A], ready=True),
        shallow_info=ShallowInfo([B], [C]), wanted_refs=[(A, b"refs/heads/main")],
        packfile_uris=[(b"e" * 40, b"https://example.com/p.pack")],
        packfile=[b"\x01PACK\n", b"\x02progress\n"]),
     P(b"acknowledgments\n", b"ACK " + A + b"\n", b"ready\n", DELIM, b"shallow-info\n",
       b"shallow " + B, b"unshallow " + C, DELIM, b"wanted-refs\n", A + b" refs/heads/main\n",
       DELIM, b"packfile-uris\n", b"e" * 40 + b" https://example.com/p.pack\n", DELIM,
       b"packfile\n", b"\x01PACK\n", b"\x02progress\n", FLUSH)),
    (FetchResponse, {}, FetchResponse(packfile=[]), P(b"packfile\n", FLUSH)),
]


def case(cls, n=0):
    """The n-th message of class ``cls`` in CASES."""
    return [c[2] for c in CASES if c[0] is cls][n]


@pytest.mark.parametrize("cls,opts,msg,wire", CASES,
                         ids=[f"{i}-{c[0].__name__}" for i, c in enumerate(CASES)])
def test_encode_and_decode_three_ways(cls, opts, msg, wire):
    assert msg.encode() == wire
    decoded = three_ways(cls, wire, **opts)
    assert decoded == msg
    assert decoded.encode() == wire
    assert cls.from_pkts(msg.pkts(), **opts) == msg


def test_decoded_line_endings_are_preserved():
    # receivers accept lines without LF; the round trip keeps them as they came
    wire = P(b"want " + A, b"deepen 1\n", FLUSH)
    msg = UploadRequest.decode(wire)
    assert msg == UploadRequest(wants=[A], deepen=1)
    assert msg.encode() == wire
    assert UploadRequest(wants=[A], deepen=1).encode() == P(b"want " + A + b"\n", b"deepen 1", FLUSH)


def test_ids_lowercased_and_checked():
    msg = Ack.decode(P(b"ACK " + A.upper() + b"\n"))
    assert msg.oid == A
    with pytest.raises(InvalidObjectId):
        Ack(b"xyz").encode()
    with pytest.raises(InvalidRefName):
        RefAdvertisement(refs=[AdvertisedRef(A, b"bad name")]).encode()
    with pytest.raises(ValueError):
        PushOptions([b"a\nb"]).encode()


def test_push_command_properties():
    assert PushCommand(Z, A, b"r").is_create and not PushCommand(Z, A, b"r").is_delete
    assert PushCommand(A, Z, b"r").is_delete
    with pytest.raises(ValueError):
        PushCommand(A, S256, b"r").line()


def test_push_request_without_space_after_nul():
    wire = P(Z + b" " + A + b" refs/heads/x\0report-status", FLUSH)
    msg = PushRequest.decode(wire)
    assert msg.capabilities == [b"report-status"]
    assert msg.encode() == wire


def test_advertisement_views():
    adv = case(RefAdvertisement)
    assert adv.as_dict() == {b"HEAD": A, b"refs/heads/main": A, b"refs/tags/v1": B,
                             b"refs/tags/v1^{}": A}
    assert adv.symrefs == {b"HEAD": b"refs/heads/main"}
    assert adv.object_format == b"sha1"
    assert case(RefAdvertisement, 4).haves == [A]


def test_capability_advertisement_views():
    adv = case(CapabilityAdvertisement)
    assert adv.get(b"agent") == b"git/2.39.5"
    assert adv.get(b"server-option") == b""
    assert adv.get(b"nope") is None
    assert adv.features(b"fetch") == {b"shallow", b"wait-for-done"}
    assert adv.features(b"object-info") == set()


def test_git_request_version():
    assert case(GitRequest).protocol_version == 2
    assert case(GitRequest, 1).protocol_version == 0
    assert case(GitRequest, 2).protocol_version == 1


def test_report_status_views():
    rs = case(ReportStatus)
    assert rs.unpack_ok and not rs.ok
    assert not case(ReportStatus, 1).unpack_ok


def test_fetch_response_streaming():
    wire = CASES[-2][3]
    d = FetchResponse.decoder(stream=True)
    d.feed(wire)
    assert d.done
    assert d.result.packfile == [] and d.result.wanted_refs == [(A, b"refs/heads/main")]
    assert d.unused == pkt_line(b"\x01PACK\n") + pkt_line(b"\x02progress\n") + b"0000"
    full = CASES[-2][2]
    assert full.encode_header() + d.unused == wire


def test_fetch_response_sideband_all():
    inner = [b"acknowledgments\n", b"ACK " + A + b"\n", b"ready\n"]
    wire = b"".join(pkt_line(b"\x01" + x) for x in inner) + mux(2, b"keepalive") + b"0001" + \
        pkt_line(b"\x01packfile\n") + pkt_line(b"\x01PACK") + b"0000"
    progress = []
    msg = FetchResponse.decode(wire, sideband_all=True, progress=progress.append)
    assert msg.acknowledgments == Acknowledgments(acks=[A], ready=True)
    assert msg.packfile == [b"\x01PACK"] and progress == [b"keepalive"]
    with pytest.raises(SidebandFatalError):
        FetchResponse.decode(mux(3, b"unknown ref refs/heads/x"), sideband_all=True)


BAD = [
    (RefAdvertisement, P(b"version 2\n", FLUSH)),
    (RefAdvertisement, P(b"version 3\n", FLUSH)),
    (RefAdvertisement, P(A + b"HEAD\0caps\n", FLUSH)),
    (RefAdvertisement, P(b"xyz HEAD\0caps\n", FLUSH)),
    (RefAdvertisement, P(A + b" HEAD\0caps\n", A + b" refs/x\0more\n", FLUSH)),
    (RefAdvertisement, P(A + b" HEAD\0caps\n", A + b" refs/x^{}\n", FLUSH)),
    (RefAdvertisement, P(A + b" refs/x\0caps\n", S256 + b" refs/y\n", FLUSH)),
    (RefAdvertisement, P(A + b" refs/x\0object-format=sha256\n", FLUSH)),
    (RefAdvertisement, P(A + b" capabilities^{}\0caps\n", FLUSH)),
    (RefAdvertisement, P(Z + b" capabilities^{}\0caps\n", A + b" refs/x\n", FLUSH)),
    (RefAdvertisement, P(A + b" HEAD\0caps\n", b"shallow " + A, A + b" refs/x\n", FLUSH)),
    (RefAdvertisement, P(b"# service=git-upload-pack\n", A + b" HEAD\0\n", FLUSH)),
    (RefAdvertisement, P(A + b" HEAD\0caps\n", DELIM)),
    (UploadRequest, P(b"want " + A + b" caps\n", b"want " + B + b" more\n", FLUSH)),
    (UploadRequest, P(b"want " + A + b"\n", b"deepen +1", FLUSH)),
    (UploadRequest, P(b"want " + A + b"\n", b"deepen 0", FLUSH)),
    (UploadRequest, P(b"want " + A + b"\n", b"deepen 1", b"deepen 2", FLUSH)),
    (UploadRequest, P(b"want " + A + b"\n", b"frobnicate x", FLUSH)),
    (UploadRequest, P(b"want", FLUSH)),
    (UploadRequest, P(b"want " + A[:39] + b"\n", FLUSH)),
    (UploadHaves, P(b"have " + A + b"\n", b"want " + B + b"\n")),
    (UploadHaves, P(b"have " + A + b"\n", DELIM)),
    (Ack, P(b"NAK\n")),
    (Nak, P(b"ACK " + A + b"\n")),
    (AckLine, P(b"ACK " + A + b" maybe\n")),
    (AckLine, P(b"ACK\n")),
    (AckLine, P(FLUSH)),
    (ShallowUpdate, P(b"unshallow " + A, b"shallow " + B, FLUSH)),
    (ShallowUpdate, P(b"deepen " + A, FLUSH)),
    (PushRequest, P(Z + b" " + A + b"\0caps", FLUSH)),
    (PushRequest, P(Z + b" " + A + b" refs/x\0caps", Z + b" " + A + b" refs/y\0caps", FLUSH)),
    (PushRequest, P(b"push-cert\0caps\n", FLUSH)),
    (PushRequest, P(Z + b" " + S256 + b" refs/x", FLUSH)),
    (ReportStatus, P(b"unpack\n", FLUSH)),
    (ReportStatus, P(b"ok refs/x\n", FLUSH)),
    (ReportStatus, P(b"unpack ok\n", b"option forced-update\n", FLUSH)),
    (ReportStatus, P(b"unpack ok\n", b"maybe refs/x\n", FLUSH)),
    (GitRequest, P(b"git-upload-pack /x")),
    (GitRequest, P(b"git-upload-pack /x\0host=h\0junk\0")),
    (CapabilityAdvertisement, P(b"version 1\n", FLUSH)),
    (CapabilityAdvertisement, P(b"version 2\n", b"bad key=1\n", FLUSH)),
    (CommandRequest, P(b"frob\n", FLUSH)),
    (LsRefsRequest, P(b"command=fetch\n", DELIM, FLUSH)),
    (LsRefsRequest, P(b"command=ls-refs\n", DELIM, b"frob\n", FLUSH)),
    (LsRefsResponse, P(b"junk\n", FLUSH)),
    (LsRefsResponse, P(A + b" refs/x peeled:zz\n", FLUSH)),
    (FetchRequest, P(b"command=fetch", DELIM, b"want-ref\n", FLUSH)),
    (FetchRequest, P(b"command=fetch", DELIM, b"deepen -1", FLUSH)),
    (FetchResponse, P(b"packfile\n", DELIM)),
    (FetchResponse, P(b"shallow-info\n", b"shallow " + A, FLUSH)),
    (FetchResponse, P(b"wanted-refs\n", DELIM, b"acknowledgments\n", FLUSH)),
    (FetchResponse, P(b"acknowledgments\n", b"NAK\n", b"ACK " + A + b"\n", FLUSH)),
    (FetchResponse, P(b"bogus\n", FLUSH)),
    (FetchResponse, P(b"acknowledgments\n", b"NAK\n", RESPONSE_END)),
    (FetchResponse, P(b"shallow-info\n", b"unshallow " + A, b"shallow " + B, DELIM, b"packfile\n", FLUSH)),
    (FetchResponse, P(b"wanted-refs\n", A + b"refs/x\n", DELIM, b"packfile\n", FLUSH)),
    (RefAdvertisement, P(b"# service=git upload\n", FLUSH, FLUSH)),
    (RefAdvertisement, P(b"shallow " + A + b"\n", FLUSH)),
    (RefAdvertisement, P(Z + b" capabilities^{}\0\n", FLUSH)),
    (PushRequest, P(Z + b" " + A + b" refs/x", b"shallow " + A, FLUSH)),
    (ReportStatus, P(b"unpack ok\n", b"ok\n", FLUSH)),
    (ReportStatus, P(b"unpack ok\n", b"ok refs/x\0y\n", FLUSH)),
    (UploadRequest, P(b"deepen-since 1", b"deepen-since 2", FLUSH)),
    (UploadRequest, P(b"deepen-not a b", FLUSH)),
    (UploadRequest, P(b"filter blob:none", b"filter tree:0", FLUSH)),
    (GitRequest, P(b"git-upload-pack /x\0\0\0")),
    (CapabilityAdvertisement, P(b"version 2\n", b"agent=a\0b\n", FLUSH)),
    (LsRefsResponse, P(A + b" refs/x \n", FLUSH)),
    (FetchRequest, P(b"command=fetch", DELIM, b"deepen 0", FLUSH)),
    (FetchRequest, P(b"command=fetch", DELIM, b"frob x", FLUSH)),
]


@pytest.mark.parametrize("cls,wire", BAD, ids=[f"{i}-{c[0].__name__}" for i, c in enumerate(BAD)])
def test_malformed_input_raises_typed_errors(cls, wire):
    with pytest.raises(ProtocolError):
        cls.decode(wire)
    d = cls.decoder()
    with pytest.raises(ProtocolError):
        for i in range(len(wire)):
            d.feed(wire[i:i + 1])
        d.finish()


def test_err_packet_in_server_message():
    for cls in (RefAdvertisement, AckLine, ShallowUpdate, ReportStatus, CapabilityAdvertisement,
                LsRefsResponse, FetchResponse):
        with pytest.raises(ErrPktError) as e:
            cls.decode(P(b"ERR access denied or repository not exported: /nope.git"))
        assert e.value.remote_message == "access denied or repository not exported: /nope.git"
    # a push option may legitimately start with "ERR "
    assert PushOptions.decode(P(b"ERR x", FLUSH)).options == [b"ERR x"]


def test_incomplete_and_overfed():
    with pytest.raises(UnexpectedEOF):
        RefAdvertisement.decode(P(A + b" HEAD\0caps\n"))
    with pytest.raises(UnexpectedMessage):
        Nak.decode(P(b"NAK\n") + b"00")
    with pytest.raises(UnexpectedMessage):
        Nak.from_pkts([b"NAK\n", b"NAK\n"])
    d = Nak.decoder()
    d.feed_pkt(b"NAK\n")
    with pytest.raises(UnexpectedMessage):
        d.feed_pkt(b"NAK\n")


@pytest.mark.parametrize("wire", [
    P(b"unpack ok\n", b"ng refs/x bad\n", b"option forced-update\n", FLUSH),
    P(b"unpack ok\n", b"ok refs/x\n", b"option old-oid zz\n", FLUSH),
    P(b"unpack ok\n", b"ok refs/x\n", b"option frob\n", FLUSH),
])
def test_report_status_v2_malformed(wire):
    with pytest.raises(UnexpectedMessage):
        ReportStatus.decode(wire, v2=True)


@pytest.mark.parametrize("make", [
    lambda: Ack(A, b"maybe"),
    lambda: ReportStatus(b"ok", [RefStatus(b"r", b"bad", [(b"forced-update", None)])]),
    lambda: ReportStatus(b"ok", [RefStatus(b"r", None, [(b"frob", None)])]),
    lambda: ReportStatus(b"o\nk"),
    lambda: GitRequest(b"git upload", b"/x"),
    lambda: GitRequest(b"git-upload-pack", b""),
    lambda: GitRequest(b"git-upload-pack", b"/x", b"h\0"),
    lambda: GitRequest(b"git-upload-pack", b"/x", None, [b""]),
    lambda: UploadRequest(wants=[A], deepen=0),
    lambda: UploadRequest(wants=[A], deepen=True),
    lambda: FetchRequest(deepen=0),
    lambda: FetchResponse(acknowledgments=Acknowledgments(acks=[A], nak=True)),
    lambda: CapabilityAdvertisement([b"bad key"]),
    lambda: PushRequest([PushCommand(A, B, b"r")], [b"bad cap"]),
    lambda: UploadRequest(wants=[A], deepen_not=[b"a b"]),
    lambda: PushOptions([b"x\0"]),
])
def test_encoders_refuse_values_that_break_framing(make):
    with pytest.raises((ValueError, ProtocolError)):
        make().encode()


def test_check_text_type_and_encode_header():
    with pytest.raises(TypeError):
        PushOptions(["str"]).encode()
    with pytest.raises(ValueError):
        FetchResponse().encode_header()
    with pytest.raises(TypeError):
        Nak.decoder().feed_pkt("NAK")


def test_as_dict_skips_have_lines():
    adv = RefAdvertisement(refs=[AdvertisedRef(A, b".have"), AdvertisedRef(B, b"refs/x")],
                           capabilities=[b"ofs-delta"])
    assert adv.as_dict() == {b"refs/x": B}
