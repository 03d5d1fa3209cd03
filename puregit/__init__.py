"""puregit: Git, implemented in pure Python.

Objects, loose and packed storage, refs, config, the index and repositories,
and the smart protocol (clients and servers) that talks to real Git.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
