"""upload-pack: serve fetches and clones (protocol v0/v1, and v2 in upload_pack_v2).

:class:`UploadPack` is the service as state fed parsed messages: it returns
the bytes to send and raises :class:`UploadPackError` (whose text goes after
``ERR``) instead of writing errors itself.  It follows cgit's
``upload-pack.c``: the same advertisement, the same ACK/NAK rules for
``multi_ack``/``multi_ack_detailed``/``no-done``, the same shallow rules.
:class:`UploadPackHandler` is the thin blocking loop that moves bytes between
a :class:`puregit.protocol.Protocol` and that state, in stateful mode
(git://, ssh, pipes) or one round per call in stateless-RPC mode (HTTP).
"""

from __future__ import annotations

import logging
import time
from operator import itemgetter
from typing import Callable, Iterable, Iterator, Optional

from .backend import Handler
from .capabilities import (
    CAPABILITY_ALLOW_REACHABLE_SHA1_IN_WANT, CAPABILITY_ALLOW_TIP_SHA1_IN_WANT,
    CAPABILITY_DEEPEN_NOT, CAPABILITY_DEEPEN_RELATIVE, CAPABILITY_DEEPEN_SINCE,
    CAPABILITY_FILTER, CAPABILITY_INCLUDE_TAG, CAPABILITY_MULTI_ACK,
    CAPABILITY_MULTI_ACK_DETAILED, CAPABILITY_NO_DONE, CAPABILITY_NO_PROGRESS,
    CAPABILITY_OFS_DELTA, CAPABILITY_SHALLOW, CAPABILITY_SIDE_BAND, CAPABILITY_SIDE_BAND_64K,
    CAPABILITY_THIN_PACK, capability_agent, capability_object_format, capability_symref,
    extract_capability_names,
)
from . import clone_memo
from .gc_pause import gc_paused
from .errors import (
    HangupException, MissingObjectError, ObjectFormatError, ProtocolError, PuregitError,
    ServerError,
)
from .graph import COMMIT, TAG, tag_target
from .pack_writer import generate_pack_chunks, iter_pack_file, single_pack_with
from .pktline import FLUSH, pkt_line
from .sideband import SIDE_BAND_64K_MAX_DATA, SIDE_BAND_MAX_DATA, iter_mux
from .upload_walk import (
    INFINITE_DEPTH, CommitGraph, FilterError, ObjectFilter, ObjectWalk, bitmap_plan,
    commits_since, shallow_boundary,
)
from .wire.advertisement import AdvertisedRef, RefAdvertisement
from .wire.shallow import ShallowUpdate
from .wire.upload_request import UploadHaves, UploadRequest

__all__ = ["UploadPack", "UploadPackError", "UploadPackHandler", "RefSnapshot",
           "UploadPolicy", "PackSender", "KEEPALIVE_SECONDS"]

log = logging.getLogger("puregit.server")

KEEPALIVE_SECONDS = 5.0
#: Above this many objects, objects without a reusable delta are sent whole.
DELTA_SEARCH_MAX_OBJECTS = 20000
_HEADS = b"refs/"


class UploadPackError(ServerError):
    """A request upload-pack refuses; ``str(exc)`` is the text after ``ERR ``."""


# --- configuration and refs ------------------------------------------------------

def _cfg_bool(config, section: bytes, name: bytes, default: bool = False) -> bool:
    try:
        v = config.get_boolean((section,), name, default)
    except (KeyError, ValueError, PuregitError):
        return default
    return default if v is None else bool(v)


def _cfg_multi(config, section: bytes, name: bytes) -> list:
    try:
        return list(config.get_multivalue((section,), name))
    except (KeyError, ValueError, PuregitError, AttributeError):
        return []


class UploadPolicy:
    """What the repository's config allows (``uploadpack.*``, ``transfer.hideRefs``)."""

    def __init__(self, config=None) -> None:
        c = config
        self.allow_tip = self.allow_reachable = self.allow_any = False
        self.allow_filter = False
        self.allow_ref_in_want = False
        self.hide_refs: list = []
        self.keepalive = KEEPALIVE_SECONDS
        self.tree_max_depth: Optional[int] = None
        if c is None:
            return
        self.allow_any = _cfg_bool(c, b"uploadpack", b"allowanysha1inwant")
        self.allow_tip = self.allow_any or _cfg_bool(c, b"uploadpack", b"allowtipsha1inwant")
        self.allow_reachable = self.allow_any or _cfg_bool(
            c, b"uploadpack", b"allowreachablesha1inwant")
        self.allow_filter = _cfg_bool(c, b"uploadpack", b"allowfilter")
        self.allow_ref_in_want = _cfg_bool(c, b"uploadpack", b"allowrefinwant")
        self.hide_refs = (_cfg_multi(c, b"transfer", b"hiderefs")
                          + _cfg_multi(c, b"uploadpack", b"hiderefs"))
        try:
            ka = c.get_int((b"uploadpack",), b"keepalive", None)
            if ka is not None:
                self.keepalive = float(ka) if ka > 0 else 0.0
            md = c.get_int((b"uploadpackfilter", b"tree"), b"maxdepth", None)
            self.tree_max_depth = md
        except (KeyError, ValueError, PuregitError, TypeError):
            pass

    def is_hidden(self, name: bytes) -> bool:
        hidden = False
        for pattern in self.hide_refs:
            neg = pattern.startswith(b"!")
            p = pattern[1:] if neg else pattern
            p = p.lstrip(b"^").rstrip(b"/")
            if name == p or name.startswith(p + b"/"):
                hidden = not neg
        return hidden


class RefSnapshot:
    """The refs at the start of a request: sorted, HEAD and hidden tips apart.

    Peeled values and symrefs other than HEAD are computed on first use: a
    v2 ``fetch`` or an ``ls-refs`` with ``ref-prefix`` needs few of them.
    """

    def __init__(self, repo, policy: UploadPolicy) -> None:
        refs = repo.refs
        raw = refs.as_dict()
        self.head: Optional[bytes] = raw.pop(b"HEAD", None)
        self._symrefs: Optional[dict] = None
        self._head_target: Optional[bytes] = None
        try:
            head_raw = refs.read_ref(b"HEAD")
        except PuregitError:
            head_raw = None
        if head_raw is not None and head_raw.startswith(b"ref: "):
            self._head_target = head_raw[5:].strip()
        self.refs: list = []            # [(name, oid)], advertised, sorted bytewise
        self.hidden_tips: set = set()
        for name in sorted(raw):
            if not name.startswith(_HEADS):
                continue
            if policy.is_hidden(name):
                self.hidden_tips.add(raw[name])
            else:
                self.refs.append((name, raw[name]))
        self._repo = repo
        self._peeled: dict = {}
        self._peeled_tips: Optional[set] = None
        self.tips = {oid for _, oid in self.refs}
        if self.head is not None:
            self.tips.add(self.head)

    @property
    def symrefs(self) -> dict:
        if self._symrefs is None:
            try:
                self._symrefs = dict(self._repo.refs.get_symrefs())
            except PuregitError:
                self._symrefs = {}
            if self._head_target is not None:
                self._symrefs[b"HEAD"] = self._head_target
        return self._symrefs

    def peeled(self, name: bytes) -> Optional[bytes]:
        if name in self._peeled:
            return self._peeled[name]
        oid = self._by_name.get(name)
        peeled = None
        if oid is not None:
            try:
                peeled = self._repo.refs.get_peeled(name)
            except PuregitError:
                peeled = None
            if peeled is None:
                peeled = _peel(self._repo.object_store, oid)
        self._peeled[name] = peeled
        return peeled

    @property
    def _by_name(self) -> dict:
        d = getattr(self, "_by_name_cache", None)
        if d is None:
            d = self._by_name_cache = dict(self.refs)
        return d

    @property
    def peeled_tips(self) -> set:
        if self._peeled_tips is None:
            self._peeled_tips = {p for p in (self.peeled(n) for n, _ in self.refs)
                                 if p is not None}
        return self._peeled_tips

    def head_target(self) -> Optional[bytes]:
        return self._head_target


def _peel(store, oid: bytes) -> Optional[bytes]:
    sha = oid
    for _ in range(64):
        try:
            type_num, body = store.get_raw(sha)
        except (KeyError, PuregitError):
            return None
        if type_num != TAG:
            return sha
        sha = tag_target(body)[0]
    return None


def read_shallow_file(repo) -> set:
    """The serving repository's own shallow commits (``$GIT_DIR/shallow``)."""
    get = getattr(repo, "get_named_file", None)
    f = get("shallow") if get else None
    if f is None:
        return set()
    with f:
        return {line.strip() for line in f.read().splitlines() if line.strip()}


# --- the state --------------------------------------------------------------------

class UploadPack:
    """upload-pack's decisions for one connection (v0/v1)."""

    def __init__(self, repo, *, stateless_rpc: bool = False, protocol_version: int = 0,
                 agent: Optional[bytes] = None) -> None:
        self.repo = repo
        self.store = repo.object_store
        self.stateless_rpc = stateless_rpc
        self.protocol_version = protocol_version
        try:
            config = repo.get_config()
        except PuregitError:
            config = None
        self.policy = UploadPolicy(config)
        self.agent = agent
        self.snapshot = RefSnapshot(repo, self.policy)
        self.graph = CommitGraph(self.store.get_raw)
        self.server_shallow = read_shallow_file(repo)
        # request state
        self.capabilities: set = set()
        self.wants: list = []
        self.client_shallows: list = []
        self.new_shallows: list = []
        self.unshallowed: list = []
        self.filter: Optional[ObjectFilter] = None
        self.depth_requested = False
        # negotiation state (cgit's names)
        self.have_obj: list = []
        self.have_set: set = set()
        self.they_have: set = set()
        self.oldest_have: Optional[int] = None
        self.common_known: set = set()
        self.got_common = self.got_other = False
        self.sent_ready = False
        self.last_hex: Optional[bytes] = None

    # -- capabilities and advertisement
    @property
    def object_format(self) -> bytes:
        name = getattr(self.repo.hash_algo, "name", "sha1")
        return name.encode() if isinstance(name, str) else name

    def capability_list(self) -> list:
        caps = [CAPABILITY_MULTI_ACK, CAPABILITY_THIN_PACK, CAPABILITY_SIDE_BAND,
                CAPABILITY_SIDE_BAND_64K, CAPABILITY_OFS_DELTA, CAPABILITY_SHALLOW,
                CAPABILITY_DEEPEN_SINCE, CAPABILITY_DEEPEN_NOT, CAPABILITY_DEEPEN_RELATIVE,
                CAPABILITY_NO_PROGRESS, CAPABILITY_INCLUDE_TAG, CAPABILITY_MULTI_ACK_DETAILED]
        if self.policy.allow_tip:
            caps.append(CAPABILITY_ALLOW_TIP_SHA1_IN_WANT)
        if self.policy.allow_reachable:
            caps.append(CAPABILITY_ALLOW_REACHABLE_SHA1_IN_WANT)
        if self.stateless_rpc:
            caps.append(CAPABILITY_NO_DONE)
        target = self.snapshot.head_target()
        if target is not None:
            try:
                caps.append(capability_symref(b"HEAD", target))
            except PuregitError:
                pass
        if self.policy.allow_filter:
            caps.append(CAPABILITY_FILTER)
        caps.append(capability_object_format(self.object_format))
        caps.append(capability_agent(self.agent))
        return caps

    def advertisement(self) -> bytes:
        snap = self.snapshot
        refs = []
        if snap.head is not None:
            refs.append(AdvertisedRef(snap.head, b"HEAD"))
        for name, oid in snap.refs:
            peeled = snap.peeled(name)
            refs.append(AdvertisedRef(oid, name, peeled if peeled not in (None, oid) else None))
        adv = RefAdvertisement(refs=refs, capabilities=self.capability_list(),
                               shallows=sorted(self.server_shallow),
                               version=1 if self.protocol_version == 1 else None)
        return adv.encode()

    # -- the request
    def has(self, cap: bytes) -> bool:
        return cap in self.capabilities

    @property
    def multi_ack(self) -> int:
        if self.has(CAPABILITY_MULTI_ACK_DETAILED):
            return 2
        return 1 if self.has(CAPABILITY_MULTI_ACK) else 0

    def check_wants(self, wants: Iterable[bytes]) -> list:
        """Validate wants against the policy; return them de-duplicated."""
        wants = list(dict.fromkeys(w.lower() for w in wants))
        snap = self.snapshot
        allowed = snap.tips
        if self.policy.allow_tip:
            allowed = allowed | snap.hidden_tips
        rest = [w for w in wants if w not in allowed]
        if rest:
            allowed = allowed | snap.peeled_tips
            rest = [w for w in rest if w not in allowed]
        if rest:
            if not self.policy.allow_any:
                missing = [w for w in rest if not self.store.contains(w)]
                if missing:
                    raise UploadPackError(f"upload-pack: not our ref {missing[0].decode()}")
            if not self.policy.allow_any and self.protocol_version != 2:
                # v2 takes any object we have, as cgit's upload-pack does
                if not (self.stateless_rpc or self.policy.allow_reachable):
                    raise UploadPackError(f"upload-pack: not our ref {rest[0].decode()}")
                tips = set(allowed) | snap.hidden_tips if self.policy.allow_reachable \
                    else set(allowed)
                targets = set()
                for w in rest:
                    try:
                        peeled, type_num = self.graph.peel(w)
                    except (MissingObjectError, ObjectFormatError):
                        raise UploadPackError(f"upload-pack: not our ref {w.decode()}") from None
                    if type_num != COMMIT:
                        raise UploadPackError(f"upload-pack: not our ref {w.decode()}")
                    targets.add(peeled)
                tip_commits = []
                for t in tips:
                    try:
                        p, ty = self.graph.peel(t)
                    except (MissingObjectError, ObjectFormatError):
                        continue
                    if ty == COMMIT:
                        tip_commits.append(p)
                found = self.graph.is_reachable(targets, tip_commits)
                for w in rest:
                    if self.graph.peel(w)[0] not in found:
                        raise UploadPackError(f"upload-pack: not our ref {w.decode()}")
        return wants

    def receive_request(self, req: UploadRequest) -> bytes:
        """Take the want list; return the shallow update to send (maybe b"")."""
        self.capabilities = extract_capability_names(req.capabilities) \
            if req.capabilities else set()
        self.wants = self.check_wants(req.wants)
        if req.filter is not None:
            if not (self.policy.allow_filter and self.has(CAPABILITY_FILTER)):
                raise UploadPackError("upload-pack: filtering capability not negotiated")
            self.set_filter(req.filter)
        return self.process_shallow(req.shallows, req.deepen, req.deepen_since,
                                    req.deepen_not, self.has(CAPABILITY_DEEPEN_RELATIVE),
                                    v2=False)

    def set_filter(self, spec: bytes) -> None:
        try:
            self.filter = ObjectFilter(spec, self.policy.tree_max_depth)
        except FilterError as e:
            raise UploadPackError(str(e)) from None

    def _want_commits(self) -> list:
        out = []
        for w in self.wants:
            try:
                sha, ty = self.graph.peel(w)
            except (MissingObjectError, ObjectFormatError):
                continue
            if ty == COMMIT:
                out.append(sha)
        return out

    def _expand_ref(self, name: bytes) -> bytes:
        refs = self.repo.refs
        found = []
        for pattern in (b"%s", b"refs/%s", b"refs/tags/%s", b"refs/heads/%s",
                        b"refs/remotes/%s", b"refs/remotes/%s/HEAD"):
            full = pattern % name
            try:
                sha = refs.follow(full)[1]
            except PuregitError:
                sha = None
            if sha is not None:
                found.append(sha)
        if len(found) != 1:
            raise UploadPackError(f"git upload-pack: ambiguous deepen-not: {name.decode(errors='replace')}")
        return found[0]

    def process_shallow(self, shallows, depth, since, deepen_not, relative, v2) -> bytes:
        """cgit's shallow handling; returns a ShallowUpdate (v0) or b""."""
        client = []
        for s in dict.fromkeys(x.lower() for x in shallows):
            try:
                type_num, _ = self.store.get_raw(s)
            except (KeyError, PuregitError):
                continue
            if type_num != COMMIT:
                raise UploadPackError(f"invalid shallow object {s.decode()}")
            client.append(s)
        self.client_shallows = client
        deepen_rev_list = since is not None or bool(deepen_not)
        self.depth_requested = depth is not None or deepen_rev_list
        if depth is None and not deepen_rev_list and not client:
            if not (v2 and self.server_shallow):
                return b""
            # v2 has no shallow lines in its advertisement: as git does, tell the
            # client where this shallow repository ends (deepen to "infinity")
            depth = INFINITE_DEPTH
        if depth is not None and (depth <= 0 or depth > INFINITE_DEPTH):
            raise UploadPackError(f"Invalid deepen: {depth}")
        if depth is not None and deepen_rev_list:
            raise UploadPackError("git upload-pack: deepen and deepen-since (or deepen-not) "
                                  "cannot be used together")
        new_shallows: list = []
        not_shallow: set = set()
        g = self.graph
        if depth is not None:
            if depth == INFINITE_DEPTH and not self.server_shallow:
                not_shallow = set(client)
            elif relative:
                tips = [p for p in (self._peel_commit(t) for t in self.snapshot.tips) if p]
                reachable = sorted(g.is_reachable(set(client), tips))
                result, not_shallow = shallow_boundary(g, reachable, depth + 1,
                                                       self.server_shallow)
                new_shallows = result
            else:
                result, not_shallow = shallow_boundary(g, self._want_commits(), depth,
                                                       self.server_shallow)
                new_shallows = result
        elif deepen_rev_list:
            excl = [self._expand_ref(r) for r in deepen_not]
            excl = [p for p in (self._peel_commit(e) for e in excl) if p]
            result, kept = commits_since(g, self._want_commits(), since or 0, excl)
            if not kept and not result:
                raise UploadPackError("no commits selected for shallow requests")
            new_shallows, not_shallow = result, kept
        client_set = set(client)
        self.new_shallows = [c for c in new_shallows
                             if c not in client_set and c not in not_shallow]
        self.unshallowed = [c for c in client if c in not_shallow]
        for c in self.unshallowed:
            for p in g.parents(c):
                if p not in self.wants:
                    self.wants.append(p)
        if v2 or not self.depth_requested:
            return b""   # cgit sends the update only when deepening was asked for
        return ShallowUpdate(self.new_shallows, self.unshallowed).encode()

    def _peel_commit(self, oid: bytes) -> Optional[bytes]:
        try:
            sha, ty = self.graph.peel(oid)
        except (MissingObjectError, ObjectFormatError):
            return None
        return sha if ty == COMMIT else None

    @property
    def walk_shallow(self) -> set:
        """Commits whose parents are not walked (new, client and server boundaries)."""
        return set(self.new_shallows) | set(self.client_shallows) | self.server_shallow

    # -- negotiation
    def got_oid(self, oid: bytes) -> int:
        """-1: we lack it; 1: newly common; 0: already known common (cgit's got_oid)."""
        if not self.store.contains(oid):
            return -1
        try:
            type_num, body = self.store.get_raw(oid)
        except (KeyError, PuregitError):
            return -1
        knew = False
        if type_num == COMMIT:
            if oid in self.they_have:
                knew = True
            else:
                self.they_have.add(oid)
            parents = self.graph.parents(oid)
            t = self.graph.time(oid)
            if self.oldest_have is None or t < self.oldest_have:
                self.oldest_have = t
            self.they_have.update(parents)
        if not knew:
            if oid not in self.have_set:
                self.have_set.add(oid)
                self.have_obj.append(oid)
            return 1
        return 0

    def ok_to_give_up(self) -> bool:
        if not self.have_obj:
            return False
        pending = set()
        for w in self.wants:
            if w in self.common_known:
                continue
            c = self._peel_commit(w)
            if c is None:
                self.common_known.add(w)
                continue
            pending.add((w, c))
        if not pending:
            return True
        min_time = self.oldest_have or 0
        for w, c in pending:
            if not self.graph.is_reachable(self.they_have, [c], min_time):
                return False
            self.common_known.add(w)
        return True

    def receive_haves(self, block: UploadHaves) -> tuple[bytes, bool]:
        """One block of haves; returns (ACK/NAK lines, whether the pack follows)."""
        out = []
        multi = self.multi_ack
        for h in block.haves:
            h = h.lower()
            r = self.got_oid(h)
            if r == -1:
                self.got_other = True
                if multi and self.ok_to_give_up():
                    if multi == 2:
                        self.sent_ready = True
                        out.append(b"ACK %s ready\n" % h)
                    else:
                        out.append(b"ACK %s continue\n" % h)
            else:
                self.got_common = True
                self.last_hex = h
                if multi == 2:
                    out.append(b"ACK %s common\n" % h)
                elif multi:
                    out.append(b"ACK %s continue\n" % h)
                elif len(self.have_obj) == 1:
                    out.append(b"ACK %s\n" % h)
        if block.done:
            if self.have_obj:
                if multi:
                    out.append(b"ACK %s\n" % self.last_hex)
            else:
                out.append(b"NAK\n")
            return b"".join(pkt_line(x) for x in out), True
        if multi == 2 and self.got_common and not self.got_other and self.ok_to_give_up():
            self.sent_ready = True
            out.append(b"ACK %s ready\n" % self.last_hex)
        if not self.have_obj or multi:
            out.append(b"NAK\n")
        if self.has(CAPABILITY_NO_DONE) and self.sent_ready:
            out.append(b"ACK %s\n" % self.last_hex)
            return b"".join(pkt_line(x) for x in out), True
        self.got_common = self.got_other = False
        return b"".join(pkt_line(x) for x in out), False

    # -- the pack
    def pack_sender(self, sideband: int, progress: bool) -> "PackSender":
        return PackSender(self, sideband, progress)


class PackSender:
    """Sends the pack: walk, include-tag, pack chunks, progress and keepalives.

    ``send(write)`` writes bytes ready for the wire (side-band framed when
    ``sideband`` is 995 or 65515, raw otherwise).  An empty band-1 packet
    (keepalive) goes out when counting is silent for longer than
    ``uploadpack.keepAlive`` seconds.
    """

    def __init__(self, up: UploadPack, sideband: int, progress: bool,
                 thin: Optional[bool] = None, ofs_delta: Optional[bool] = None,
                 include_tag: Optional[bool] = None) -> None:
        self.up = up
        self.sideband = sideband
        self.progress_on = progress and bool(sideband)
        self.thin = up.has(CAPABILITY_THIN_PACK) if thin is None else thin
        self.ofs_delta = up.has(CAPABILITY_OFS_DELTA) if ofs_delta is None else ofs_delta
        self.include_tag = up.has(CAPABILITY_INCLUDE_TAG) if include_tag is None else include_tag
        self._write: Callable[[bytes], object] = lambda b: None
        self._last = time.monotonic()
        self.walk: Optional[ObjectWalk] = None
        self.count = 0
        self.use_bitmaps = True
        self.deltify = True

    def _emit(self, channel: int, data: bytes) -> None:
        if self.sideband:
            self._write(b"".join(iter_mux(channel, data, self.sideband)))
        elif channel == 1:
            self._write(data)
        self._last = time.monotonic()

    def _progress(self, msg: bytes) -> None:
        if self.progress_on:
            self._emit(2, msg)
        else:
            self._tick()

    def _tick(self) -> None:
        ka = self.up.policy.keepalive
        if self.sideband and ka and time.monotonic() - self._last >= ka:
            self._write(pkt_line(b"\x01"))
            self._last = time.monotonic()

    def _entries(self) -> list:
        """What the walk sends, then (include-tag) the tags pointing into it."""
        up = self.up
        walk = ObjectWalk(up.store, up.graph, up.wants, up.have_obj, up.walk_shallow,
                          up.filter)
        self.walk = walk
        items: list = []
        reported = 0
        for batch in walk.batches():
            items += batch
            self._tick()
            if self.progress_on and len(items) - reported >= 8192:
                reported = len(items)
                self._emit(2, b"Enumerating objects: %d\r" % reported)
        if self.include_tag:
            sent = set(map(itemgetter(0), items))
            items += self._tags_for(sent.__contains__)
        return items

    def send(self, write: Callable[[bytes], object]) -> None:
        self._write = write
        self._last = time.monotonic()
        up = self.up
        key = self._clone_key()
        # Planning builds big acyclic tables: collection waits (see gc_pause)
        # until the first chunk is on its way.
        with gc_paused():
            pack, entries = self._decide(key)
            if pack is None:
                chunks = self._start_pack(entries)
        if pack is not None:
            entries = None   # not needed while the file streams
            self.walk = None
            up.graph.forget()
            self.count = len(pack)
            if self._send_whole_pack(pack, self.count):
                return
            if key is not None:
                clone_memo.forget(key)
            self.use_bitmaps = False
            with gc_paused():
                chunks = self._start_pack(self._plan(whole=False)[1])
        for chunk in chunks:
            self._emit(1, chunk)
        if self.sideband:
            write(pkt_line(None))

    def _start_pack(self, entries: list) -> Iterator[bytes]:
        """Count and plan the pack of ``entries``; send its first chunk; return the rest."""
        up = self.up
        # What the plan needed is not needed while the pack streams.
        thin_bases: Iterable = self.walk.edge_objects if self.thin and self.walk else ()
        self.walk = None
        up.graph.forget()
        self.count = len(entries)
        if self.count > DELTA_SEARCH_MAX_OBJECTS:
            # Big packs are mostly copied from existing packs; searching new
            # deltas for the rest in Python costs far more time than the few
            # percent of bytes it saves (measured: 8 s vs 0.7 s, +1.2% size).
            self.deltify = False
        gen = generate_pack_chunks(up.store, entries, deltify=self.deltify, reuse=True,
                                   ofs_delta=self.ofs_delta, thin_bases=thin_bases,
                                   progress=self._progress)
        for chunk in gen:   # the first one comes once counting and slice planning are done
            self._emit(1, chunk)
            break
        return gen

    def _decide(self, key) -> tuple:
        """(whole pack to stream, or None; else the entries): remembered, shared or planned."""
        if key is None:
            return self._plan()
        # Identical clones (same wants, same refs) share one plan: the first
        # one decides, the others wait for it and reuse its answer.
        up = self.up
        with clone_memo.inflight(key) as flight:
            pack = clone_memo.whole_pack(key, getattr(up.store, "packs", ()))
            if pack is not None:
                return pack, None
            if flight.shared is not None:
                return None, flight.shared   # computed by a clone still in flight
            entries = clone_memo.walked(key)
            if entries is not None:
                return None, entries
            pack, entries = self._plan()
            if pack is not None:
                clone_memo.remember_whole_pack(key, pack)
            else:
                flight.shared = entries
                if len(entries) > DELTA_SEARCH_MAX_OBJECTS:
                    clone_memo.remember_walk(key, entries)
            return pack, entries

    def _plan(self, whole: bool = True) -> tuple:
        """(an on-disk pack holding exactly what to send, or None; else the entries).

        From the reachability bitmap when there is one, else by walking.
        ``whole``: whether answering with a whole pack is allowed.
        """
        up = self.up
        plan = None
        if up.filter is None and not up.have_obj and not up.walk_shallow and self.use_bitmaps:
            try:
                plan = bitmap_plan(up.store, up.graph, up.wants)
            except (PuregitError, KeyError, ValueError, OSError):
                plan = None
        if plan is not None:
            extra_tags = list(self._tags_for(plan.contains)) if self.include_tag else []
            if whole and plan.whole_pack and self.ofs_delta and not extra_tags:
                return plan.bitmap.pack, None
            return None, plan.entries + extra_tags
        entries = self._entries()
        pack = self._single_pack_with(entries) if whole and self.ofs_delta else None
        log.debug("walked %d objects; whole pack: %s", len(entries), pack is not None)
        return pack, (None if pack is not None else entries)

    def _tags_for(self, contains: Callable[[bytes], bool]) -> Iterator:
        """include-tag: annotated tags (and tag chains) pointing at sent objects."""
        up = self.up
        snap = up.snapshot
        added: set = set()
        for name, oid in snap.refs:
            if not name.startswith(b"refs/tags/") or contains(oid) or oid in added:
                continue
            peeled = snap.peeled(name)
            if peeled is None or peeled == oid or not contains(peeled):
                continue
            sha = oid
            while not contains(sha) and sha not in added and sha not in up.have_set:
                try:
                    type_num, body = up.store.get_raw(sha)
                except (KeyError, PuregitError):
                    break
                if type_num != TAG:
                    break
                added.add(sha)
                yield sha, TAG, None
                sha = tag_target(body)[0]

    def _clone_key(self):
        """Memo key for a plain clone that could be answered by a whole pack, else None.

        With include-tag the answer also depends on the tags the refs hold,
        so the refs are part of the key.
        """
        up = self.up
        path = getattr(up.store, "path", None)
        if (path is None or not self.ofs_delta or up.filter is not None or up.have_obj
                or up.walk_shallow):
            return None
        refs = hash(tuple(map(tuple, up.snapshot.refs))) if self.include_tag else None
        return (path, frozenset(up.wants), self.include_tag, refs)

    def _single_pack_with(self, entries: list):
        """The on-disk pack holding exactly ``entries`` (a clone of a packed repo), or None."""
        up = self.up
        if up.filter is not None or up.have_obj or up.walk_shallow:
            return None
        return single_pack_with(up.store, entries)

    def _send_whole_pack(self, pack, total: int) -> bool:
        """Stream an on-disk pack verbatim: it holds exactly the objects to send.

        Returns False (nothing written) when the file vanished or changed, as
        a concurrent repack may do; the caller then builds the pack itself.
        """
        chunks = iter_pack_file(pack, total)
        if chunks is None:
            return False
        self._progress(b"Enumerating objects: %d, done.\n" % total)
        for chunk in chunks:
            self._emit(1, chunk)
        self._progress(b"Total %d (delta 0), reused %d (delta 0), pack-reused %d\n"
                       % (total, total, total))
        if self.sideband:
            self._write(pkt_line(None))
        return True


# --- the handler --------------------------------------------------------------------

class UploadPackHandler(Handler):
    """upload-pack over a Protocol: git://, ssh, pipes, or one stateless-RPC round."""

    service = b"git-upload-pack"

    def __init__(self, backend, args, proto, stateless_rpc: bool = False,
                 advertise_refs: bool = False, protocol_version: int = 0,
                 options: Optional[dict] = None, repo=None) -> None:
        super().__init__(backend, args, proto, stateless_rpc=stateless_rpc,
                         advertise_refs=advertise_refs, protocol_version=protocol_version,
                         options=options)
        self.repo = repo

    def _open_repo(self):
        if self.repo is None:
            self.repo = self.backend.open_repository(self.args[0])
        return self.repo

    def handle(self) -> None:
        repo = self._open_repo()
        if self.protocol_version == 2:
            from .upload_pack_v2 import serve_v2
            serve_v2(repo, self.proto, stateless_rpc=self.stateless_rpc,
                     advertise_refs=self.advertise_refs, agent=self.options.get("agent"))
            return
        up = UploadPack(repo, stateless_rpc=self.stateless_rpc,
                        protocol_version=self.protocol_version,
                        agent=self.options.get("agent"))
        proto = self.proto
        try:
            if not self.stateless_rpc or self.advertise_refs:
                proto.write(up.advertisement())
            if self.advertise_refs:
                return
            try:
                first = proto.read_pkt()
            except HangupException:
                return   # ls-remote style: the client just disconnects
            if first is FLUSH:
                return   # nothing wanted
            req = _read_message(proto, UploadRequest.decoder(), first)
            if not req.wants:
                return
            shallow_update = up.receive_request(req)
            if shallow_update:
                proto.write(shallow_update)
            while True:
                block = _read_message(proto, UploadHaves.decoder())
                out, send_pack = up.receive_haves(block)
                if out:
                    proto.write(out)
                if send_pack:
                    break
                if self.stateless_rpc:
                    return
        except UploadPackError as e:
            proto.write(pkt_line(b"ERR " + str(e).encode("utf-8", "replace")))
            raise
        except ProtocolError as e:
            if isinstance(e, HangupException):
                raise
            proto.write(pkt_line(b"ERR upload-pack: " + _short(e)))
            raise
        self.send_pack(up)

    def send_pack(self, up: UploadPack) -> None:
        sideband = 0
        if up.has(CAPABILITY_SIDE_BAND_64K):
            sideband = SIDE_BAND_64K_MAX_DATA
        elif up.has(CAPABILITY_SIDE_BAND):
            sideband = SIDE_BAND_MAX_DATA
        sender = up.pack_sender(sideband, progress=not up.has(CAPABILITY_NO_PROGRESS))
        write = self.proto.write
        try:
            sender.send(write)
        except (PuregitError, OSError, ValueError, KeyError) as e:
            if sideband and not isinstance(e, OSError):
                msg = b"git upload-pack: " + _short(e)
                try:
                    write(pkt_line(b"\x03" + msg))
                except OSError:
                    pass
            raise


def _short(e: BaseException) -> bytes:
    return str(e)[:400].encode("utf-8", "replace")


def _read_message(proto, decoder, first=None):
    """Feed packets from ``proto`` into a wire decoder until it completes."""
    if first is not None:
        decoder.feed_pkt(first)
    while not decoder.done:
        decoder.feed_pkt(proto.read_pkt())
    return decoder.result
