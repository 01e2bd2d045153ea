"""
Host names under a test domain that resolve to 127.0.0.1, without DNS.

Virtual-host tests send requests to ``<bucket>.s3.nanio.test``; no resolver
knows that name, and ``*.localhost`` does not resolve everywhere either.
Python clients look names up through ``socket.getaddrinfo``, so inside a
Python process that one function is wrapped: names under the domain become
127.0.0.1, every other name resolves as before, and each name it answered is
recorded (proof that a client really used the virtual host).

Two ways to use it:
- in the test process (boto3): ``with loopback_names("s3.nanio.test") as seen:``;
- for a Python command-line client in a subprocess (aws-cli):
  ``python -m tests.support.loopback_names s3.nanio.test awscli.clidriver:main
  -- s3 ls``, which wraps resolution and then runs the client's entry point.
  No sitecustomize, no change to the client.

Test support only; it never touches the system's resolver configuration.
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import sys
from collections.abc import Iterator
from typing import Any

LOOPBACK = "127.0.0.1"


def is_under(name: object, domain: str) -> bool:
    """Whether a host name is ``domain`` or a name below it (case-insensitive)."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    if not isinstance(name, str):
        return False
    name = name.lower().removesuffix(".")
    return name == domain or name.endswith("." + domain)


@contextlib.contextmanager
def loopback_names(domain: str) -> Iterator[list[str]]:
    """Resolve ``domain`` and every name below it to 127.0.0.1 inside this block."""
    real_getaddrinfo = socket.getaddrinfo
    seen: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if is_under(host, domain):
            seen.append(host.decode("ascii") if isinstance(host, bytes) else host)
            host = LOOPBACK
        return real_getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        yield seen
    finally:
        socket.getaddrinfo = real_getaddrinfo


def main(argv: list[str]) -> int:
    """``DOMAIN MODULE:FUNCTION -- ARGS...``: run a client's entry point with the names wrapped."""
    domain, entry_point, separator, *arguments = argv
    if separator != "--":
        raise SystemExit("usage: loopback_names DOMAIN MODULE:FUNCTION -- ARGS...")
    module_name, _, function_name = entry_point.partition(":")
    entry = getattr(importlib.import_module(module_name), function_name)
    sys.argv = [module_name, *arguments]
    with loopback_names(domain) as seen:
        status = entry()
    # Which names were looked up, for the test to check.
    print(f"loopback_names resolved: {' '.join(sorted(set(seen)))}", file=sys.stderr)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
