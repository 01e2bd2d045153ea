"""
Two nanio processes on one data directory behind nginx: one store, no stale answers.

The nginx server block is the one ``docs/scaling.md`` shows, read from that
file, with its example addresses replaced by loopback ones: three copies of
it run at once, one whose upstream is both processes (round robin, as
documented) and one for each process alone, so that a test chooses which
process serves each request.  nginx itself is Debian's, installed by
``.ci/run``, and runs in the foreground with its configuration, pid file,
logs and temp directories under the test's own directory.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.procs import MIB, wait_for
from tests.support.server import (
    START_TIMEOUT_SECONDS,
    STOP_TIMEOUT_SECONDS,
    RunningServer,
    make_boto3_client,
    serve_command,
    start_server,
)

REPO = Path(__file__).resolve().parents[2]
SCALING_DOC = REPO / "docs" / "scaling.md"
#: The marker in docs/scaling.md just above the tested nginx configuration.
CONFIG_MARKER = "<!-- tested-nginx-config -->"
#: The example node addresses in that configuration.
EXAMPLE_NODE = re.compile(r"^( *)server 192\.0\.2\.\d+:9000;\n", re.MULTILINE)
NGINX_MISSING = (
    "nginx is not installed: .ci/run installs it (apt-get install nginx); "
    "on your machine, install Debian's nginx package"
)
#: Attempts at finding three free ports that nginx can bind.
NGINX_START_ATTEMPTS = 3
KEY_COUNT = 40


@dataclasses.dataclass
class Proxy:
    """The running nginx and its three front doors."""

    process: subprocess.Popen[bytes]
    both: str
    to_a: str
    to_b: str
    directory: Path


@dataclasses.dataclass
class Cluster:
    """Two nanio processes on one data directory, and nginx in front of them."""

    a: RunningServer
    b: RunningServer
    proxy: Proxy

    def client(self, door: str) -> Any:
        """A boto3 client talking through one of nginx's doors: "a", "b" or "both"."""
        url = {"a": self.proxy.to_a, "b": self.proxy.to_b, "both": self.proxy.both}[door]
        return make_boto3_client(dataclasses.replace(self.a, endpoint_url=url))


def documented_server_block() -> str:
    """The nginx configuration docs/scaling.md shows, exactly as written there."""
    text = SCALING_DOC.read_text(encoding="utf-8")
    _, marker, after = text.partition(CONFIG_MARKER)
    assert marker, f"{SCALING_DOC} lost its {CONFIG_MARKER} marker"
    match = re.match(r"\s*```nginx\n(.*?)```", after, re.DOTALL)
    assert match is not None, f"no ```nginx block after {CONFIG_MARKER} in {SCALING_DOC}"
    return match.group(1)


def instantiate(template: str, name: str, backends: list[str], listen_port: int) -> str:
    """The documented block for one front door: its upstream name, nodes and port."""

    def replace_once(text: str, old: str, new: str) -> str:
        assert text.count(old) == 1, f"expected {old!r} once in the documented config"
        return text.replace(old, new)

    nodes = EXAMPLE_NODE.findall(template)
    assert len(nodes) >= 2, "the documented upstream should list several example nodes"
    indent = nodes[0]
    first = True

    def nodes_here(match: re.Match[str]) -> str:
        nonlocal first
        if not first:
            return ""
        first = False
        return "".join(f"{indent}server {backend};\n" for backend in backends)

    text = EXAMPLE_NODE.sub(nodes_here, template)
    text = replace_once(text, "upstream nanio {", f"upstream {name} {{")
    text = replace_once(text, "proxy_pass http://nanio;", f"proxy_pass http://{name};")
    text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{listen_port};")
    assert "192.0.2." not in text, "an example address would be left in the test's config"
    return text


def free_ports(count: int) -> list[int]:
    """Loopback ports free right now (nginx binds them a moment later)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def nginx_command() -> str:
    """Debian's nginx; fails the test, with a hint, when it is missing."""
    path = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if path is None:
        pytest.fail(NGINX_MISSING)
    return path


def nginx_config(directory: Path, blocks: list[str]) -> str:
    """A whole nginx.conf that keeps everything nginx writes under ``directory``."""
    temp = {name: directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    lines = [
        "daemon off;",
        "worker_processes 1;",
        f"pid {directory / 'nginx.pid'};",
        f"error_log {directory / 'error.log'} info;",
    ]
    if os.geteuid() == 0:
        # Workers would otherwise run as "nobody", who cannot reach the
        # test's private temp directory.
        lines.append("user root;")
    lines += [
        "events { worker_connections 256; }",
        "http {",
        f"    access_log {directory / 'access.log'};",
        f"    client_body_temp_path {temp['client_body']};",
        f"    proxy_temp_path {temp['proxy']};",
        f"    fastcgi_temp_path {temp['fastcgi']};",
        f"    uwsgi_temp_path {temp['uwsgi']};",
        f"    scgi_temp_path {temp['scgi']};",
        *blocks,
        "}",
    ]
    return "\n".join(lines) + "\n"


def accepts(port: int) -> bool:
    """True if something accepts TCP connections on the loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def listening_or_gone(process: subprocess.Popen[bytes], ports: list[int]) -> bool:
    """True once nginx has exited or accepts connections on every port."""
    return process.poll() is not None or all(accepts(port) for port in ports)


def start_nginx(directory: Path, a: RunningServer, b: RunningServer) -> Proxy:
    """Run nginx in front of ``a`` and ``b``; retry if a chosen port was taken meanwhile."""
    nginx = nginx_command()
    template = documented_server_block()
    backend_a = a.endpoint_url.removeprefix("http://")
    backend_b = b.endpoint_url.removeprefix("http://")
    directory.mkdir()
    for _ in range(NGINX_START_ATTEMPTS):
        both, to_a, to_b = ports = free_ports(3)
        blocks = [
            instantiate(template, "nanio", [backend_a, backend_b], both),
            instantiate(template, "nanio_a", [backend_a], to_a),
            instantiate(template, "nanio_b", [backend_b], to_b),
        ]
        config = directory / "nginx.conf"
        config.write_text(nginx_config(directory, blocks))
        log = (directory / "nginx.out").open("ab")
        process = subprocess.Popen(
            [nginx, "-p", str(directory), "-c", str(config), "-e", str(directory / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_for(
            functools.partial(listening_or_gone, process, ports),
            "nginx to listen or exit",
            timeout=START_TIMEOUT_SECONDS,
        )
        if process.poll() is None:
            return Proxy(
                process,
                both=f"http://127.0.0.1:{both}",
                to_a=f"http://127.0.0.1:{to_a}",
                to_b=f"http://127.0.0.1:{to_b}",
                directory=directory,
            )
        errors = (directory / "error.log").read_text(errors="replace")
        if "Address already in use" not in errors:
            raise AssertionError(f"nginx did not start:\n{errors}")
    raise AssertionError(f"nginx found no free ports in {NGINX_START_ATTEMPTS} attempts")


def stop_nginx(proxy: Proxy) -> None:
    """Stop nginx (SIGQUIT: finish the requests in flight) and wait for it."""
    proxy.process.send_signal(signal.SIGQUIT)
    try:
        proxy.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        proxy.process.kill()
        proxy.process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two ``nanio serve`` processes on one data directory, behind nginx."""
    root = tmp_path_factory.mktemp("nginx-two-processes")
    data_dir = root / "data"
    servers: list[RunningServer] = []
    proxy = None
    try:
        for name in ("a", "b"):
            servers.append(
                start_server(
                    serve_command(data_dir),
                    data_dir=data_dir,
                    log_path=root / f"nanio-{name}.log",
                    cwd=root,
                )
            )
        proxy = start_nginx(root / "nginx", *servers)
        yield Cluster(servers[0], servers[1], proxy)
    finally:
        if proxy is not None:
            stop_nginx(proxy)
        statuses = [server.stop() for server in servers]
    assert statuses == [0, 0], f"nanio exit statuses {statuses}; logs in {root}"


@pytest.fixture
def bucket(cluster: Cluster, fresh_bucket: str) -> str:
    """A new bucket, created through process A."""
    cluster.client("a").create_bucket(Bucket=fresh_bucket)
    return fresh_bucket


def requests_served(server: RunningServer, bucket: str) -> int:
    """How many requests on ``bucket`` this process has logged."""
    return len(re.findall(rf" /{re.escape(bucket)}\S* \d{{3}} ", server.log_text()))


def logged_requests(cluster: Cluster, bucket: str, total: int) -> tuple[int, int]:
    """Requests on ``bucket`` logged by A and by B, once ``total`` have been logged in all.

    A process logs a request as it answers it, but the line reaches the
    test through a pipe and a reader thread: it may lag the answer a little.
    """

    def counts() -> tuple[int, int] | None:
        served = requests_served(cluster.a, bucket), requests_served(cluster.b, bucket)
        return served if sum(served) >= total else None

    result: tuple[int, int] = wait_for(counts, f"{total} logged requests on {bucket}")
    return result


def code_of(error: ClientError) -> str:
    """The S3 error code (or HTTP status, for HEAD) of a failed call."""
    return str(error.response["Error"]["Code"])


# --- the configuration --------------------------------------------------------------


def test_documented_config_streams_and_keeps_the_host_header() -> None:
    """The documented nginx block streams bodies both ways and passes Host unchanged."""
    block = documented_server_block()
    for directive in (
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "client_max_body_size 0;",
        "proxy_set_header Host $http_host;",
    ):
        assert directive in block


def test_each_door_reaches_its_own_process(cluster: Cluster, bucket: str) -> None:
    """A request through door A is served by process A, and through door B by process B."""
    cluster.client("a").head_bucket(Bucket=bucket)
    cluster.client("b").head_bucket(Bucket=bucket)
    cluster.client("b").head_bucket(Bucket=bucket)
    # CreateBucket and one HeadBucket went to A; two HeadBuckets to B.
    assert logged_requests(cluster, bucket, 4) == (2, 2)


# --- one store through two processes ----------------------------------------------------


def test_objects_written_through_a_are_read_through_b(cluster: Cluster, bucket: str) -> None:
    """Each of many objects written through A is read back through B at once, bytes and metadata."""
    a, b = cluster.client("a"), cluster.client("b")
    for number in range(KEY_COUNT):
        key = f"dir-{number % 4}/object {number}.txt"
        body = f"object {number} ".encode() * (number + 1)
        a.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"number": str(number)})
        got = b.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["Metadata"] == {"number": str(number)}


def test_listing_through_b_shows_every_key_just_written_through_a(
    cluster: Cluster, bucket: str
) -> None:
    """After each write through A, a listing through B already holds that key."""
    a, b = cluster.client("a"), cluster.client("b")
    written: list[str] = []
    for number in range(KEY_COUNT):
        key = f"listed/{number:03d}"
        a.put_object(Bucket=bucket, Key=key, Body=b"x")
        written.append(key)
        listed = b.list_objects_v2(Bucket=bucket, Prefix="listed/")
        assert [item["Key"] for item in listed.get("Contents", [])] == written


def test_overwrite_through_b_is_read_through_a(cluster: Cluster, bucket: str) -> None:
    """Every overwrite, alternately through B and A, is what the other reads next."""
    clients = [cluster.client("a"), cluster.client("b")]
    for generation in range(KEY_COUNT):
        writer, reader = clients[generation % 2 - 1], clients[generation % 2]
        body = f"generation {generation}".encode()
        writer.put_object(
            Bucket=bucket, Key="overwritten", Body=body, ContentType=f"text/x-gen-{generation}"
        )
        got = reader.get_object(Bucket=bucket, Key="overwritten")
        assert got["Body"].read() == body
        assert got["ContentType"] == f"text/x-gen-{generation}"
        assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'


def test_delete_through_a_is_404_through_b(cluster: Cluster, bucket: str) -> None:
    """An object deleted through A is gone through B at once: HEAD 404, GET NoSuchKey."""
    a, b = cluster.client("a"), cluster.client("b")
    for number in range(KEY_COUNT // 4):
        key = f"doomed-{number}"
        b.put_object(Bucket=bucket, Key=key, Body=b"soon gone")
        a.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(ClientError) as head:
            b.head_object(Bucket=bucket, Key=key)
        assert code_of(head.value) == "404"
        with pytest.raises(ClientError) as get:
            b.get_object(Bucket=bucket, Key=key)
        assert code_of(get.value) == "NoSuchKey"


def test_delete_through_b_empties_the_listing_through_a(cluster: Cluster, bucket: str) -> None:
    """Objects written through A and batch-deleted through B no longer list through A."""
    a, b = cluster.client("a"), cluster.client("b")
    keys = [f"batch/{number}" for number in range(KEY_COUNT)]
    for key in keys:
        a.put_object(Bucket=bucket, Key=key, Body=b"batch")
    b.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})
    assert a.list_objects_v2(Bucket=bucket, Prefix="batch/").get("Contents", []) == []


def test_bucket_deleted_through_b_is_gone_through_a(cluster: Cluster, fresh_bucket: str) -> None:
    """A bucket created through A and deleted through B is NoSuchBucket through A."""
    a, b = cluster.client("a"), cluster.client("b")
    a.create_bucket(Bucket=fresh_bucket)
    assert fresh_bucket in [entry["Name"] for entry in b.list_buckets()["Buckets"]]
    b.delete_bucket(Bucket=fresh_bucket)
    with pytest.raises(ClientError) as raised:
        a.list_objects_v2(Bucket=fresh_bucket)
    assert code_of(raised.value) == "NoSuchBucket"


def test_multipart_upload_split_across_both_processes(cluster: Cluster, bucket: str) -> None:
    """A multipart upload started on A, with parts sent to A and B alternately, completes on B."""
    a, b = cluster.client("a"), cluster.client("b")
    parts_bodies = [bytes([65 + n]) * (5 * MIB) for n in range(3)] + [b"tail"]
    upload_id = a.create_multipart_upload(Bucket=bucket, Key="joined.bin")["UploadId"]
    parts = []
    for number, body in enumerate(parts_bodies, start=1):
        client = a if number % 2 else b
        etag = client.upload_part(
            Bucket=bucket, Key="joined.bin", UploadId=upload_id, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    listed = b.list_parts(Bucket=bucket, Key="joined.bin", UploadId=upload_id)["Parts"]
    assert [part["PartNumber"] for part in listed] == [1, 2, 3, 4]
    b.complete_multipart_upload(
        Bucket=bucket, Key="joined.bin", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    body = a.get_object(Bucket=bucket, Key="joined.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts_bodies)).digest()


def test_metadata_names_with_underscores_pass_nginx(cluster: Cluster, bucket: str) -> None:
    """User metadata named with '_' and '.' survives nginx, signature and all."""
    a, b = cluster.client("a"), cluster.client("b")
    metadata = {"my_key": "one", "v1.2": "two"}
    a.put_object(Bucket=bucket, Key="named", Body=b"meta", Metadata=metadata)
    assert b.head_object(Bucket=bucket, Key="named")["Metadata"] == metadata


def test_keys_needing_escapes_pass_nginx_unchanged(cluster: Cluster, bucket: str) -> None:
    """Keys with spaces, '+', '%', '~' and non-ASCII are signed, stored and read as sent."""
    a, b = cluster.client("a"), cluster.client("b")
    keys = ["a b+c", "100%/done", "tilde~x", "naïve/€uro", "semi;colon=equals&amp"]
    for key in keys:
        a.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert b.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = b.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(keys, key=lambda k: k.encode())


# --- the documented round-robin upstream --------------------------------------------------


def test_round_robin_door_uses_both_processes(cluster: Cluster, bucket: str) -> None:
    """Through the documented upstream, consecutive requests go to both processes alike."""
    both = cluster.client("both")
    # The bucket fixture's CreateBucket went to A.
    assert logged_requests(cluster, bucket, 1) == (1, 0)
    for number in range(KEY_COUNT):
        both.put_object(Bucket=bucket, Key=f"rr/{number}", Body=b"rr")
        assert both.get_object(Bucket=bucket, Key=f"rr/{number}")["Body"].read() == b"rr"
    served_a, served_b = logged_requests(cluster, bucket, 1 + 2 * KEY_COUNT)
    assert (served_a - 1, served_b) == (KEY_COUNT, KEY_COUNT)


def test_round_robin_door_never_answers_stale(cluster: Cluster, bucket: str) -> None:
    """Through the documented upstream, write, overwrite, list and delete always agree."""
    both = cluster.client("both")
    for number in range(KEY_COUNT // 2):
        key = f"rr-consistent/{number}"
        both.put_object(Bucket=bucket, Key=key, Body=b"first")
        both.put_object(Bucket=bucket, Key=key, Body=b"second")
        assert both.get_object(Bucket=bucket, Key=key)["Body"].read() == b"second"
        listed = both.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
        assert [item["Key"] for item in listed] == [key]
        both.delete_object(Bucket=bucket, Key=key)
        assert both.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", []) == []
