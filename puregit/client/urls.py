"""Turn a remote location into a client and a path (as ``git`` reads URLs).

Forms (``urls.adoc``): ``git://host[:port]/path``, ``ssh://[user@]host[:port]/path``
(also ``git+ssh://`` and ``ssh+git://``), scp-like ``[user@]host:path``,
``file:///path`` and plain local paths.  A ``~user`` after the host of git://
and ssh:// URLs keeps its leading slash off, as git does.  HTTP(S) is refused
clearly until smart HTTP lands.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import UnsupportedTransport

__all__ = ["get_transport_and_path", "get_transport_and_path_from_url", "parse_rsync_url"]


def _fs_path(path: Any) -> str:
    return os.fsdecode(path)


def parse_rsync_url(location: str) -> tuple:
    """Split scp-like ``[user@]host:path``; return ``(user or None, host, path)``."""
    head, sep, path = location.partition(":")
    if not sep:
        raise ValueError(f"not an scp-like location: {location!r}")
    user, at, host = head.rpartition("@")
    return (user if at else None), host, path


def _is_scp_like(location: str) -> bool:
    # git: a colon before any slash, and not a Windows drive letter.
    colon = location.find(":")
    if colon <= 0:
        return False
    slash = location.find("/")
    if 0 <= slash < colon:
        return False
    if colon == 1 and location[0].isalpha() and os.name == "nt":
        return False
    return True


def get_transport_and_path_from_url(url: str, config: Any = None, **kwargs: Any) -> tuple:
    """Client and path for a URL with a scheme."""
    from .transports import HttpGitClient, SSHGitClient, TCPGitClient
    from .local import LocalGitClient

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    path = unquote(parts.path)
    if scheme == "git":
        if path.startswith("/~"):
            path = path[1:]
        return TCPGitClient(parts.hostname, port=parts.port, **kwargs), path
    if scheme in ("ssh", "git+ssh", "ssh+git"):
        if path.startswith("/~"):
            path = path[1:]
        user = unquote(parts.username) if parts.username else None
        return SSHGitClient(parts.hostname, port=parts.port, username=user, **kwargs), path
    if scheme == "file":
        return LocalGitClient(**kwargs), path
    if scheme in ("http", "https"):
        return HttpGitClient(url, **kwargs), path
    raise UnsupportedTransport(f"unsupported URL scheme {parts.scheme!r} in {url!r}")


def get_transport_and_path(location: Any, config: Any = None, **kwargs: Any) -> tuple:
    """Return ``(client, path)`` for a URL, an scp-like location or a local path.

    ``location`` may be ``str``, ``bytes`` or a path-like object.
    """
    location = _fs_path(location)
    if "://" in location:
        return get_transport_and_path_from_url(location, config=config, **kwargs)
    if _is_scp_like(location) and not os.path.exists(location):
        from .transports import SSHGitClient
        user, host, path = parse_rsync_url(location)
        return SSHGitClient(host, username=user, **kwargs), path
    from .local import LocalGitClient
    return LocalGitClient(**kwargs), location
