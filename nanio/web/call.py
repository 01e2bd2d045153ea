"""
What nanio decides about a request once its headers are in.

``Preflight.begin`` runs before any of the body is read: it routes the request
with Klein's own URL map, classifies the S3 operation, authenticates it,
checks that the bucket exists and opens the body sink the operation needs.
``NanioSite`` calls it from ``gotLength()`` so that failures are answered
before ``100 Continue`` and bodies stream to disk; ``NanioResource.render()``
calls it when nanio is mounted in a foreign ``Site`` (the body is then
already buffered by Twisted and is copied through the same sink).

It is also the one place where a request's address becomes S3's
``/bucket/key``: the mount point of a foreign site is cut off the path, and a
virtual-host request (``bucket.base-domain/key``) becomes its path-style twin
before the route table sees it.  Klein later routes that same path.

Invariants:
- ``begin`` never raises: a failure is recorded in ``S3Call.error`` and the
  sink is then a ``DiscardSink``, so a refused body is never written.
- Only the raw request line and headers, exactly as received, are given to
  the signature check: the whole path, mount point included, as sent.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes

from twisted.logger import Logger
from werkzeug.exceptions import MethodNotAllowed as WerkzeugMethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.routing import Map

from nanio import errors
from nanio.s3.auth import Authenticator, AuthResult, SignedRequest
from nanio.s3.headers import metadata_from_headers
from nanio.s3.keys import validate_key
from nanio.s3.numbers import decimal, digits_for
from nanio.s3.operations import Body, Operation, Shape, classify
from nanio.web.handlers.context import may_access
from nanio.web.routing import RouteMatcher
from nanio.web.sinks import (
    MAX_OBJECT_SIZE_BYTES,
    MAX_PART_SIZE_BYTES,
    BufferSink,
    DiscardSink,
    ObjectSink,
    Sink,
)
from nanio.web.spool import Offload

if TYPE_CHECKING:
    from twisted.web.http_headers import Headers

    from nanio.credentials import Credentials
    from nanio.s3.hosts import VirtualHosts
    from nanio.storage import Store


_log = Logger()

#: Klein endpoint names (the route functions in ``resource.py``) -> path shape.
ROUTE_SHAPES = {"service": Shape.SERVICE, "bucket": Shape.BUCKET, "object": Shape.OBJECT}


def new_request_id() -> str:
    """A fresh request id, in the 16 upper-case hex digits S3 uses."""
    # An id only has to be unique, not secret: the random module's
    # generator (seeded from the OS once, and again in every forked worker)
    # costs no system call per request, as os.urandom would.
    return f"{random.getrandbits(64):016X}"


def parse_query(raw_query: str) -> dict[str, str]:
    """Query parameters, percent-decoded, first value of each name kept."""
    args: dict[str, str] = {}
    if not raw_query:
        return args
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        # S3 query values use %20 for spaces; "+" is a literal plus sign.
        name = _decode(name)
        if name not in args:
            args[name] = _decode(value)
    return args


def _decode(text: str) -> str:
    if "%" not in text:
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidArgument(
            "The request contains a parameter that is not valid UTF-8."
        ) from None


#: S3 numbers parts from 1 to 10,000.
MAX_PART_NUMBER = 10_000
_PART_NUMBER_DIGITS = digits_for(MAX_PART_NUMBER)


def part_number(call: S3Call) -> int:
    """The partNumber query parameter: an integer from 1 to 10,000, else InvalidArgument."""
    raw = call.query.get("partNumber", "")
    number = decimal(raw, _PART_NUMBER_DIGITS)
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise errors.InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return number


@dataclass(slots=True)
class S3Call:
    """One request as nanio understands it."""

    request_id: str
    method: str
    #: The decoded path, for the Resource element of error bodies.
    resource: str
    shape: Shape = Shape.SERVICE
    bucket: str = ""
    key: str = ""
    operation: Operation | None = None
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, list[str]] = field(default_factory=dict)
    auth: AuthResult | None = None
    sink: Sink = field(default_factory=DiscardSink)
    error: errors.S3Error | None = None
    #: The Klein endpoint the path matched, and its arguments.
    route: tuple[str, Mapping[str, str]] | None = None
    #: The bucket the Host header named (virtual-host style), else None.
    virtual_host_bucket: str | None = None
    #: The raw path prefix of nanio's mount point in a foreign site ("/s3"),
    #: "" at the root.
    mount: str = ""

    def header(self, name: str) -> str | None:
        """The first value of a lower-case header name, or None."""
        values = self.headers.get(name)
        return values[0] if values else None

    def location(self, key: str | None = None) -> str:
        """The path by which this request's client reaches the bucket, or ``key`` in it."""
        # In the client's own addressing style, so that it resolves against
        # the URL the client used: "/s3/bkt/k" under a mount, "/k" on bkt.base.
        path = "" if self.virtual_host_bucket is not None else "/" + quote(self.bucket)
        if key is not None:
            path += "/" + quote(key)
        return self.mount + (path or "/")


def split_mount(raw_path: str, depth: int) -> tuple[str, str]:
    """Split a raw path into a mount point of ``depth`` segments and the path below it."""
    # Twisted's prepath holds the raw path's first segments, split on "/"
    # before unquoting, so the same split finds the mount point exactly.
    parts = raw_path.split("/", depth + 1)
    below = "/" + parts[depth + 1] if len(parts) > depth + 1 else "/"
    return "/".join(parts[: depth + 1]), below


class Preflight:
    """Routes, classifies and authenticates requests before their bodies."""

    def __init__(
        self,
        url_map: Map,
        authenticator: Authenticator,
        store: Store,
        credentials: Credentials,
        offload: Offload | None = None,
        hosts: VirtualHosts | None = None,
        max_object_size: int = MAX_OBJECT_SIZE_BYTES,
    ) -> None:
        self._routes = RouteMatcher(url_map)
        self._authenticator = authenticator
        self._store = store
        self._credentials = credentials
        self._offload = offload
        #: None when no base domain is configured: every request is path style.
        self._hosts = hosts
        #: The most bytes a PutObject may store; an UploadPart may store at
        #: most S3's part limit, and never more than an object may hold.
        self._max_object_size = max_object_size
        self._max_part_size = min(MAX_PART_SIZE_BYTES, max_object_size)

    def begin(
        self, method: bytes, uri: bytes, request_headers: Headers, mount_depth: int = 0
    ) -> S3Call:
        """Decide everything that can be decided before the body arrives.

        ``mount_depth`` is how many leading path segments name nanio's mount
        point in a foreign site (``len(request.prepath)``), 0 at the root.
        """
        raw_path, _, raw_query = uri.decode("latin-1").partition("?")
        call = S3Call(
            request_id=new_request_id(), method=method.decode("latin-1"), resource=raw_path
        )
        try:
            self._begin(call, raw_path, raw_query, request_headers, mount_depth)
        except errors.S3Error as e:
            self._refuse(call, e)
        except Exception:
            # A bug, not the client's fault: logged with its traceback, and
            # answered as InternalError rather than a dropped connection.
            _log.failure(
                "Unhandled error before the body of request {request_id}",
                request_id=call.request_id,
            )
            self._refuse(call, errors.InternalError())
        return call

    @staticmethod
    def _refuse(call: S3Call, error: errors.S3Error) -> None:
        call.error = error
        call.sink.abort()
        call.sink = DiscardSink()

    def _begin(
        self,
        call: S3Call,
        raw_path: str,
        raw_query: str,
        request_headers: Headers,
        mount_depth: int,
    ) -> None:
        s3_path = raw_path
        if mount_depth:
            call.mount, s3_path = split_mount(raw_path, mount_depth)
        try:
            path = unquote_to_bytes(s3_path).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.InvalidURI("Couldn't parse the specified URI.") from None
        call.headers = headers = {
            name.decode("latin-1").lower(): [v.decode("latin-1") for v in values]
            for name, values in request_headers.getAllRawHeaders()
        }
        if self._hosts is not None:
            host = headers.get("host")
            bucket_in_host = self._hosts.bucket_for(host[0]) if host else None
            if bucket_in_host is not None and path.startswith("/"):
                # Routed, classified and named in errors as its path-style
                # twin; only the signature check sees the request as sent.
                call.virtual_host_bucket = bucket_in_host
                path = f"/{bucket_in_host}{path}"
        call.resource = path
        call.query = query = parse_query(raw_query)

        try:
            endpoint, args = self._routes.match(path, call.method)
        except WerkzeugMethodNotAllowed:
            raise errors.MethodNotAllowed() from None
        except WerkzeugNotFound:
            raise errors.InvalidURI("Couldn't parse the specified URI.") from None
        call.route = endpoint, args
        shape = ROUTE_SHAPES[endpoint]
        bucket = args.get("bucket", "")
        key = args.get("key", "")
        if shape is Shape.OBJECT and not key:
            shape = Shape.BUCKET
        call.shape, call.bucket, call.key = shape, bucket, key

        operation = classify(call.method, shape, query, headers)
        if operation is None:
            raise errors.MethodNotAllowed()
        call.operation = operation

        call.auth = self._authenticator.authenticate(
            SignedRequest(
                method=call.method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                virtual_host_bucket=call.virtual_host_bucket,
                mount=call.mount,
                query=query,
            )
        )
        if operation is Operation.Unsupported:
            raise errors.S3NotImplemented()
        if shape is Shape.OBJECT:
            validate_key(key)
        if operation.needs_bucket and (
            self._credentials.multi_user or not operation.finds_bucket_itself
        ):
            # Raises NoSuchBucket: answered before 100 Continue.
            owner = self._store.bucket_info(bucket).owner
            if not may_access(self._credentials, call.auth.access_key, owner):
                raise errors.AccessDenied()
        if operation is Operation.PutObject:
            # MetadataTooLarge (and any other header the handler would
            # refuse) before the body, as S3 answers it: nobody should send
            # gigabytes only to learn that a header was too long.
            metadata_from_headers(headers)
        if operation is Operation.UploadPart:
            # A part for an upload that does not exist is refused before its body.
            part_number(call)
            self._store.upload_info(bucket, key, query["uploadId"])
        call.sink = self._open_sink(call)

    def _open_sink(self, call: S3Call) -> Sink:
        assert call.operation is not None and call.auth is not None
        body = call.operation.body
        if body is Body.OBJECT:
            max_size = (
                self._max_part_size
                if call.operation is Operation.UploadPart
                else self._max_object_size
            )
            return ObjectSink.for_call(
                self._store.create_temp(), call.headers, call.auth, self._offload, max_size
            )
        if body is Body.XML:
            # A Complete's x-amz-checksum-* headers are the object's checksum
            # (checked against its parts'), not its XML body's.
            flexible = call.operation is not Operation.CompleteMultipartUpload
            return BufferSink.for_call(call.headers, call.auth, flexible=flexible)
        return DiscardSink()
