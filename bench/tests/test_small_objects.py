"""small_objects.py: parsing, the key tree, and both load generators against a toy server."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import small_objects
from _servers import CpuPlan, ServerError

NOT_PINNED = CpuPlan(server_cpu=None, client_cpu=None)
TOY_BODY_BYTES = 4096


def _marked(document: dict[str, object]) -> str:
    """A load generator's output with its figures on the marked line."""
    return "Running 1s test\n" + small_objects.LOAD_RESULT_MARKER + json.dumps(document) + "\n"


SAMPLE = {
    "duration_us": 2_000_000,
    "requests": 5000,
    "bytes": 100,
    "errors": {"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 0},
    "latency_us": {
        "mean": 3000.5,
        "max": 9000,
        "p50": 2900,
        "p90": 4000,
        "p99": 6500,
        "p999": 8000,
    },
}


def test_parse_load_output_reads_rate_and_p99() -> None:
    """The marked JSON line gives requests per second and the p99 in milliseconds."""
    result = small_objects.parse_load_output(_marked(SAMPLE))
    assert (result.requests_per_second, result.p99_ms, result.error_count) == (2500.0, 6.5, 3)


def test_parse_load_output_without_marker_is_an_error() -> None:
    """Output without the marked line (a crashed script) raises ServerError."""
    with pytest.raises(ServerError):
        small_objects.parse_load_output("Running 1s test\n  0 requests\n")


def test_load_verdict_accepts_a_few_errors() -> None:
    """Errors at or under 0.1% of the requests leave the figures reportable."""
    result = small_objects.parse_load_output(_marked(SAMPLE))
    assert small_objects.load_verdict(result) is None


def test_load_verdict_refuses_many_errors() -> None:
    """More errors than 0.1% of the requests make the run fail, saying how many."""
    document = dict(SAMPLE, errors={**SAMPLE["errors"], "status": 50})  # type: ignore[dict-item]
    result = small_objects.parse_load_output(_marked(document))
    assert "50 errors in 5000 requests" in (small_objects.load_verdict(result) or "")


def test_load_verdict_refuses_a_run_without_requests() -> None:
    """A run that completed no request cannot be reported."""
    document = dict(SAMPLE, requests=0)
    result = small_objects.parse_load_output(_marked(document))
    assert small_objects.load_verdict(result) is not None


def test_request_target_keeps_path_and_query() -> None:
    """A presigned URL's request target is its path and query, without scheme and host."""
    url = "http://127.0.0.1:9000/bench/k?X-Amz-Signature=ab%2Fc&X-Amz-Date=1"
    assert small_objects.request_target(url) == "/bench/k?X-Amz-Signature=ab%2Fc&X-Amz-Date=1"


def test_percentile_is_nearest_rank() -> None:
    """The 99th percentile of 1..100 is 99, and of 1..10 is 10."""
    assert (
        small_objects.percentile([float(i) for i in range(100, 0, -1)], 99.0),
        small_objects.percentile([float(i) for i in range(1, 11)], 99.0),
    ) == (99.0, 10.0)


def test_small_body_is_4_kib_of_varied_bytes() -> None:
    """The small objects are 4 KiB and not one repeated byte."""
    body = small_objects.small_body()
    assert (len(body), len(set(body)) > 100) == (4096, True)


def test_tree_list_prefix_of_a_million_keys_covers_ten_top_directories() -> None:
    """With 1,000 top directories the prefix is prefix-50, matching 10,000 keys."""
    assert small_objects.tree_list_prefix(1000) == ("prefix-50", 10_000)


def test_tree_list_prefix_of_a_quick_tree_covers_ten_top_directories() -> None:
    """With 20 top directories the prefix is prefix-01 (prefix-010 to prefix-019)."""
    assert small_objects.tree_list_prefix(20) == ("prefix-01", 10_000)


def test_tree_top_count_refuses_a_partial_top_directory() -> None:
    """A key count that is not a multiple of 1,000 is refused."""
    with pytest.raises(ValueError, match="multiple of 1000"):
        small_objects.tree_top_count(1500)


def test_tree_keys_sort_like_their_numbers() -> None:
    """Zero-padded names make the keys' S3 order the order they were made in."""
    keys = [small_objects.tree_key(top, sub, 0, 1000) for top in (9, 10, 100) for sub in (0, 1)]
    assert keys == sorted(keys)


def _files_under(root: Path) -> list[Path]:
    """Every regular file under a directory."""
    return [Path(d) / f for d, _, files in os.walk(root) for f in files]


def test_ensure_key_tree_makes_sparse_files_in_the_layout(tmp_path: Path) -> None:
    """A 2,000-key tree holds 2,000 files of 100 bytes under big/prefix-NNN/sub-NN/."""
    tree = small_objects.ensure_key_tree(tmp_path, 2000)
    files = _files_under(tree.data_dir / tree.bucket)
    sample = tree.data_dir / "big" / "prefix-001" / "sub-09" / "key-099"
    assert (len(files), sample.stat().st_size) == (2000, 100)


def test_ensure_key_tree_reuses_a_finished_tree(tmp_path: Path) -> None:
    """A second call finds the marker and leaves the files alone."""
    first = small_objects.ensure_key_tree(tmp_path, 1000)
    probe = first.data_dir / "big" / "prefix-000" / "sub-00" / "key-000"
    probe.write_bytes(b"changed")
    small_objects.ensure_key_tree(tmp_path, 1000)
    assert probe.read_bytes() == b"changed"


def test_ensure_key_tree_remakes_an_unfinished_tree(tmp_path: Path) -> None:
    """A tree without its marker (an interrupted run) is removed and made again."""
    first = small_objects.ensure_key_tree(tmp_path, 1000)
    (tmp_path / "keys-1000" / "complete.json").unlink()
    stray = first.data_dir / "big" / "stray"
    stray.write_bytes(b"")
    small_objects.ensure_key_tree(tmp_path, 1000)
    assert not stray.exists()


def test_reset_server_state_removes_only_the_dot_nanio_folder(tmp_path: Path) -> None:
    """A previous server's .nanio folder goes; the bucket stays."""
    tree = small_objects.ensure_key_tree(tmp_path, 1000)
    (tree.data_dir / ".nanio" / "tmp").mkdir(parents=True)
    small_objects.reset_server_state(tree)
    assert (not (tree.data_dir / ".nanio").exists(), (tree.data_dir / "big").is_dir()) == (
        True,
        True,
    )


class _ToyHandler(http.server.BaseHTTPRequestHandler):
    """A keep-alive HTTP/1.1 server: HEAD and GET of a 4 KiB body, PUT that counts bytes."""

    protocol_version = "HTTP/1.1"
    put_sizes: ClassVar[list[int]] = []

    def do_HEAD(self) -> None:
        """Headers announcing the body, and no body: what trips wrk."""
        self.send_response(200)
        self.send_header("Content-Length", str(TOY_BODY_BYTES))
        self.end_headers()

    def do_GET(self) -> None:
        """The 4 KiB body."""
        self.do_HEAD()
        self.wfile.write(b"g" * TOY_BODY_BYTES)

    def do_PUT(self) -> None:
        """Read the body and remember its size."""
        size = int(self.headers["Content-Length"])
        self.put_sizes.append(len(self.rfile.read(size)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet."""


@pytest.fixture
def toy_server() -> Iterator[int]:
    """A toy server on a free loopback port, for one test."""
    _ToyHandler.put_sizes = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ToyHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> small_objects.LoadTools:
    """wrk and a freshly built headload."""
    return small_objects.ensure_load_tools(tmp_path_factory.mktemp("tools"))


def _spec(tmp_path: Path, method: str, body_bytes: int, headload: bool) -> small_objects.LoadSpec:
    """A load spec cycling over two paths."""
    paths = small_objects.write_paths(
        tmp_path / "paths.txt", ["http://127.0.0.1:1/a?x=1", "http://127.0.0.1:1/b?x=2"]
    )
    return small_objects.LoadSpec("test", method, paths, body_bytes, use_headload=headload)


def _load(
    tools: small_objects.LoadTools, port: int, tmp_path: Path, method: str, body_bytes: int = 0
) -> small_objects.LoadResult:
    """A one-second, four-connection load of ``method`` on the toy server (headload unless PUT)."""
    spec = _spec(tmp_path, method, body_bytes, headload=method != "PUT")
    return small_objects.run_load(tools, spec, port, 4, 1, NOT_PINNED)


@pytest.mark.parametrize("method", ["HEAD", "GET"])
def test_headload_completes_requests(
    tools: small_objects.LoadTools, toy_server: int, tmp_path: Path, method: str
) -> None:
    """headload completes HEADs (a body announced, none sent) and reads GET bodies, error-free."""
    result = _load(tools, toy_server, tmp_path, method)
    assert (result.requests > 10, result.error_count) == (True, 0)


def test_wrk_script_sends_put_bodies_of_the_given_size(
    tools: small_objects.LoadTools, toy_server: int, tmp_path: Path
) -> None:
    """The wrk script's PUTs carry BODY_BYTES each and are all counted."""
    result = _load(tools, toy_server, tmp_path, "PUT", 4096)
    assert (result.requests > 10, set(_ToyHandler.put_sizes)) == (True, {4096})


def test_load_command_pins_the_client_when_planned(tmp_path: Path) -> None:
    """With a client CPU, the command starts with taskset -c on that CPU."""
    tools = small_objects.LoadTools(wrk="wrk", headload=Path("headload"))
    plan = CpuPlan(server_cpu=1, client_cpu=0)
    command = small_objects.load_command(
        tools, _spec(tmp_path, "GET", 0, headload=False), 9000, 16, 10, plan
    )
    assert command[:4] == ["taskset", "-c", "0", "wrk"]


def test_widened_plan_gives_the_server_every_cpu() -> None:
    """A widened plan lets the server run on all available CPUs and keeps the client's."""
    plan = CpuPlan(server_cpu=1, client_cpu=0).widened()
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    assert (plan.server_prefix(), plan.client_prefix()) == (
        ["taskset", "-c", cpus],
        ["taskset", "-c", "0"],
    )
