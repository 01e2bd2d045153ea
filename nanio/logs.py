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

The text observer here writes the same lines as Twisted's
``textFileLogObserver``, faster: the timestamp is formatted once per second
(the format shows no fraction), and an access-log event carries its line
ready-made in ``access_line``, so Twisted's general formatter is spared
for the one event every request emits (measured: ~145 us of a ~460 us
logged GET in memory went to formatting the access line and its time).

This module writes nowhere but the stream it is given.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO
from urllib.parse import unquote

from twisted.logger import (
    FileLogObserver,
    ILogObserver,
    LogEvent,
    LogLevel,
    formatEventAsClassicLogText,
    formatTime,
    globalLogBeginner,
)
from zope.interface import implementer

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


#: The event key holding an access-log line already formatted.
ACCESS_LINE_KEY = "access_line"

_PRIORITIES: Mapping[LogLevel, int] = {
    level: priority for priority, level in enumerate(LogLevel.iterconstants())
}


@implementer(ILogObserver)
class _LevelFilter:
    """Passes on events at a level or above (and events without a level)."""

    def __init__(self, observer: ILogObserver, level: LogLevel) -> None:
        self._observer = observer
        self._lowest = _PRIORITIES[level]

    def __call__(self, event: LogEvent) -> None:
        level = event.get("log_level")
        if level is None or _PRIORITIES.get(level, 0) >= self._lowest:
            self._observer(event)


def level_filter(observer: ILogObserver, level: str) -> ILogObserver:
    """Wrap an observer so it sees only events at ``level`` or above."""
    return _LevelFilter(observer, LOG_LEVELS[level])


class _StampsBySecond:
    """``formatTime`` of a time, computed once per second: the format has no fraction."""

    def __init__(self) -> None:
        self._second: int | None = None
        self._stamp = "-"

    def __call__(self, when: float | None) -> str:
        if when is None:
            return "-"
        second = int(when)
        if second != self._second:
            self._second, self._stamp = second, formatTime(when)
        return self._stamp


def text_observer(stream: IO[str], tag: str | None = None) -> ILogObserver:
    """Twisted's classic text lines on ``stream``, each after ``[tag]`` when one is given."""
    stamps = _StampsBySecond()

    def format_event(event: LogEvent) -> str | None:
        line = event.get(ACCESS_LINE_KEY)
        if line is None:
            text = formatEventAsClassicLogText(event, formatTime=stamps)
        else:
            level = event.get("log_level")
            system = event.get("log_system") or (
                f"{event.get('log_namespace', '-')}#{level.name if level else '-'}"
            )
            text = f"{stamps(event.get('log_time'))} [{system}] {line}\n"
        if text is None or tag is None:
            return text
        stamp, _, rest = text.partition(" ")
        return f"{stamp} [{tag}] {rest}"

    return FileLogObserver(stream, format_event)


def start_logging(level: str, stream: IO[str] | None = None) -> None:
    """Send log events at ``level`` and above to ``stream`` (stdout) as text lines."""
    observer = text_observer(sys.stdout if stream is None else stream)
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
