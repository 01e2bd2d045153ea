"""
nanio mounted at /s3 inside a Twisted Web site that has pages of its own.

    export NANIO_ACCESS_KEY=demo NANIO_SECRET_KEY=demo-secret
    python docs/examples/embed_in_site.py --port 8080 --data-dir ./nanio-data

serves a greeting at http://127.0.0.1:8080/ and the S3 API at
http://127.0.0.1:8080/s3 (give that URL to an S3 client as its endpoint).
``--port 0`` picks a free port; the "nanio listening on" line tells which.
Every option may also come from the environment (EXAMPLE_PORT,
EXAMPLE_INTERFACE, NANIO_DATA_DIR).  SIGTERM or Ctrl-C stops it.

A plain ``Site`` buffers each request body (in memory, or a temp file when
large) before nanio sees it; see docs/embedding.md for what that changes.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger, globalLogBeginner, textFileLogObserver
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from twisted.web.iweb import IRequest
from twisted.web.resource import Resource
from twisted.web.server import Site

import nanio

log = Logger()


class Hello(Resource):
    """The host site's own page: anything the program serves besides S3."""

    isLeaf = True

    def render_GET(self, request: IRequest) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"Hello from the host site; S3 lives at /s3.\n"


def access_line(timestamp: str, request: Any) -> str:
    """The host site's access log line, without the query string.

    Twisted's default line has the whole URI, and the query of a presigned
    URL holds its signature: a credential that must not reach the logs.
    """
    path = request.uri.partition(b"?")[0].decode("utf-8", "backslashreplace")
    method = request.method.decode("latin-1")
    return f'{timestamp} "{method} {path}" {request.code} {request.sentLength}'


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The command line, with defaults from the environment."""
    parser = argparse.ArgumentParser(description="nanio at /s3 beside a page of our own.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXAMPLE_PORT", "8080")))
    parser.add_argument("--interface", default=os.environ.get("EXAMPLE_INTERFACE", "127.0.0.1"))
    parser.add_argument("--data-dir", default=os.environ.get("NANIO_DATA_DIR", "./nanio-data"))
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Build the site, listen, and run until stopped."""
    arguments = parse_arguments(argv)
    access_key = os.environ.get("NANIO_ACCESS_KEY")
    secret_key = os.environ.get("NANIO_SECRET_KEY")
    if not access_key or not secret_key:
        print("Set NANIO_ACCESS_KEY and NANIO_SECRET_KEY first.", file=sys.stderr)
        return 2
    globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])

    settings = nanio.Settings(
        data_dir=os.path.abspath(arguments.data_dir),
        users=(nanio.User(access_key, secret_key),),
    )
    # Optional: with a pool, nanio joins multipart uploads and writes large
    # bodies off the reactor thread.  Its owner (this program) starts it and
    # stops it after the reactor has stopped serving.
    pool = ThreadPool(minthreads=0, maxthreads=4, name="nanio-disk")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("after", "shutdown", pool.stop)

    root = Resource()
    root.putChild(b"", Hello())
    root.putChild(b"s3", nanio.make_resource(settings, reactor, pool))
    site = Site(root, logFormatter=access_line)

    exit_status = 0

    def announce(port: IListeningPort) -> None:
        address = port.getHost()
        log.info("nanio listening on http://{host}:{port}/s3", host=address.host, port=address.port)

    def cannot_listen(failure: Failure) -> None:
        nonlocal exit_status
        exit_status = 1
        log.error("Cannot listen: {reason}", reason=failure.getErrorMessage())
        reactor.stop()

    endpoint = TCP4ServerEndpoint(reactor, arguments.port, interface=arguments.interface)
    # Listen once the reactor runs, so that a failure can stop it.
    reactor.callWhenRunning(lambda: endpoint.listen(site).addCallbacks(announce, cannot_listen))
    reactor.run()
    return exit_status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
