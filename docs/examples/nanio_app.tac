"""
A twistd application running nanio's whole server beside a service of its own.

    export NANIO_ACCESS_KEY=demo NANIO_SECRET_KEY=demo-secret
    twistd --pidfile= -ny docs/examples/nanio_app.tac

nanio answers S3 on NANIO_LISTEN (default tcp:9000:interface=127.0.0.1) with
its data in NANIO_DATA_DIR (default ./nanio-data); a small status page
answers on STATUS_LISTEN (default tcp:9001:interface=127.0.0.1).  Both are
Twisted endpoint descriptions; tcp:0 picks a free port, and the log says
which ("nanio listening on ...", "Site starting on ...").  twistd starts and
stops everything: SIGTERM or Ctrl-C stops nanio's ports and its disk threads
with the rest of the application.
"""

from __future__ import annotations

import os

from twisted.application import service, strports
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Site

import nanio


class StatusPage(Resource):
    """A page of the application's own, served by its own site."""

    isLeaf = True

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"This application also runs nanio.\n"


settings = nanio.Settings(
    data_dir=os.path.abspath(os.environ.get("NANIO_DATA_DIR", "./nanio-data")),
    listen=tuple(os.environ.get("NANIO_LISTEN", "tcp:9000:interface=127.0.0.1").split()),
    users=(nanio.User(os.environ["NANIO_ACCESS_KEY"], os.environ["NANIO_SECRET_KEY"]),),
)

application = service.Application("nanio-app")

# nanio's service tree: its listener, its disk thread pool and its timers.
nanio.make_service(settings).setServiceParent(application)

# Another service of the same application: a web site of its own.
strports.service(
    os.environ.get("STATUS_LISTEN", "tcp:9001:interface=127.0.0.1"), Site(StatusPage())
).setServiceParent(application)
