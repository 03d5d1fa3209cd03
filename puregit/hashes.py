"""Hash algorithms for object ids (SHA-1 and SHA-256).

A repository's ``extensions.objectformat`` picks one; everything that computes
or parses an id takes a :class:`HashAlgorithm` so that both formats share code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class HashAlgorithm:
    name: str              # "sha1" / "sha256", as in extensions.objectformat
    digest_size: int       # 20 / 32
    new: Callable          # hashlib constructor
    format_id: int         # Git's numeric id used in some file headers

    @property
    def hex_size(self) -> int:
        return self.digest_size * 2

    @property
    def zero_hex(self) -> bytes:
        """The all-zero id in hex (Git's "no object")."""
        return b"0" * (self.digest_size * 2)

    @property
    def zero_bin(self) -> bytes:
        return b"\0" * self.digest_size

    def hash_object(self, type_name: bytes, data: bytes) -> bytes:
        """Return the binary id of an object of ``type_name`` with ``data``."""
        h = self.new(type_name + b" " + str(len(data)).encode("ascii") + b"\0")
        h.update(data)
        return h.digest()

    def __repr__(self) -> str:  # short and stable in test output
        return f"HashAlgorithm({self.name})"


SHA1 = HashAlgorithm("sha1", 20, hashlib.sha1, 0x73686131)
SHA256 = HashAlgorithm("sha256", 32, hashlib.sha256, 0x73323536)

ALGORITHMS = {"sha1": SHA1, "sha256": SHA256}
DEFAULT = SHA1


def by_name(name: str | bytes) -> HashAlgorithm:
    """Look up an algorithm by its config / capability name."""
    from .errors import RepositoryFormatError

    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    try:
        return ALGORITHMS[name.lower()]
    except KeyError:
        raise RepositoryFormatError(f"unknown object format {name!r}") from None


def by_hex_length(n: int) -> HashAlgorithm:
    """Guess the algorithm from the length of a hex id."""
    for algo in (SHA1, SHA256):
        if algo.hex_size == n:
            return algo
    from .errors import InvalidObjectId

    raise InvalidObjectId(f"no hash algorithm has {n}-digit ids")
