"""
Fixtures for tests against a real nanio server on a loopback port.

One server per run for each way of starting it: ``nanio_server`` (the
``nanio serve`` console script) and ``twist_server`` (``python -m twisted
nanio``).  ``server`` is the one S3 tests use.  At the end of the run each
gets SIGTERM and must exit cleanly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.server import (
    TWISTED_RUNNER_EXIT_STATUSES,
    RunningServer,
    make_boto3_client,
    serve_command,
    start_server,
    twist_command,
)


def _run_for_session(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    command: Callable[..., list[str]],
    clean_exit_statuses: tuple[int, ...],
) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp(name)
    data_dir = root / "data"
    server = start_server(
        command(data_dir),
        data_dir=data_dir,
        log_path=root / "server.log",
        cwd=root,
        clean_exit_statuses=clean_exit_statuses,
    )
    try:
        yield server
    finally:
        status = server.stop()
    assert status in clean_exit_statuses, f"exit status {status}; log: {server.log_path}"


@pytest.fixture(scope="session")
def nanio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server started with ``nanio serve``, shared by the whole run."""
    yield from _run_for_session(tmp_path_factory, "nanio-serve", serve_command, (0,))


@pytest.fixture(scope="session")
def twist_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server started with ``python -m twisted nanio``, shared by the whole run."""
    yield from _run_for_session(
        tmp_path_factory, "twist-nanio", twist_command, TWISTED_RUNNER_EXIT_STATUSES
    )


@pytest.fixture(scope="session")
def server(nanio_server: RunningServer) -> RunningServer:
    """The server S3 tests talk to."""
    return nanio_server


@pytest.fixture
def boto3_client(server: RunningServer) -> Callable[..., Any]:
    """A factory of path-style boto3 clients: ``boto3_client(checksums=..., target=...)``.

    ``checksums="when_supported"`` (the default) is botocore's newest
    behaviour; ``"when_required"`` is how older SDKs behave.
    """

    def make(checksums: str = "when_supported", target: RunningServer | None = None) -> Any:
        return make_boto3_client(target or server, checksums=checksums)

    return make


@pytest.fixture(params=["when_supported", "when_required"], ids=["newest", "when-required"])
def s3(request: pytest.FixtureRequest, server: RunningServer) -> Any:
    """A boto3 client with the newest defaults, then one that sends checksums only when required."""
    return make_boto3_client(server, checksums=request.param)


@pytest.fixture
def fresh_bucket() -> str:
    """A bucket name no other test uses (the bucket is not created)."""
    return f"test-{uuid.uuid4().hex[:20]}"


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    """One boto3 client (newest defaults) per module, to set up and check."""
    return make_boto3_client(server)


@pytest.fixture
def bucket(client: Any, fresh_bucket: str) -> str:
    """A freshly created, empty bucket."""
    client.create_bucket(Bucket=fresh_bucket)
    return fresh_bucket
