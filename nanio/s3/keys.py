"""
Bucket-name and object-key validation: what S3 accepts and what can be a file.

nanio stores a key as a path below the bucket directory, so on top of S3's own
limits a key must be spellable as a relative POSIX path that stays inside the
bucket: no ``.``/``..`` segments, no empty segments, no leading ``/``, no
control characters, nothing under the reserved ``.nanio`` names.  Every
refusal is an ``S3Error`` whose message says what is wrong in printable text:
a hostile key is never echoed back (it may hold control characters).

Both validators run on every request, so the common case (a short, plain
ASCII name) costs one precompiled ``fullmatch``; the detailed checks that
explain a refusal run only when that fails.

No Twisted imports here, and no filesystem access.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nanio.errors import InvalidArgument, InvalidBucketName, KeyTooLongError

#: S3's limit on a key, counted in UTF-8 bytes.
KEY_MAX_BYTES = 1024

#: Limit on one ``/``-separated segment of a key, in UTF-8 bytes.  Linux
#: file systems allow 255 bytes per name (NAME_MAX), but the sidecar of an
#: object is ``.nanio-meta/<key>.json``: its last name is the segment plus
#: five bytes, so a segment longer than 250 bytes could be stored as data
#: but never get its metadata.  We enforce the stricter limit.
KEY_SEGMENT_MAX_BYTES = 250

#: Names beginning with this are nanio's own (``.nanio-meta`` holds the
#: sidecars inside each bucket, ``.nanio`` the multipart area beside them).
RESERVED_PREFIX = ".nanio"

BUCKET_NAME_MIN_CHARS = 3
BUCKET_NAME_MAX_CHARS = 63

# An empty key, a leading "/" and a leading "." leave the happy path.
_HAPPY_FIRST_CHAR_EXCLUDED = ("", "/", ".")

# Characters a stored key may not hold: C0 controls and DEL (the file
# system would take most of them, but they break terminals, logs and
# listings), and U+FFFE/U+FFFF, which XML 1.0 cannot carry even as
# character references, so such a key could never appear in a listing.
_FORBIDDEN_KEY_CHARS = re.compile("[\x00-\x1f\x7f\ufffe\uffff]")

# S3's character and shape rules for a general purpose bucket name; the
# other rules (no "..", not an IPv4 address, reserved affixes) are plain
# string tests after this.
_BUCKET_NAME = re.compile(
    rf"[a-z0-9][a-z0-9.-]{{{BUCKET_NAME_MIN_CHARS - 2},{BUCKET_NAME_MAX_CHARS - 2}}}[a-z0-9]"
)
_BUCKET_NAME_CACHE_SIZE = 1024
_IPV4_LIKE = re.compile(r"\d+\.\d+\.\d+\.\d+", re.ASCII)

# Prefixes and suffixes AWS reserves for its own features (punycode
# labels, internal names, demo buckets, access-point aliases, Object
# Lambda, directory and table buckets).  A name with them is refused on S3,
# so a client that can create it here would fail there.
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


# A server sees few bucket names, again and again: remember the valid ones.
# Refusals raise, so they are never cached and cannot fill the cache.
@lru_cache(maxsize=_BUCKET_NAME_CACHE_SIZE)
def validate_bucket_name(name: str) -> None:
    """Raise ``InvalidBucketName`` unless S3 would accept ``name`` as a bucket name."""
    if (
        _BUCKET_NAME.fullmatch(name) is not None
        and ".." not in name
        and not name.startswith(_RESERVED_BUCKET_PREFIXES)
        and not name.endswith(_RESERVED_BUCKET_SUFFIXES)
        and _IPV4_LIKE.fullmatch(name) is None
    ):
        return
    # Names starting with ".nanio" are refused above too: a bucket name
    # must begin with a letter or a digit.  Only echo a printable name.
    if name.isprintable():
        raise InvalidBucketName(BucketName=name)
    raise InvalidBucketName()


def validate_key(key: str) -> None:
    """Raise an ``S3Error`` unless ``key`` is a valid S3 key that nanio can store as a file."""
    # The happy path, in C-level string tests (measured faster than one
    # regex fullmatch): printable ASCII (so characters are bytes) no longer
    # than one segment may be, not starting with "/" or ".", with no empty
    # segment and no segment starting with "." (which rules out ".", ".."
    # and the reserved ".nanio").  Anything else, valid or not, is decided
    # by the detailed checks.
    if (
        len(key) <= KEY_SEGMENT_MAX_BYTES
        and key.isascii()
        and key.isprintable()
        and key[:1] not in _HAPPY_FIRST_CHAR_EXCLUDED
        and "/." not in key
        and "//" not in key
    ):
        return
    _explain_bad_key(key)


def _explain_bad_key(key: str) -> None:
    """Raise the error that says what is wrong with ``key`` (the slow path of ``validate_key``)."""
    if not key:
        # S3 requires at least one character; the web layer routes an
        # empty key to the bucket, so this is met in XML bodies and
        # copy sources.
        raise _bad_key("The object key must be at least one character long.")
    try:
        size_bytes = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: the request path was not valid UTF-8.
        raise _bad_key("The object key is not valid UTF-8.") from None
    if size_bytes > KEY_MAX_BYTES:
        raise KeyTooLongError(Size=str(size_bytes), MaxSizeAllowed=str(KEY_MAX_BYTES))
    if _FORBIDDEN_KEY_CHARS.search(key) is not None:
        raise _bad_key(
            "The object key must not contain control characters "
            "(U+0000 to U+001F, U+007F) or U+FFFE/U+FFFF."
        )
    if key.startswith("/"):
        raise _bad_key("The object key must not begin with '/'.")
    segments = key.split("/")
    if segments[-1] == "":
        # "photos/2026/" is a folder marker: its one trailing empty
        # segment is allowed.
        segments.pop()
    if segments[0].startswith(RESERVED_PREFIX):
        raise _bad_key(
            f"Object keys beginning with '{RESERVED_PREFIX}' are reserved by the server."
        )
    for segment in segments:
        if segment == "":
            raise _bad_key("The object key must not contain an empty segment ('//').")
        if segment in (".", ".."):
            raise _bad_key("The object key must not contain '.' or '..' segments.")
        if len(segment.encode("utf-8")) > KEY_SEGMENT_MAX_BYTES:
            raise KeyTooLongError(
                f"Each part of the object key between slashes is limited to "
                f"{KEY_SEGMENT_MAX_BYTES} bytes on this server."
            )
    # Every rule passed: the key was only off the ASCII happy path.


def _bad_key(message: str) -> InvalidArgument:
    """Build the ``InvalidArgument`` for a refused key (the key itself is not echoed)."""
    return InvalidArgument(message, ArgumentName="key")


def is_folder_marker(key: str) -> bool:
    """Tell whether ``key`` names a folder marker (it ends with ``/``)."""
    return key.endswith("/")
