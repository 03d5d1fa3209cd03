"""One exception tree for all of puregit.

Every error puregit raises on purpose derives from :class:`PuregitError`, so a
caller can catch the whole package in one ``except``.  Subsystems get their own
branch (objects, packs, refs, config, index, protocol, transport, server) so a
caller can also be precise.  Some classes also derive from a builtin
(``KeyError``, ``ValueError``) where Dulwich users expect that builtin.
"""

from __future__ import annotations


class PuregitError(Exception):
    """Root of every exception puregit raises on purpose."""


# --- repositories ---------------------------------------------------------

class NotGitRepository(PuregitError):
    """A path does not hold a Git repository."""


class RepositoryFormatError(PuregitError):
    """The repository uses a format or extension puregit does not support."""


# --- objects --------------------------------------------------------------

class ObjectFormatError(PuregitError):
    """An object's bytes are malformed (bad header, commit, tree or tag)."""


class ChecksumMismatch(ObjectFormatError):
    """Data does not hash to the id or checksum that was expected."""

    def __init__(self, expected, got, extra: str | None = None):
        if isinstance(expected, bytes) and len(expected) in (20, 32):
            expected = expected.hex().encode()
        if isinstance(got, bytes) and len(got) in (20, 32):
            got = got.hex().encode()
        self.expected = expected
        self.got = got
        self.extra = extra
        msg = f"checksum mismatch: expected {expected!r}, got {got!r}"
        if extra:
            msg += f"; {extra}"
        super().__init__(msg)


class InvalidObjectId(ObjectFormatError, ValueError):
    """A string is not a valid hex or binary object id."""


class LooseObjectError(ObjectFormatError):
    """A loose object file is corrupt (bad zlib, header, or size)."""


class MissingObjectError(PuregitError, KeyError):
    """An object id is not in the object store."""

    def __init__(self, sha, message: str | None = None):
        self.sha = sha
        super().__init__(message or f"object {sha!r} not found")

    def __str__(self) -> str:
        return self.args[0]


class WrongObjectType(ObjectFormatError):
    """An object has a different type from the one the caller needed."""


# --- packs ----------------------------------------------------------------

class PackError(PuregitError):
    """Base for pack and pack-index problems."""


class CorruptPackError(PackError):
    """A pack stream or file is malformed, truncated or inconsistent."""


class PackChecksumError(CorruptPackError, ChecksumMismatch):
    """A pack's trailing checksum does not match its contents."""


class PackIndexError(PackError):
    """A pack index is malformed or disagrees with its pack."""


class DeltaError(CorruptPackError):
    """A delta is malformed, lies about sizes, or cannot be applied."""


class MissingDeltaBaseError(CorruptPackError):
    """A delta's base object is neither in the pack nor in the store."""

    def __init__(self, base_id, message: str | None = None):
        self.base_id = base_id
        super().__init__(message or f"missing delta base {base_id!r}")


class DeltaChainLoopError(DeltaError):
    """A chain of deltas refers back to itself."""


class ObjectTooLargeError(PackError):
    """A declared size exceeds the configured limit; refused before allocating."""


# --- refs -----------------------------------------------------------------

class RefError(PuregitError):
    """Base for reference problems."""


class InvalidRefName(RefError, ValueError):
    """A ref name breaks Git's ref-name rules."""


class RefFormatError(RefError):
    """A ref file or packed-refs file holds junk."""


class RefLockError(RefError):
    """A ref's ``.lock`` file exists or could not be taken."""


class RefUpdateRejected(RefError):
    """A compare-and-swap ref update found a different old value."""


class SymrefLoop(RefError):
    """Symbolic refs point at each other (or nest too deeply)."""


class RefNotFound(RefError, KeyError):
    """A ref (or the ref a symref points at) does not exist."""

    def __str__(self) -> str:
        return f"ref {self.args[0]!r} not found" if self.args else "ref not found"


class RefNameConflict(RefError):
    """A new ref would clash with an existing one (``a`` versus ``a/b``)."""


# --- config, index --------------------------------------------------------

class ConfigError(PuregitError, ValueError):
    """A config file cannot be parsed, or a key/value is invalid."""


class IndexFormatError(PuregitError):
    """The index file is malformed or of an unsupported version."""


# --- wire protocol ---------------------------------------------------------

class ProtocolError(PuregitError):
    """The peer broke the Git protocol (or we were asked to)."""


class PktLineError(ProtocolError):
    """A pkt-line has a bad length prefix or is too long."""


class UnexpectedEOF(ProtocolError):
    """The stream ended in the middle of a message (the peer hung up)."""


class HangupException(UnexpectedEOF):
    """The remote side hung up unexpectedly (Dulwich's name)."""

    def __init__(self, stderr_lines: list[bytes] | None = None):
        self.stderr_lines = stderr_lines or []
        msg = "the remote server unexpectedly closed the connection"
        if self.stderr_lines:
            msg += ": " + b"\n".join(self.stderr_lines).decode("utf-8", "replace")
        super().__init__(msg)


class UnexpectedMessage(ProtocolError):
    """A pkt-line arrived that does not fit the protocol state."""


class SidebandError(ProtocolError):
    """A side-band packet uses an unknown band or is empty."""


class RemoteError(ProtocolError):
    """The peer reported an error (``ERR`` packet, band 3, or ``unpack`` failure)."""

    def __init__(self, message):
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        self.remote_message = message
        super().__init__(message)


class GitProtocolError(ProtocolError):
    """Dulwich-compatible alias root for protocol errors."""


class CapabilityError(ProtocolError):
    """A capability is unknown, malformed, or was used without being negotiated."""


class ErrPktError(RemoteError):
    """The peer sent an ``ERR <text>`` pkt-line; ``remote_message`` holds the text."""


class SidebandFatalError(RemoteError):
    """The peer sent a message on side-band 3 (fatal error)."""


# --- transports, clients, servers -----------------------------------------

class TransportError(PuregitError):
    """Connecting to or talking with a remote failed below the protocol."""


class TransportTimeout(TransportError):
    """The remote did not answer within the configured time."""


class UnsupportedTransport(TransportError):
    """The URL names a transport puregit does not (yet) support."""


class UnsafeRefWarning(UserWarning):
    """A server advertised a ref name git would refuse (``..``, control characters); it was skipped."""


class ServerError(PuregitError):
    """A server-side request failed; the text is safe to send to the peer."""


class AccessDenied(ServerError):
    """The repository is not exported, or the service is disabled."""


class PushRejected(PuregitError):
    """A push was refused as a whole (``unpack`` error or atomic failure)."""
