"""
AWS Signature Version 2 (HMAC-SHA1) as S3 defines it: string to sign and
signature.

aws-cli v1's ``aws s3 presign``, boto3 with ``signature_version="s3"`` and
s3cmd with ``signature_v2 = True`` still produce it.  This module owns the
canonicalized amz headers, the canonicalized resource and the handful of
spellings clients disagree on; ``nanio.s3.auth`` decides when to use it and
which error to raise.

Pure code: no Twisted, no filesystem, no clock.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterator, Mapping, Sequence
from urllib.parse import unquote

from nanio.s3.sigv4 import canonical_uri

SCHEME = "AWS"

#: Query parameters that belong to the canonicalized resource.  The S3
#: documentation's list plus the ones botocore's HmacV1Auth adds: the signer
#: and the verifier must agree on the set or every such request fails.
SUBRESOURCES = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)

#: s3cmd 2.4 signs a narrower set and keeps the values percent-encoded.
S3CMD_SUBRESOURCES = frozenset(
    {
        "acl",
        "cors",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "restore",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)


def parse_authorization(value: str) -> tuple[str, str]:
    """Split ``AWS AKID:signature`` into access key and signature."""
    _, _, rest = value.partition(" ")
    access_key, colon, signature = rest.strip().partition(":")
    if not colon or not access_key or not signature:
        raise ValueError("expected AWS AccessKeyId:Signature.")
    return access_key, signature


def canonical_amz_headers(
    headers: Mapping[str, Sequence[str]], extra: Mapping[str, str] | None = None
) -> str:
    """Return the x-amz- headers block (each line ending in a newline)."""
    found: dict[str, str] = {}
    for name, values in headers.items():
        if name.startswith("x-amz-"):
            found[name] = ",".join([value.strip() for value in values])
    if extra:
        for name, value in extra.items():
            found.setdefault(name, value.strip())
    if not found:
        return ""
    return "".join([f"{name}:{found[name]}\n" for name in sorted(found)])


def canonical_subresources(
    raw_query: str, *, names: frozenset[str] = SUBRESOURCES, decode_values: bool = True
) -> str:
    """Return ``?name=value&...`` for the sub-resources in a raw query, or ""."""
    if not raw_query:
        return ""
    kept: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        name, equals, value = part.partition("=")
        if name in names:
            if equals and decode_values:
                # botocore and the S3 documentation sign response-* and the
                # other values decoded ("text/plain", not "text%2Fplain").
                value = unquote(value)
            kept.append((name, f"{name}={value}" if equals else name))
    if not kept:
        return ""
    # A stable sort on the name alone, as botocore does: repeated names keep
    # the order they were sent in.
    kept.sort(key=_first)
    return "?" + "&".join([text for _, text in kept])


def _first(pair: tuple[str, str]) -> str:
    """Return the sort key of a (name, text) pair."""
    return pair[0]


def resource_candidates(
    raw_path: str, raw_query: str, bucket_in_host: str | None, *, mount: str = ""
) -> Iterator[str]:
    """Yield the canonicalized resources a client may have signed, likeliest first.

    ``mount`` is the raw path prefix where nanio is mounted ("/s3"), "" at
    the root: botocore signs the resource below it, other clients may sign
    the whole path they send.
    """
    path = raw_path or "/"
    full_path = path
    if mount and path.startswith(mount):
        # The resource is S3's "/bucket/key", wherever the endpoint's path
        # puts it: botocore signs its authPath, which never has the prefix.
        path = path[len(mount) :] or "/"
    # Virtual-host requests sign "/bucket" + path ("/bucket/" for the bucket itself).
    prefix = f"/{bucket_in_host}" if bucket_in_host else ""
    botocore_query = canonical_subresources(raw_query)
    # botocore and s3cmd sign the path exactly as they send it.  Lazily, for
    # the failure path only: the encoded and the decoded path (clients that
    # send unencoded characters), the whole path under a mount point (clients
    # that sign what they send), and s3cmd's sub-resource spelling.
    first = f"{prefix}{path}{botocore_query}"
    yield first
    seen = {first}
    paths: tuple[str, ...] = (path, canonical_uri(path), unquote(path))
    if full_path != path:
        paths += (full_path,)
    queries = (
        botocore_query,
        canonical_subresources(raw_query, names=S3CMD_SUBRESOURCES, decode_values=False),
    )
    for query in queries:
        for candidate_path in paths:
            candidate = f"{prefix}{candidate_path}{query}"
            if candidate not in seen:
                seen.add(candidate)
                yield candidate


def string_to_sign(
    method: str, content_md5: str, content_type: str, date: str, amz_headers: str, resource: str
) -> str:
    """Assemble the SigV2 string to sign from its canonical parts."""
    return f"{method}\n{content_md5}\n{content_type}\n{date}\n{amz_headers}{resource}"


def sign(secret: str, string_to_sign_bytes: bytes) -> str:
    """Return the base64 HMAC-SHA1 signature of a string to sign."""
    digest = hmac.digest(secret.encode("utf-8"), string_to_sign_bytes, "sha1")
    return base64.b64encode(digest).decode("ascii")
