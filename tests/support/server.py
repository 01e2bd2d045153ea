"""
A real nanio server in a child process, started the way a user starts one.

``start_server`` runs a command (``nanio serve ...``, ``twistd -n nanio ...``,
``python -m twisted nanio ...``), copies everything it prints into a log file,
and returns once the "nanio listening on <url>" line names the address: a
deadline bounds the wait, and no sleep paces it (``spawn`` starts one
without waiting).  ``RunningServer.stop`` sends SIGTERM and returns the exit
status.

Also the boto3 client factory the integration tests share.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: The line NanioListener logs once per listening port.
LISTENING = re.compile(r"nanio listening on (https?://\S+)")
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0

ACCESS_KEY = "nanio-integration"
SECRET_KEY = "nanio-integration-secret"
REGION = "us-east-1"


def console_script(name: str) -> str:
    """The path of an installed console script beside this Python (nanio, twistd)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise RuntimeError(
            f"{path} does not exist: install nanio first, with "
            "pip install -e '.[test]' --config-settings editable_mode=compat"
        )
    return str(path)


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without NANIO_* variables, plus ``extra``."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("NANIO_")}
    environ.update(extra or {})
    return environ


class OutputPump(threading.Thread):
    """Copies a child's output into a log file and lets tests wait for lines."""

    def __init__(self, stream: IO[str], log_path: Path) -> None:
        super().__init__(name=f"output of {log_path.name}", daemon=True)
        self._stream = stream
        self._log_path = log_path
        self._lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()

    def run(self) -> None:
        with self._log_path.open("a", encoding="utf-8") as log:
            for line in self._stream:
                log.write(line)
                log.flush()
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first match of ``pattern`` in the output, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        index = 0
        with self._changed:
            while True:
                while index < len(self._lines):
                    match = pattern.search(self._lines[index])
                    if match is not None:
                        return match
                    index += 1
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._changed.wait(remaining)

    def text(self) -> str:
        """Everything printed so far."""
        with self._changed:
            return "".join(self._lines)


@dataclass
class RunningServer:
    """A started server: where it answers, who may sign, where its files are."""

    endpoint_url: str
    access_key: str
    secret_key: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[str]
    #: Exit statuses that count as a clean stop on SIGTERM.
    clean_exit_statuses: tuple[int, ...] = (0,)
    _pump: OutputPump | None = field(default=None, repr=False)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first log line matching ``pattern``; AssertionError after ``timeout``."""
        assert self._pump is not None
        match = self._pump.wait_for(re.compile(pattern), timeout)
        if match is None:
            raise AssertionError(f"no log line matched {pattern!r}; the log is {self.log_path}")
        return match

    def log_text(self) -> str:
        """Everything the server printed so far."""
        assert self._pump is not None
        return self._pump.text()

    def client_environ(self) -> dict[str, str]:
        """Environment for aws-cli and other tools to reach this server."""
        return clean_environ(
            {
                "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint_url,
                # Keep the tester's own AWS files out of the tests.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Send SIGTERM and return the exit status (negative: killed by that signal)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the server ignored SIGTERM for {timeout}s") from None
        if self._pump is not None:
            self._pump.join(timeout)
        return status


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    environ: Mapping[str, str] | None = None,
    cwd: Path,
    pass_fds: Sequence[int] = (),
) -> tuple[subprocess.Popen[str], OutputPump]:
    """Start ``command`` with the test credentials, its output pumped into ``log_path``."""
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=clean_environ(
            {"NANIO_ACCESS_KEY": ACCESS_KEY, "NANIO_SECRET_KEY": SECRET_KEY, **(environ or {})}
        ),
        cwd=cwd,
        pass_fds=tuple(pass_fds),
    )
    assert process.stdout is not None
    pump = OutputPump(process.stdout, log_path)
    pump.start()
    return process, pump


def start_server(
    command: Sequence[str],
    *,
    data_dir: Path,
    log_path: Path,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    clean_exit_statuses: tuple[int, ...] = (0,),
    timeout: float = START_TIMEOUT_SECONDS,
    pass_fds: Sequence[int] = (),
) -> RunningServer:
    """Run ``command`` and return once it logs the address it listens on.

    ``pass_fds`` stay open in the child (a listening socket it is to adopt).
    """
    process, pump = spawn(
        command, log_path=log_path, environ=environ, cwd=cwd or data_dir.parent, pass_fds=pass_fds
    )
    match = pump.wait_for(LISTENING, timeout)
    if match is None:
        if process.poll() is None:
            process.kill()
        process.wait()
        pump.join(STOP_TIMEOUT_SECONDS)
        raise RuntimeError(
            f"{command[0]} did not log a listening address within {timeout}s "
            f"(exit status {process.returncode}); its output:\n{pump.text()}"
        )
    endpoint_url = match.group(1)
    # The line is logged as the port opens, which may be before the reactor
    # runs and handles SIGTERM; an answered request proves that it does.
    _wait_until_answering(endpoint_url, pump, timeout)
    return RunningServer(
        endpoint_url=endpoint_url,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        data_dir=data_dir,
        log_path=log_path,
        process=process,
        clean_exit_statuses=clean_exit_statuses,
        _pump=pump,
    )


def _wait_until_answering(endpoint_url: str, pump: OutputPump, timeout: float) -> None:
    """Return once an HTTP request to the server gets any answer."""
    try:
        with urllib.request.urlopen(endpoint_url + "/", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        pass  # S3 error XML is an answer
    except OSError as e:
        raise RuntimeError(
            f"the server does not answer HTTP ({e}); its output:\n{pump.text()}"
        ) from None


def _nanio_options(data_dir: Path, extra: Sequence[str]) -> list[str]:
    """nanio's options for every runner: a free loopback port, ``data_dir``, fsync off."""
    return [
        "--listen",
        "tcp:0:interface=127.0.0.1",
        "--data-dir",
        str(data_dir),
        "--no-fsync",
        *extra,
    ]


def serve_command(data_dir: Path, *extra: str) -> list[str]:
    """``nanio serve`` on a free loopback port with fsync off."""
    return [console_script("nanio"), "serve", *_nanio_options(data_dir, extra)]


def twist_command(data_dir: Path, *extra: str) -> list[str]:
    """``python -m twisted nanio`` (the twist runner), text logs on stdout."""
    # twist writes JSON when stdout is not a terminal; tests read text.
    runner = [sys.executable, "-m", "twisted", "--log-format=text"]
    return [*runner, "nanio", *_nanio_options(data_dir, extra)]


def twistd_command(data_dir: Path, *extra: str) -> list[str]:
    """``twistd -n nanio`` in the foreground, without a pid file."""
    runner = [console_script("twistd"), "--nodaemon", "--pidfile="]
    return [*runner, "nanio", *_nanio_options(data_dir, extra)]


#: twist and twistd re-raise the signal that stopped them, as a daemon should.
TWISTED_RUNNER_EXIT_STATUSES = (0, -signal.SIGTERM)


def make_boto3_client(server: RunningServer, *, checksums: str = "when_supported") -> Any:
    """A path-style boto3 S3 client for ``server``.

    ``checksums="when_supported"`` is botocore's newest default (a CRC32 on
    every upload); ``"when_required"`` is how older SDKs behave.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        region_name=REGION,
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        request_checksum_calculation=checksums,
        response_checksum_validation=checksums,
        # One attempt: a retry would hide the failure a test is looking for.
        retries={"total_max_attempts": 1},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=config,
    )
