"""
Log observers, the level filter, and the censoring of request URIs.

Only entry points install observers: ``nanio serve`` calls ``start_logging``;
under ``twistd`` and ``twist`` the runner installs them and ``nanio.tap``
hands it a level filter (see ``level_filter``).  Library code only emits
events through ``twisted.logger.Logger``.

``censor_uri`` runs once per request, for the access-log event that
``NanioSite.log`` emits: a presigned URL carries its signature and
credential in the query string, and Twisted's default combined log would
print them.

This module must not format events itself or write anywhere but the stream
it is given.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO
from urllib.parse import unquote

from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

#: nanio's level names (as ``nanio.config`` normalizes them) to Twisted's levels.
LOG_LEVELS: Mapping[str, LogLevel] = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}

#: Query parameters whose values are secrets or identify a signer, lower-case:
#: SigV4 presigned URLs (X-Amz-*) and SigV2 presigned URLs (Signature,
#: AWSAccessKeyId).  The names stay in the log so it remains readable.
CENSORED_QUERY_PARAMETERS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "signature",
        "awsaccesskeyid",
    }
)


def level_filter(observer: ILogObserver, level: str) -> ILogObserver:
    """Wrap an observer so it sees only events at ``level`` or above."""
    predicate = LogLevelFilterPredicate(defaultLogLevel=LOG_LEVELS[level])
    return FilteringLogObserver(observer, [predicate])


def start_logging(level: str, stream: IO[str] | None = None) -> None:
    """Send log events at ``level`` and above to ``stream`` (stdout) as text lines."""
    observer = textFileLogObserver(sys.stdout if stream is None else stream)
    # Standard output is the log itself, so leave print() and stderr alone:
    # a message printed on the way out must not loop back into the log.
    globalLogBeginner.beginLoggingTo([level_filter(observer, level)], redirectStandardIO=False)


def censor_uri(uri: bytes) -> str:
    """The request URI as text, with the values of credential query parameters blanked."""
    path, mark, query = uri.partition(b"?")
    text = path.decode("utf-8", "backslashreplace")
    if not mark:
        return text
    parameters = query.decode("utf-8", "backslashreplace").split("&")
    for index, parameter in enumerate(parameters):
        name, equals, _value = parameter.partition("=")
        # A client may percent-encode a name; S3 decodes it, so must we.
        plain = unquote(name) if "%" in name else name
        if equals and plain.lower() in CENSORED_QUERY_PARAMETERS:
            parameters[index] = name + "="
    return f"{text}?{'&'.join(parameters)}"
