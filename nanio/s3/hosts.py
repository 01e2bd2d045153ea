"""
Virtual-host addressing: which bucket, if any, a request's Host header names.

S3 accepts a bucket in the path (``/bucket/key``, path style) or as the first
labels of the host name (``bucket.s3.example.com/key``, virtual-host style).
This module owns the second: the checked list of base domains and the split
of a Host header value into a bucket.  The web layer turns such a request
into its path-style equivalent before routing, so routing, classification and
error resources never see the difference; only signature checks do (SigV4
signs the path as sent, SigV2 signs ``/bucket`` + path).

Pure code: no Twisted, no filesystem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Host names as DNS writes them: dot-separated labels of letters, digits and
# inner hyphens (underscores too, for internal names that have them).
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")


def normalize_base_domain(text: str) -> str:
    """A base domain in canonical form (lower case, no trailing dot); ValueError if not one."""
    domain = text.strip().lower().removesuffix(".")
    if _DOMAIN.match(domain) is None:
        raise ValueError(
            f"{text!r} is not a domain name (write it without scheme, port or path, "
            "like s3.example.com)"
        )
    return domain


class VirtualHosts:
    """The base domains under which ``<bucket>.<base-domain>`` names a bucket."""

    __slots__ = ("_domains", "_suffixes", "base_domains")

    def __init__(self, base_domains: Iterable[str]) -> None:
        self.base_domains = tuple(dict.fromkeys(normalize_base_domain(d) for d in base_domains))
        self._domains = frozenset(self.base_domains)
        # Longest first: with both s3.example.com and example.com configured,
        # "b.s3.example.com" is bucket "b" of the first, not "b.s3" of the second.
        self._suffixes = tuple(
            sorted((f".{domain}" for domain in self.base_domains), key=len, reverse=True)
        )

    def bucket_for(self, host: str) -> str | None:
        """The bucket a Host header value names, or None when the request is path style."""
        if not host or host[0] == "[":
            # No Host (HTTP/1.0), or an IPv6 literal: never a bucket name.
            return None
        name = host.lower()
        colon = name.rfind(":")
        if colon != -1:
            name = name[:colon]
        # "bucket.s3.example.com." is the same host, written fully qualified.
        name = name.removesuffix(".")
        if name in self._domains:
            # A base domain itself is path style, even one below another
            # configured base domain.
            return None
        for suffix in self._suffixes:
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)]
        return None


__all__ = ["VirtualHosts", "normalize_base_domain"]
