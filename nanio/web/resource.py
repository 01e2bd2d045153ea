"""
The Klein application: S3's URL space mapped onto operation handlers.

Klein's routes declare the three path shapes (service, bucket, object) and
are the one route table: ``call.Preflight`` matches the request against it
once, as soon as the headers are in; ``nanio.s3.operations.classify`` picks
the operation from the sub-resource and headers; a handler in
``web/handlers/`` does the work.  No HTML ever leaves: every failure
becomes S3 error XML.

``NanioResource`` is the IResource a site serves.  It has the request's
``S3Call`` made (and its address normalized) first, then runs the matched
route's endpoint through Klein and answers with what it returns.  Klein's
own ``render`` is not used: it would bind and match the route table a
second time and wrap each request in adapters and Deferreds, about 60 us of
a 300 us signed GET, measured in memory.  Routes return bytes, a Deferred
or a coroutine, as Klein routes do.

The app lives on the class; the store, settings and clock on the instance.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from io import BytesIO
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from klein import Klein
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from werkzeug.routing import BaseConverter

from nanio import errors
from nanio.credentials import Credentials
from nanio.s3 import xml
from nanio.s3.auth import Authenticator
from nanio.s3.hosts import VirtualHosts
from nanio.s3.operations import Operation, Shape
from nanio.storage import Store
from nanio.web.call import Preflight, S3Call, new_request_id
from nanio.web.handlers import bucket as bucket_handlers
from nanio.web.handlers import multipart as multipart_handlers
from nanio.web.handlers import object as object_handlers
from nanio.web.handlers import service as service_handlers
from nanio.web.handlers import tagging as tagging_handlers
from nanio.web.handlers.context import Context
from nanio.web.spool import Offload

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime
    from twisted.python.threadpool import ThreadPool
    from twisted.web.iweb import IRequest
    from twisted.web.resource import IResource

    from nanio.config import Settings

log = Logger()

_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]

Handler = Callable[[Context, Any, S3Call], Any]

#: Operation -> handler.  Operations missing here answer 501 NotImplemented.
HANDLERS: dict[Operation, Handler] = {
    Operation.ListBuckets: service_handlers.list_buckets,
    Operation.CreateBucket: bucket_handlers.create_bucket,
    Operation.DeleteBucket: bucket_handlers.delete_bucket,
    Operation.HeadBucket: bucket_handlers.head_bucket,
    Operation.GetBucketLocation: bucket_handlers.get_bucket_location,
    Operation.GetBucketVersioning: bucket_handlers.get_bucket_versioning,
    Operation.GetBucketAcl: bucket_handlers.get_bucket_acl,
    Operation.PutBucketAcl: bucket_handlers.put_bucket_acl,
    Operation.GetBucketTagging: tagging_handlers.get_bucket_tagging,
    Operation.PutBucketTagging: tagging_handlers.put_bucket_tagging,
    Operation.DeleteBucketTagging: tagging_handlers.delete_bucket_tagging,
    Operation.ListObjects: bucket_handlers.list_objects,
    Operation.ListObjectsV2: bucket_handlers.list_objects_v2,
    Operation.ListObjectVersions: bucket_handlers.list_object_versions,
    Operation.DeleteObjects: bucket_handlers.delete_objects,
    Operation.PutObject: object_handlers.put_object,
    Operation.CopyObject: object_handlers.copy_object,
    Operation.GetObject: object_handlers.get_object,
    Operation.HeadObject: object_handlers.head_object,
    Operation.DeleteObject: object_handlers.delete_object,
    Operation.GetObjectAcl: object_handlers.get_object_acl,
    Operation.PutObjectAcl: object_handlers.put_object_acl,
    Operation.GetObjectTagging: tagging_handlers.get_object_tagging,
    Operation.PutObjectTagging: tagging_handlers.put_object_tagging,
    Operation.DeleteObjectTagging: tagging_handlers.delete_object_tagging,
    Operation.GetObjectAttributes: object_handlers.get_object_attributes,
    Operation.CreateMultipartUpload: multipart_handlers.create_multipart_upload,
    Operation.UploadPart: multipart_handlers.upload_part,
    Operation.UploadPartCopy: multipart_handlers.upload_part_copy,
    Operation.CompleteMultipartUpload: multipart_handlers.complete_multipart_upload,
    Operation.AbortMultipartUpload: multipart_handlers.abort_multipart_upload,
    Operation.ListParts: multipart_handlers.list_parts,
    Operation.ListMultipartUploads: multipart_handlers.list_multipart_uploads,
}


class KeyConverter(BaseConverter):
    """Matches any key, slashes and emptiness included: keys.py judges keys."""

    # [\s\S] rather than ".": a key with a newline must reach keys.py and be
    # refused there like any other control character.
    regex = r"[\s\S]*"
    part_isolating = False


@dataclass
class S3Resource:
    """nanio's S3 API as a Klein application bound to one store."""

    context: Context
    preflight: Preflight

    app = Klein()
    # A key may begin with "/" or hold "//": never merge or redirect.
    app.url_map.merge_slashes = False
    # "/bkt" and "/bkt/" name the same bucket.
    app.url_map.strict_slashes = False
    # Registered before the first route: rules copy the map's settings.
    app.url_map.converters["s3key"] = KeyConverter

    @app.route("/", methods=_METHODS)
    def service(self, request: IRequest) -> Any:
        return self._run(request)

    @app.route("/<bucket>", methods=_METHODS)
    def bucket(self, request: IRequest, bucket: str) -> Any:
        return self._run(request)

    @app.route("/<bucket>/<s3key:key>", methods=_METHODS)
    def object(self, request: IRequest, bucket: str, key: str) -> Any:
        return self._run(request)

    def _run(self, request: Any) -> Any:
        # NanioResource.render made it before it ran this route.
        call: S3Call = request.s3call
        assert call.operation is not None
        handler = HANDLERS.get(call.operation)
        if handler is None:
            raise errors.S3NotImplemented(
                f"{call.operation.api_name} is not implemented by this server."
            )
        # Bytes, a Deferred or a coroutine: NanioResource.render, which ran
        # this route, turns each into the answer (its length included).
        return handler(self.context, request, call)

    def call_for(self, request: Any) -> S3Call:
        """The request's S3Call: made at gotLength by NanioSite, or here for a foreign Site."""
        call: S3Call | None = getattr(request, "s3call", None)
        if call is None:
            # Before Klein routes: prepath is then nanio's mount point alone.
            call = self.preflight.begin(
                request.method, request.uri, request.requestHeaders, len(request.prepath)
            )
            request.s3call = call
            request.defaultContentType = None
            if call.error is None:
                # A foreign Site buffered the body already; pass it through the
                # same sink so digests and limits apply alike.
                _replay_body(request.content, call)
        request.setHeader(b"x-amz-request-id", call.request_id.encode("ascii"))
        return call

    def error_body(self, request: Any, error: BaseException) -> bytes:
        """Answer a failure: its S3 error, or InternalError (logged) for anything else."""
        if isinstance(error, errors.S3Error):
            return self._render_error(request, error)
        call = getattr(request, "s3call", None)
        log.failure(
            "Unhandled error in {method} request {request_id}",
            Failure(error),
            method=getattr(call, "method", "?"),
            request_id=getattr(call, "request_id", "?"),
        )
        return self._render_error(request, errors.InternalError())

    def _render_error(self, request: Any, error: errors.S3Error) -> bytes:
        call: S3Call | None = getattr(request, "s3call", None)
        request_id = call.request_id if call is not None else new_request_id()
        resource = error.resource or (call.resource if call is not None else None)
        if resource is not None and not resource.isprintable():
            # Never echo control characters back, not even escaped.
            resource = quote(resource, safe="/")
        if call is not None:
            call.sink.abort()
        if request.startedWriting:
            # The 200 is on the wire already (a keep-alive Complete): S3 then
            # sends the Error document as the body, and SDKs look for it.
            body = xml.error_body(error.code, error.message, resource, request_id, error.fields)
            return body.removeprefix(xml.XML_DECLARATION)
        request.setResponseCode(error.status)
        request.setHeader(b"x-amz-request-id", request_id.encode("ascii"))
        for name, value in error.headers.items():
            request.setHeader(name.encode("latin-1"), value.encode("latin-1"))
        if error.status == 304:
            return b""
        request.setHeader(b"content-type", b"application/xml")
        body = xml.error_body(error.code, error.message, resource, request_id, error.fields)
        request.setHeader(b"content-length", b"%d" % len(body))
        return body


class NanioResource(Resource):
    """nanio as a Twisted Web resource: the request's S3Call, then its route's endpoint.

    A leaf: everything below its mount point is S3's.  The endpoint is the
    one ``Preflight`` matched, on the path-style ``/bucket/key`` of the
    request, so a virtual-host request reaches the same route as its
    path-style twin.
    """

    isLeaf = True

    def __init__(self, s3: S3Resource) -> None:
        super().__init__()
        self.s3 = s3
        # Bound once and kept: the instance holds its bound app only weakly.
        self._app = s3.app

    def render(self, request: Any) -> Any:
        call = self.s3.call_for(request)
        try:
            if call.error is not None:
                raise call.error
            assert call.route is not None
            endpoint, arguments = call.route
            result: Any = self._app.execute_endpoint(endpoint, request, **arguments)
        except Exception as e:
            return self._answer(self.s3.error_body(request, e), request)
        if type(result) is bytes:
            # Most answers: spared the ABC checks below (the last line would do the same).
            return self._answer(result, request)
        if isinstance(result, Coroutine):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            # A client that goes away cancels the work (a GET's producer
            # closes its file).
            request.notifyFinish().addErrback(lambda _: result.cancel())
            result.addCallbacks(
                self._answer, self._failed, callbackArgs=(request,), errbackArgs=(request,)
            )
            return NOT_DONE_YET
        return self._answer(result, request)

    def _failed(self, failure: Failure, request: Any) -> None:
        if failure.check(CancelledError) and request._disconnected:
            return  # the client went away and cancelled the work: nothing failed
        error = failure.value
        assert error is not None
        self._answer(self.s3.error_body(request, error), request)

    @staticmethod
    def _answer(body: bytes | None, request: Any) -> Any:
        """Send what a route returned (None: it wrote the body itself) and finish."""
        if request.finished or request._disconnected:
            return NOT_DONE_YET  # the client went away meanwhile
        if body is None:
            request.finish()
            return NOT_DONE_YET
        _with_length(body, request)
        answer_whole = getattr(request, "answer_whole", None)
        if answer_whole is not None:
            answer_whole(body)  # a NanioSite's request: one write
            return NOT_DONE_YET
        if body:
            request.write(body)
        request.finish()
        return NOT_DONE_YET


def _with_length(body: Any, request: Any) -> Any:
    """Give a whole-bytes answer its Content-Length (else Twisted chunks it)."""
    if (
        isinstance(body, bytes)
        and not request.startedWriting
        and not request.responseHeaders.hasHeader(b"content-length")
    ):
        # HEAD answers set the object's length themselves and send no body;
        # an answer already on the wire (a keep-alive) has no length to give.
        request.setHeader(b"content-length", b"%d" % len(body))
    return body


def _replay_body(content: BytesIO | None, call: S3Call) -> None:
    if content is None:
        return
    content.seek(0)
    try:
        while piece := content.read(256 * 1024):
            call.sink.write(piece)
    except errors.S3Error as e:
        call.error = e
        call.sink.abort()


def make_s3_resource(
    settings: Settings,
    reactor: IReactorTime | None = None,
    pool: ThreadPool | None = None,
    *,
    offload: Offload | None = None,
) -> S3Resource:
    """The S3Resource for these settings (its store, credentials and clock).

    With a thread pool (started and stopped by its owner), large uploads are
    written to disk from it; without one, everything runs in the reactor
    thread.  ``offload`` replaces the pool with any function that runs a call
    and returns a Deferred (tests use a deliberately slow one).
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = cast("IReactorTime", global_reactor)
    # Freeing replaced files is nobody's wait: the pool does it, if there is one.
    store = Store(
        settings.data_dir,
        fsync=settings.fsync,
        background=pool.callInThread if pool is not None else None,
    )
    credentials = Credentials(settings.users)
    authenticator = Authenticator(credentials.secret_for, clock=reactor.seconds)
    if offload is None and pool is not None:
        offload = partial(deferToThreadPool, cast(Any, reactor), pool)
    context = Context(
        store=store, settings=settings, credentials=credentials, clock=reactor, offload=offload
    )
    # No base domain, no Host lookups: path style costs one test per request.
    hosts = VirtualHosts(settings.base_domains) if settings.base_domains else None
    preflight = Preflight(
        S3Resource.app.url_map,
        authenticator,
        store,
        credentials,
        offload,
        hosts,
        max_object_size=settings.max_object_size,
    )
    return S3Resource(context=context, preflight=preflight)


def make_resource(
    settings: Settings, reactor: IReactorTime | None = None, pool: ThreadPool | None = None
) -> IResource:
    """nanio as an IResource, to mount in any Twisted Web site (``putChild``).

    A plain ``Site`` buffers request bodies before nanio sees them; only
    ``NanioSite`` streams them to disk (see docs/embedding.md).  ``pool``,
    when given, takes the long disk work; its owner starts and stops it.
    """
    return NanioResource(make_s3_resource(settings, reactor, pool))


__all__ = ["NanioResource", "S3Resource", "Shape", "make_resource", "make_s3_resource"]
