"""Property tests: arbitrary input only ever yields typed errors; messages round-trip."""

from io import BytesIO

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from puregit.errors import HangupException, ProtocolError
from puregit.pktline import DELIM, FLUSH, NEED_DATA, RESPONSE_END, PktLineDecoder, pkt_line
from puregit.protocol import Protocol
from puregit.sideband import SidebandDemuxer
from puregit.wire import (
    Ack, AckLine, Acknowledgments, AdvertisedRef, CapabilityAdvertisement, CommandRequest,
    FetchRequest, FetchResponse, GitRequest, LsRef, LsRefsRequest, LsRefsResponse, Nak,
    PushCommand, PushOptions, PushRequest, RefAdvertisement, RefStatus, ReportStatus,
    ShallowInfo, ShallowUpdate, UploadHaves, UploadRequest,
)
from wire_testlib import fixture

FUZZ = settings(max_examples=150, deadline=2000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUND = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

DECODERS = [
    (RefAdvertisement, {}), (UploadRequest, {}), (UploadHaves, {}), (AckLine, {}), (Ack, {}),
    (Nak, {}), (ShallowUpdate, {}), (PushRequest, {}), (PushOptions, {}), (ReportStatus, {}),
    (ReportStatus, {"v2": True}), (GitRequest, {}), (CapabilityAdvertisement, {}),
    (CommandRequest, {}), (LsRefsRequest, {}), (LsRefsResponse, {}), (FetchRequest, {}),
    (FetchResponse, {}), (FetchResponse, {"stream": True}),
    (FetchResponse, {"sideband_all": True}),
]
_BUGS = (ValueError, IndexError, KeyError, TypeError, UnicodeError, AttributeError)


def _typed_only(exc: BaseException) -> None:
    assert isinstance(exc, ProtocolError), repr(exc)
    # the decoder's safety net must not have been what caught it
    assert not isinstance(exc.__cause__, _BUGS), repr(exc.__cause__)


def _run_decoders(blob: bytes, chunk: int) -> None:
    for cls, opts in DECODERS:
        d = cls.decoder(**opts)
        try:
            for i in range(0, len(blob), chunk):
                d.feed(blob[i:i + chunk])
                if d.done:
                    break
        except Exception as exc:  # noqa: BLE001 - checking the type is the point
            _typed_only(exc)


# --- tokens that look like the protocol, to get past the first checks ------------
OID = st.sampled_from([b"a" * 40, b"0" * 40, b"B" * 40, b"c" * 64, b"a" * 39, b"g" * 40])
WORD = st.sampled_from([
    b"want", b"have", b"done", b"shallow", b"unshallow", b"deepen", b"deepen-since", b"deepen-not",
    b"filter", b"ACK", b"NAK", b"continue", b"common", b"ready", b"unpack", b"ok", b"ng",
    b"option", b"refname", b"old-oid", b"new-oid", b"forced-update", b"HEAD", b"refs/heads/x",
    b"capabilities^{}", b"refs/tags/v^{}", b".have", b"version", b"1", b"2", b"command=fetch",
    b"command=ls-refs", b"peel", b"symrefs", b"unborn", b"ref-prefix", b"symref-target:x",
    b"peeled:", b"acknowledgments", b"shallow-info", b"wanted-refs", b"packfile-uris",
    b"packfile", b"ERR", b"# service=git-upload-pack", b"git-upload-pack", b"host=x",
    b"version=2", b"object-format=sha256", b"push-cert", b"-1", b"+1", b"0", b"99999999999",
    b"want-ref", b"\x01", b"\x02", b"\x03", b"\x04",
])
SEP = st.sampled_from([b" ", b"\0", b"\n", b"", b"=", b":"])
LINE = st.lists(st.one_of(WORD, OID, SEP, st.binary(max_size=6)), max_size=8).map(b"".join)
PKT = st.one_of(LINE, st.sampled_from([FLUSH, DELIM, RESPONSE_END]))
PKTS = st.lists(PKT, max_size=14)


def _frame(pkts) -> bytes:
    return b"".join(pkt_line(p[:65516] if isinstance(p, bytes) else p) for p in pkts)


@FUZZ
@given(st.binary(max_size=300), st.integers(1, 7))
def test_pkt_decoder_arbitrary_bytes(blob, chunk):
    d = PktLineDecoder()
    try:
        for i in range(0, len(blob), chunk):
            d.feed(blob[i:i + chunk])
            while d.next_pkt() is not NEED_DATA:
                pass
    except Exception as exc:  # noqa: BLE001
        _typed_only(exc)


@FUZZ
@given(st.binary(max_size=200), st.integers(1, 5))
def test_message_decoders_arbitrary_bytes(blob, chunk):
    _run_decoders(blob, chunk)


@FUZZ
@given(PKTS, st.integers(1, 9))
def test_message_decoders_protocol_like_packets(pkts, chunk):
    _run_decoders(_frame(pkts), chunk)


FIXTURE_NAMES = ["clone-v0.server", "clone-v0.client", "fetch-v2.server", "fetch-v2.client",
                 "push-update.client", "push-report-status.server", "deepen-v0.server",
                 "push-empty.server", "shallow-v2.server", "daemon-request-v2.client"]


@FUZZ
@given(st.sampled_from(FIXTURE_NAMES), st.lists(st.tuples(st.integers(0, 2000),
                                                        st.integers(0, 255)), max_size=4),
       st.integers(0, 2000), st.integers(1, 64))
def test_message_decoders_mutated_recordings(name, flips, cut, chunk):
    blob = bytearray(fixture(name))
    for pos, value in flips:
        blob[pos % len(blob)] = value
    _run_decoders(bytes(blob[:max(cut, 1)] if cut < len(blob) else blob), chunk)


@FUZZ
@given(st.binary(max_size=300))
def test_protocol_adapter_arbitrary_bytes(blob):
    proto = Protocol(BytesIO(blob).read, BytesIO().write)
    try:
        for _ in range(len(blob) + 1):
            proto.read_pkt()
        raise AssertionError("more packets than bytes")
    except HangupException:
        pass
    except Exception as exc:  # noqa: BLE001
        _typed_only(exc)


@FUZZ
@given(PKTS, st.integers(1, 9))
def test_sideband_demuxer_arbitrary_packets(pkts, chunk):
    blob = _frame(pkts)
    d = SidebandDemuxer(progress=lambda b: None)
    try:
        for i in range(0, len(blob), chunk):
            d.feed(blob[i:i + chunk])
    except Exception as exc:  # noqa: BLE001
        _typed_only(exc)


# --- round trips of generated messages ------------------------------------------
HEX = st.sampled_from([40, 64]).flatmap(
    lambda n: st.text("0123456789abcdef", min_size=n, max_size=n).map(str.encode))
SAFE = st.characters(min_codepoint=33, max_codepoint=126)
NAME = st.text(SAFE, min_size=1, max_size=12).map(str.encode).filter(
    lambda n: not n.endswith(b"^{}"))
TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12).map(str.encode)
CAP = st.one_of(st.sampled_from([b"multi_ack", b"thin-pack", b"side-band-64k", b"ofs-delta",
                                 b"agent=git/2.39.5", b"symref=HEAD:refs/heads/main"]),
                st.text("abcdefghijklmnopqrstuvwxyz-_", min_size=1, max_size=8).map(str.encode))
KEY = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8).map(str.encode)
V2CAP = st.tuples(KEY, st.one_of(st.none(), TEXT)).map(
    lambda kv: kv[0] if kv[1] is None else kv[0] + b"=" + kv[1])


@st.composite
def advertisements(draw):
    n = draw(st.sampled_from([40, 64]))
    oid = st.text("0123456789abcdef", min_size=n, max_size=n).map(str.encode)
    refs = draw(st.lists(st.builds(AdvertisedRef, oid, NAME.filter(
        lambda x: x != b"capabilities^{}"), st.one_of(st.none(), oid)), max_size=4))
    caps = draw(st.lists(CAP, max_size=4))
    if n == 64 and (refs or caps):
        caps = caps + [b"object-format=sha256"]
    shallows = draw(st.lists(oid, max_size=2)) if refs else []
    return RefAdvertisement(refs=refs, capabilities=caps, shallows=shallows,
                            version=draw(st.sampled_from([None, 1])),
                            service=draw(st.sampled_from([None, b"git-upload-pack"])))


@st.composite
def upload_requests(draw):
    wants = draw(st.lists(HEX, max_size=3))
    return UploadRequest(
        wants=wants, capabilities=draw(st.lists(CAP, max_size=3)) if wants else [],
        shallows=draw(st.lists(HEX, max_size=2)),
        deepen=draw(st.one_of(st.none(), st.integers(1, 2**31))),
        deepen_since=draw(st.one_of(st.none(), st.integers(0, 2**40))),
        deepen_not=draw(st.lists(NAME, max_size=2)),
        filter=draw(st.one_of(st.none(), TEXT.filter(bool))))


@st.composite
def push_requests(draw):
    n = draw(st.sampled_from([40, 64]))
    oid = st.text("0123456789abcdef", min_size=n, max_size=n).map(str.encode)
    cmds = draw(st.lists(st.builds(PushCommand, oid, oid, NAME), max_size=3))
    return PushRequest(commands=cmds, capabilities=draw(st.lists(CAP, max_size=3)) if cmds else [],
                       shallows=draw(st.lists(oid, max_size=2)))


@st.composite
def report_statuses(draw):
    refs = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            opts = draw(st.lists(st.one_of(
                st.tuples(st.just(b"refname"), NAME), st.tuples(st.just(b"old-oid"), HEX),
                st.tuples(st.just(b"new-oid"), HEX), st.just((b"forced-update", None))),
                max_size=3))
            refs.append(RefStatus(draw(NAME), None, opts))
        else:
            refs.append(RefStatus(draw(NAME), draw(TEXT.filter(bool))))
    return ReportStatus(draw(TEXT.filter(bool)), refs)


@st.composite
def fetch_requests(draw):
    b = st.booleans()
    return FetchRequest(
        capabilities=draw(st.lists(V2CAP, max_size=2)), wants=draw(st.lists(HEX, max_size=2)),
        want_refs=draw(st.lists(NAME, max_size=2)), haves=draw(st.lists(HEX, max_size=2)),
        done=draw(b), thin_pack=draw(b), no_progress=draw(b), include_tag=draw(b),
        ofs_delta=draw(b), sideband_all=draw(b), wait_for_done=draw(b),
        shallows=draw(st.lists(HEX, max_size=2)),
        deepen=draw(st.one_of(st.none(), st.integers(1, 2**31))), deepen_relative=draw(b),
        deepen_since=draw(st.one_of(st.none(), st.integers(0, 2**40))),
        deepen_not=draw(st.lists(NAME, max_size=2)),
        filter=draw(st.one_of(st.none(), TEXT.filter(bool))),
        packfile_uris=draw(st.one_of(st.none(), NAME)))


@st.composite
def fetch_responses(draw):
    acks = None
    if draw(st.booleans()):
        nak = draw(st.booleans())
        acks = Acknowledgments([] if nak else draw(st.lists(HEX, max_size=3)), nak,
                               draw(st.booleans()))
    rest = draw(st.booleans()) or acks is None
    if not rest:
        return FetchResponse(acknowledgments=acks)
    opt = lambda s: draw(st.one_of(st.none(), s))  # noqa: E731
    return FetchResponse(
        acknowledgments=acks,
        shallow_info=opt(st.builds(ShallowInfo, st.lists(HEX, max_size=2),
                                   st.lists(HEX, max_size=2))),
        wanted_refs=opt(st.lists(st.tuples(HEX, NAME), max_size=2)),
        packfile_uris=opt(st.lists(st.tuples(NAME, NAME), max_size=2)),
        packfile=draw(st.lists(st.tuples(st.integers(1, 3), st.binary(max_size=20)).map(
            lambda t: bytes([t[0]]) + t[1]), max_size=3)))


ATTR = NAME.filter(lambda a: not a.startswith((b"symref-target:", b"peeled:")))

MESSAGES = st.one_of(
    advertisements(), upload_requests(),
    st.builds(UploadHaves, st.lists(HEX, max_size=3), st.booleans()),
    st.builds(Ack, HEX, st.sampled_from([None, b"continue", b"common", b"ready"])),
    st.just(Nak()),
    st.builds(ShallowUpdate, st.lists(HEX, max_size=3), st.lists(HEX, max_size=3)),
    push_requests(), st.builds(PushOptions, st.lists(TEXT, max_size=3)),
    report_statuses(),
    st.builds(GitRequest, st.sampled_from([b"git-upload-pack", b"git-receive-pack"]),
              TEXT.filter(bool), st.one_of(st.none(), TEXT),
              st.lists(TEXT.filter(bool), max_size=2)),
    st.builds(CapabilityAdvertisement, st.lists(V2CAP, max_size=4)),
    st.builds(CommandRequest, KEY, st.lists(V2CAP, max_size=2), st.lists(TEXT, max_size=3)),
    st.builds(LsRefsRequest, st.lists(V2CAP, max_size=2), st.booleans(), st.booleans(),
              st.booleans(), st.lists(NAME, max_size=2)),
    st.builds(LsRefsResponse, st.lists(st.builds(
        LsRef, st.one_of(st.none(), HEX), NAME, st.one_of(st.none(), NAME),
        st.one_of(st.none(), HEX), st.lists(ATTR, max_size=2)), max_size=3)),
    fetch_requests(), fetch_responses(),
)


@ROUND
@given(MESSAGES, st.integers(1, 9))
def test_generated_messages_round_trip(msg, chunk):
    cls = type(msg)
    opts = {"v2": True} if cls is ReportStatus else {}
    wire = msg.encode()
    decoded = cls.decode(wire, **opts)
    assert decoded == msg
    assert decoded.encode() == wire
    d = cls.decoder(**opts)
    for i in range(0, len(wire), chunk):
        d.feed(wire[i:i + chunk])
    assert d.done and d.result == msg and d.unused == b""
    if cls in (Ack, Nak):
        assert AckLine.decode(wire) == msg
