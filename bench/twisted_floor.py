"""The floor under any Twisted Web server here: a plain Site that does no S3 work at all.

``run.py`` starts it as a third "server" (one process, pinned where the
servers run) for the GET and HEAD loads only, and reports its rate and CPU
per request beside the original's::

    .venv/bin/python bench/twisted_floor.py --port 9000

One stock ``twisted.web.server.Site`` whose root is a leaf resource.  Every
GET or HEAD gets the answer an S3 server gives for a 4 KiB object (the same
headers, the same bytes) made once at start; a PUT (the fill) is read whole
and answered 200 with its MD5 as the ETag.  No signature check, no routing,
no file system, no access log.  So its figures are what Twisted Web and the
kernel's loopback TCP alone cost per request on this machine: nanio, built
on the same Twisted, cannot do better than this floor, and the floor's ratio
to the original bounds the ratio nanio can show.  It only reports.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from typing import Any

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

#: The object every GET and HEAD answers with: the bench's 4 KiB body.
OBJECT_BYTES = 4096
BODY = b"x" * OBJECT_BYTES
#: What an S3 server sends with a 4 KiB object (values made once).
OBJECT_HEADERS = (
    (b"x-amz-request-id", b"0123456789ABCDEF"),
    (b"etag", b'"' + hashlib.md5(BODY).hexdigest().encode("ascii") + b'"'),
    (b"last-modified", b"Thu, 26 Nov 2026 12:00:00 GMT"),
    (b"accept-ranges", b"bytes"),
    (b"content-type", b"binary/octet-stream"),
    (b"content-length", str(OBJECT_BYTES).encode("ascii")),
)


class Object(Resource):
    """Every path is the one object; PUTs are taken and forgotten."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        for name, value in OBJECT_HEADERS:
            request.setHeader(name, value)
        return BODY

    def render_HEAD(self, request: Any) -> bytes:
        # Twisted sends the headers of render_GET's answer without its body.
        return self.render_GET(request)

    def render_PUT(self, request: Any) -> bytes:
        body = request.content.read()
        request.setHeader(b"x-amz-request-id", b"0123456789ABCDEF")
        request.setHeader(b"etag", b'"' + hashlib.md5(body).hexdigest().encode("ascii") + b'"')
        request.setHeader(b"content-length", b"0")
        return b""


def make_site() -> Site:
    """The floor's Site: the leaf resource, no access log."""
    site = Site(Object())
    site.log = lambda request: None  # type: ignore[method-assign]
    return site


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args(argv)
    reactor.listenTCP(arguments.port, make_site(), interface=arguments.host)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
