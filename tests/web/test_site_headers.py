"""
The headers NanioSite puts on every answer itself: Date and Server.

StreamingRequest.process() replaces Twisted's (no resource walk, the Date
formatted once a second), so what Twisted's gave must still be there.
"""

from __future__ import annotations

from pathlib import Path

from twisted.web.http import datetimeToString

from nanio.storage import Store
from tests.support.rawhttp import Connection, make_test_site, raw_request, status_of


def _answer_headers(response: bytes) -> dict[bytes, bytes]:
    head = response.split(b"\r\n\r\n", 1)[0]
    pairs = (line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    return {name.lower(): value for name, value in pairs}


def _head_bucket(connection: Connection) -> dict[bytes, bytes]:
    connection.transport.clear()
    connection.send(raw_request("HEAD", "/bkt")[0])
    response = connection.output()
    assert status_of(response) == 200, response
    return _answer_headers(response)


def test_every_answer_has_the_date_of_the_site_clock_and_a_server(tmp_path: Path) -> None:
    """An answer carries Server and a Date header naming the site clock's second."""
    site, clock = make_test_site(str(tmp_path / "data"))
    Store(str(tmp_path / "data"), fsync=False).create_bucket("bkt", owner=None)
    headers = _head_bucket(Connection(site))
    assert headers[b"date"] == datetimeToString(int(clock.seconds()))
    assert headers[b"server"].startswith(b"TwistedWeb/")


def test_the_date_header_follows_the_clock_from_one_second_to_the_next(tmp_path: Path) -> None:
    """Two answers in one second share a Date; one a second later names the new second."""
    site, clock = make_test_site(str(tmp_path / "data"))
    Store(str(tmp_path / "data"), fsync=False).create_bucket("bkt", owner=None)
    connection = Connection(site)
    clock.advance(1 - clock.seconds() % 1)  # the start of a second
    first = _head_bucket(connection)[b"date"]
    clock.advance(0.5)
    assert _head_bucket(connection)[b"date"] == first
    clock.advance(0.6)
    later = _head_bucket(connection)[b"date"]
    assert later != first
    assert later == datetimeToString(int(clock.seconds()))


def test_an_error_answer_has_a_date_too(tmp_path: Path) -> None:
    """A refused request (no such bucket) is answered with a Date header as well."""
    site, clock = make_test_site(str(tmp_path / "data"))
    connection = Connection(site)
    connection.send(raw_request("HEAD", "/missing")[0])
    response = connection.output()
    assert status_of(response) == 404
    assert _answer_headers(response)[b"date"] == datetimeToString(int(clock.seconds()))


def test_options_star_is_answered_by_twisted_star_handling(tmp_path: Path) -> None:
    """``OPTIONS *`` gets Twisted's answer for the server as a whole, not an S3 error."""
    site, _ = make_test_site(str(tmp_path / "data"))
    connection = Connection(site)
    connection.send(b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    response = connection.output()
    assert status_of(response) == 200, response
    assert b"<Error>" not in response
