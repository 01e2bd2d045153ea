"""
Starting and stopping a real server: nanio serve, twist and twistd.

These check only that each way of starting nanio listens, answers HTTP with
S3 error XML, and stops cleanly on SIGTERM; S3 operations are tested
elsewhere.
"""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from nanio.allocator import on_glibc
from tests.support.server import (
    TWISTED_RUNNER_EXIT_STATUSES,
    RunningServer,
    clean_environ,
    serve_command,
    start_server,
    twistd_command,
)


def unsigned_get(url: str) -> tuple[int, bytes]:
    """Status and body of an unsigned GET (S3 answers it with error XML)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def assert_s3_error_xml(body: bytes) -> None:
    """The body is an S3 error document: an <Error> with a <Code>."""
    assert b"<Error>" in body and b"<Code>" in body


def start_fresh(tmp_path: Path, command: Callable[..., list[str]], **kwargs: Any) -> RunningServer:
    """Start a server of one's own in tmp_path."""
    data_dir = tmp_path / "data"
    return start_server(
        command(data_dir),
        data_dir=data_dir,
        log_path=tmp_path / "server.log",
        cwd=tmp_path,
        **kwargs,
    )


@pytest.mark.parametrize("runner", ["nanio_server", "twist_server"], ids=["nanio-serve", "twist"])
def test_server_answers_with_s3_xml(request: pytest.FixtureRequest, runner: str) -> None:
    """The nanio serve and python -m twisted nanio servers answer unsigned requests in S3 XML."""
    server: RunningServer = request.getfixturevalue(runner)
    status, body = unsigned_get(server.endpoint_url + "/")
    assert status == 403
    assert_s3_error_xml(body)


def test_listening_line_names_loopback_and_a_real_port(nanio_server: RunningServer) -> None:
    """With --listen tcp:0, the logged URL names 127.0.0.1 and the port the system chose."""
    address = urlsplit(nanio_server.endpoint_url)
    assert (address.scheme, address.hostname) == ("http", "127.0.0.1")
    assert address.port is not None and address.port > 0


def test_data_dir_is_created(nanio_server: RunningServer) -> None:
    """nanio serve creates the missing data directory it was given."""
    assert nanio_server.data_dir.is_dir()


def test_signed_list_buckets_succeeds(boto3_client: Callable[..., Any]) -> None:
    """A boto3 client from the fixture factory is accepted by the server."""
    response = boto3_client().list_buckets()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_nanio_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """nanio serve exits with status 0 on SIGTERM."""
    server = start_fresh(tmp_path, serve_command)
    assert server.stop() == 0


def test_nanio_serve_logs_closing_its_port(tmp_path: Path) -> None:
    """On SIGTERM, nanio serve closes its listening port before it exits."""
    server = start_fresh(tmp_path, serve_command)
    port = urlsplit(server.endpoint_url).port
    server.stop()
    assert f"Port {port} Closed" in server.log_text()


@pytest.mark.skipif(not on_glibc(), reason="the allocator setting is glibc's")
@pytest.mark.parametrize("command", [serve_command, twistd_command], ids=["nanio-serve", "twistd"])
def test_the_commands_set_the_allocator(tmp_path: Path, command: Callable[..., list[str]]) -> None:
    """nanio serve and twistd nanio set glibc's thresholds (docs/running.md), logged at debug."""
    server = start_fresh(tmp_path, lambda data_dir: command(data_dir, "--log-level", "debug"))
    try:
        server.wait_for_log(r"glibc allocator: mmap threshold 4 MiB, trim threshold 32 MiB")
    finally:
        server.stop()


def test_twistd_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    """twistd -n nanio listens, answers S3 error XML, and stops cleanly on SIGTERM."""
    server = start_fresh(tmp_path, twistd_command)
    try:
        status, body = unsigned_get(server.endpoint_url + "/")
    finally:
        exit_status = server.stop()
    assert status == 403
    assert_s3_error_xml(body)
    assert exit_status in TWISTED_RUNNER_EXIT_STATUSES


def twistd_on_a_taken_port(
    tmp_path: Path, *extra: str
) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run twistd -n nanio on a port another socket holds: that port, and what twistd did."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = twistd_command(tmp_path / "data", *extra)
        command[command.index("tcp:0:interface=127.0.0.1")] = f"tcp:{port}:interface=127.0.0.1"
        result = subprocess.run(
            command,
            cwd=tmp_path,
            env=clean_environ({"NANIO_ACCESS_KEY": "a", "NANIO_SECRET_KEY": "b"}),
            capture_output=True,
            text=True,
            timeout=60,
        )
    return port, result


def test_twistd_applies_log_level(tmp_path: Path) -> None:
    """Under twistd, --log-level warn keeps error events and drops info events."""
    _, result = twistd_on_a_taken_port(tmp_path, "--log-level", "warn")
    assert "nanio cannot listen" in result.stdout  # an error event
    assert "starting up" not in result.stdout  # twistd's own info event


def test_twistd_reports_port_in_use_without_traceback(tmp_path: Path) -> None:
    """twistd -n nanio on a port in use exits non-zero with one line, no traceback."""
    port, result = twistd_on_a_taken_port(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output
    assert f"Cannot listen on tcp:{port}:interface=127.0.0.1: Address already in use." in output
