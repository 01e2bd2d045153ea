"""
Log helpers: the access-log URI censor, the level filter and the text observer.
"""

from __future__ import annotations

import io

import pytest
from twisted.logger import LogEvent, Logger, LogLevel, formatEventAsClassicLogText, formatTime
from twisted.python.failure import Failure

from nanio.logs import censor_uri, level_filter, text_observer

PRESIGNED_V4 = (
    b"/bucket/key.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    b"&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    b"&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    b"&X-Amz-Signature=0123456789abcdef"
)


def test_presigned_v4_signature_and_credential_are_blanked() -> None:
    """A SigV4 presigned URL keeps its parameter names but loses signature and credential values."""
    assert censor_uri(PRESIGNED_V4) == (
        "/bucket/key.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
        "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature="
    )


def test_security_token_is_blanked() -> None:
    """The value of X-Amz-Security-Token is blanked."""
    assert censor_uri(b"/b/k?X-Amz-Security-Token=FwoGZX&x=1") == "/b/k?X-Amz-Security-Token=&x=1"


def test_presigned_v2_signature_and_key_are_blanked() -> None:
    """A SigV2 presigned URL loses its Signature and AWSAccessKeyId values."""
    uri = b"/b/k?AWSAccessKeyId=AKID&Expires=1700000000&Signature=abc%2Bdef%3D"
    assert censor_uri(uri) == "/b/k?AWSAccessKeyId=&Expires=1700000000&Signature="


@pytest.mark.parametrize("name", ["x-amz-signature", "X-AMZ-SIGNATURE", "signature"])
def test_names_match_case_insensitively(name: str) -> None:
    """Parameter names are matched whatever their case, and kept as written."""
    assert censor_uri(f"/b/k?{name}=secret".encode()) == f"/b/k?{name}="


def test_percent_encoded_name_is_blanked() -> None:
    """A name a client percent-encoded (S3 decodes it) is still recognized."""
    assert censor_uri(b"/b/k?X-Amz-Signatur%65=abc") == "/b/k?X-Amz-Signatur%65="


def test_other_parameters_are_kept_in_order() -> None:
    """Parameters that carry no credential pass through unchanged, in order."""
    uri = b"/b?list-type=2&prefix=photos%2F2026&delimiter=%2F&max-keys=10"
    assert censor_uri(uri) == uri.decode()


def test_uri_without_query_is_unchanged() -> None:
    """A URI without a query string is only decoded."""
    assert censor_uri(b"/bucket/a/b/c.txt") == "/bucket/a/b/c.txt"


def test_signature_named_in_the_path_is_kept() -> None:
    """Only the query string is censored: a key may be named like a parameter."""
    assert censor_uri(b"/b/Signature=1?x=2") == "/b/Signature=1?x=2"


def test_undecodable_bytes_do_not_raise() -> None:
    """Bytes that are not UTF-8 are shown escaped rather than raising."""
    assert censor_uri(b"/b/\xff?Signature=\xfe") == "/b/\\xff?Signature="


def test_level_filter_drops_events_below_the_level() -> None:
    """An observer filtered at warn sees warn and error events, not info or debug."""
    seen: list[LogEvent] = []
    log = Logger(observer=level_filter(seen.append, "warn"))
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    assert [event["log_format"] for event in seen] == ["w", "e"]


def _event(**fields: object) -> dict[str, object]:
    event: dict[str, object] = {
        "log_time": 1764125000.25,
        "log_level": LogLevel.info,
        "log_namespace": "nanio.web.site.NanioSite",
    }
    event.update(fields)
    return event


def test_text_observer_writes_twisteds_classic_line_for_an_access_event() -> None:
    """An access event's ready-made line comes out exactly as Twisted's formatter writes it."""
    event = _event(log_format="{access_line}", access_line="GET /b/k 200 5 0.1ms ID key")
    stream = io.StringIO()
    text_observer(stream)(event)
    assert stream.getvalue() == formatEventAsClassicLogText(event)


def test_text_observer_writes_other_events_with_their_traceback() -> None:
    """Events without a ready-made line are formatted by Twisted, failures with their traceback."""
    try:
        raise ValueError("boom")
    except ValueError:
        failure = Failure()
    event = _event(log_format="it failed: {what}", what="x", log_failure=failure)
    stream = io.StringIO()
    text_observer(stream)(event)
    assert stream.getvalue().startswith(formatEventAsClassicLogText(event).rstrip("\n"))
    assert "ValueError: boom" in stream.getvalue()


def test_text_observer_stamps_change_with_the_second() -> None:
    """The cached timestamp is recomputed when the second changes."""
    stream = io.StringIO()
    observer = text_observer(stream)
    for when in (1764125000.1, 1764125000.9, 1764125001.0):
        observer(_event(log_time=when, log_format="x"))
    stamps = [line.split(" ")[0] for line in stream.getvalue().splitlines()]
    assert stamps == [formatTime(1764125000.1), formatTime(1764125000.9), formatTime(1764125001.0)]
    assert stamps[0] == stamps[1] != stamps[2]


def test_text_observer_tags_every_line() -> None:
    """With a tag, each line reads "<time> [<tag>] [<system>] <text>"."""
    stream = io.StringIO()
    text_observer(stream, "worker 2 pid 7")(_event(log_format="hello"))
    assert (
        stream.getvalue().split(" ", 1)[1]
        == "[worker 2 pid 7] [nanio.web.site.NanioSite#info] hello\n"
    )
