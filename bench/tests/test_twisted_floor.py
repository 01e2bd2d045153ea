"""twisted_floor.py: started as run.py starts it, it answers as S3 would, doing nothing."""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
import report
import twisted_floor
from _servers import CpuPlan, RunningServer, floor_kind, start_server

from bench.tests.test_report import _document, _record

NOT_PINNED = CpuPlan(server_cpu=None, client_cpu=None)


@pytest.fixture
def floor(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(floor_kind(cpus=NOT_PINNED), tmp_path / "data", tmp_path / "floor.log")
    try:
        yield server
    finally:
        server.stop()


def _ask(
    port: int, method: str, target: str, body: bytes | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, target, body=body)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_get_and_head_answer_the_4_kib_object(floor: RunningServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", floor.port, timeout=10)
    connection.request("GET", "/bench/get-4k?X-Amz-Signature=whatever")
    got = connection.getresponse()
    body = got.read()
    connection.request("HEAD", "/bench/head-4k")
    head = connection.getresponse()
    assert head.read() == b""
    connection.close()
    assert (got.status, len(body), head.status) == (200, 4096, 200)
    etag = '"' + hashlib.md5(body).hexdigest() + '"'
    assert got.getheader("ETag") == etag == head.getheader("ETag")
    assert head.getheader("Content-Length") == "4096"
    assert head.getheader("x-amz-request-id") is not None


def test_a_put_is_answered_with_the_md5_of_its_body(floor: RunningServer) -> None:
    response = _ask(floor.port, "PUT", "/bench/key", b"hello")
    assert response.status == 200
    assert response.getheader("ETag") == '"' + hashlib.md5(b"hello").hexdigest() + '"'


def test_the_command_runs_this_python_and_pins_like_the_servers() -> None:
    command = floor_kind(cpus=CpuPlan(server_cpu=1, client_cpu=0)).build_command(9000, Path("/x"))
    assert command[:3] == ["taskset", "-c", "1"]
    assert command[4].endswith("twisted_floor.py")
    assert command[-2:] == ["--port", "9000"]


def test_the_site_keeps_no_access_log() -> None:
    assert twisted_floor.make_site().log(object()) is None


def test_floor_rows_follow_their_workload_with_the_ratio_to_the_original() -> None:
    document = _document(
        [
            _record("head", "nanio", 3000.0, extra={"server_cpu_us_per_request": 330.0}),
            _record("head", "original", 1000.0, extra={"server_cpu_us_per_request": 800.0}),
            _record("head", "floor", 4000.0, extra={"server_cpu_us_per_request": 200.0}),
        ],
        workloads=["head"],
    )
    rates = report.concurrent_table(document, 1).rows
    assert [row[0] for row in rates] == [
        "HEAD 4 KiB, 16 conn",
        "HEAD 4 KiB, 16 conn" + report.FLOOR_SUFFIX,
    ]
    assert rates[1][1:4] == ["4,000", "1,000", "4.00x"]
    cpu = report.cpu_table(document).rows
    assert cpu[1][0] == "HEAD 4 KiB, 16 conn" + report.FLOOR_SUFFIX + ", 1w"
    assert cpu[1][1:] == ["200.0", "800.0", "4.00x"]


def test_no_floor_record_no_floor_row() -> None:
    document = _document(
        [_record("get", "nanio", 3000.0), _record("get", "original", 1000.0)], workloads=["get"]
    )
    assert len(report.concurrent_table(document, 1).rows) == 1
