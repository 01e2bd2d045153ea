"""
What an unexpected ``OSError`` from the file system means to an S3 client.

Storage code handles the errors it expects where they happen (a missing
name is ``NoSuchKey`` on a read, a name to create on a write); whatever is
left goes through ``os_error``, so no ``OSError`` ever leaves the storage
layer.  The S3 error is raised ``from`` the ``OSError``: the web layer may
log the cause (which names the path) for the operator, while the message the
client sees never names a path on the server.

Decisions:
- A full disk or quota (ENOSPC, EDQUOT) is ``InsufficientStorage`` (507).
  S3 has no code for it (its disks do not fill); 507 is HTTP's own status
  for exactly this, MinIO answers a full drive with 507 too, and SDKs do not
  retry a 507, which is right: re-sending a body that cannot fit only
  wastes the link.  The write that failed has removed its temp file, so the
  space it took is free again at once.
- A permission problem (EACCES, EPERM) or a read-only file system is the
  server's fault, not the client's: ``InternalError`` (500), not
  ``AccessDenied`` (403), which would send the client hunting for a
  credentials problem it does not have.
- Out of descriptors (EMFILE, ENFILE) is a load problem a retry can cure:
  ``ServiceUnavailable`` (503), which SDKs retry with back-off.

No Twisted imports here.
"""

from __future__ import annotations

import errno

from nanio.errors import (
    InsufficientStorage,
    InternalError,
    KeyConflict,
    KeyTooLongError,
    S3Error,
    ServiceUnavailable,
)

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_NAME_CLASH = frozenset({errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ELOOP, errno.ENOTEMPTY})
_NOT_PERMITTED = frozenset({errno.EACCES, errno.EPERM})
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE})


def os_error(exc: OSError) -> S3Error:
    """The S3 error that stands for a file-system failure nobody handled on the spot."""
    code = exc.errno
    if code in _NO_SPACE:
        return InsufficientStorage()
    if code == errno.ENAMETOOLONG:
        return KeyTooLongError("A part of the key is longer than this server's file system allows.")
    if code in _NAME_CLASH:
        return KeyConflict()
    if code in _NOT_PERMITTED:
        return InternalError("The server is not permitted to use its data directory.")
    if code == errno.EROFS:
        return InternalError("The server's data directory is read-only.")
    if code in _OUT_OF_DESCRIPTORS:
        return ServiceUnavailable()
    return InternalError()
