"""Git clients: fetch, push, ls-remote and archive over git://, ssh and local paths.

The modules are small on purpose: :mod:`.negotiation` (pure have/ACK state),
:mod:`.graphwalk` (local haves), :mod:`.fetching` and :mod:`.pushing` (the
conversations), :mod:`.conn` (sockets and pipes), :mod:`.transports` and
:mod:`.local` (the clients), :mod:`.urls` (which client for a URL).
"""

from .base import GitClient, default_determine_wants
from .fetching import UnsafeRefWarning
from .graphwalk import ObjectStoreGraphWalker
from .local import LocalGitClient
from .packgen import generate_pack_data
from .results import FetchPackResult, LsRemoteResult, SendPackResult
from .transports import (
    HttpGitClient, SSHGitClient, SSHVendor, SubprocessGitClient, TCPGitClient, TCP_GIT_PORT,
)
from .urls import get_transport_and_path, get_transport_and_path_from_url, parse_rsync_url

__all__ = [
    "GitClient", "TCPGitClient", "SSHGitClient", "SSHVendor", "LocalGitClient",
    "SubprocessGitClient", "HttpGitClient", "get_transport_and_path",
    "get_transport_and_path_from_url", "parse_rsync_url", "FetchPackResult", "SendPackResult",
    "LsRemoteResult", "ObjectStoreGraphWalker", "UnsafeRefWarning", "generate_pack_data",
    "default_determine_wants", "TCP_GIT_PORT",
]
