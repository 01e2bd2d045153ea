"""
A one-request treq client, run in a subprocess by integration tests.

``python -m tests.support.treq_client METHOD URL [--upload FILE] [--output FILE]``
sends one request with treq on the real reactor, writes the response body to
``--output`` (when given) and prints the status code.  A subprocess keeps the
test run free of a running reactor (pytest-twisted is not installed), and
treq sees the server as any Twisted program would.

Test support only: nothing here imports nanio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import treq
from twisted.internet.defer import Deferred
from twisted.internet.task import react

#: Deadline for the whole request; a hang fails the run.
TIMEOUT_SECONDS = 60.0


async def fetch(
    reactor: Any, method: str, url: str, upload: Path | None, output: Path | None
) -> int:
    """Send one request with treq; save the body; return the status code."""
    data = upload.read_bytes() if upload is not None else None
    response = await treq.request(method, url, data=data, timeout=TIMEOUT_SECONDS, reactor=reactor)
    body = await treq.content(response)
    if output is not None:
        output.write_bytes(body)
    return int(response.code)


def main(argv: list[str]) -> None:
    """Parse the command line and run one request under ``react``."""
    parser = argparse.ArgumentParser(description="Send one request with treq.")
    parser.add_argument("method")
    parser.add_argument("url")
    parser.add_argument("--upload", type=Path)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)

    async def run(reactor: Any) -> None:
        status = await fetch(reactor, args.method, args.url, args.upload, args.output)
        print(status, flush=True)

    react(lambda reactor: Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main(sys.argv[1:])
