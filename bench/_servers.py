"""Start, watch and stop the servers that the benchmarks compare.

This module owns everything about a server *process*: building the command
line of this checkout's ``nanio serve`` and of the original nanio 0.1.7 (in its
own virtualenv), choosing a free port, waiting until the server answers HTTP,
reading its peak resident set from ``/proc``, and stopping it.  It knows
nothing about S3 requests or about what is measured; it never imports nanio
(the servers run in their own processes) and never signals a process it did not
start.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ORIGINAL_VENV_DIR = BENCH_DIR / ".venv-original"
ORIGINAL_REQUIREMENTS = BENCH_DIR / "requirements-original.txt"
ORIGINAL_VERSION = "0.1.7"

LOOPBACK_HOST = "127.0.0.1"
START_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.05
PROBE_TIMEOUT_SECONDS = 2.0
PIP_DEADLINE_SECONDS = 900.0
LOG_TAIL_BYTES = 4000
#: A server is idle once it used at most this share of one CPU for
#: IDLE_QUIET_SECONDS (CPU times come in clock ticks, 10 ms on Linux).
IDLE_QUIET_SECONDS = 0.3
IDLE_CPU_FRACTION = 0.1
IDLE_DEADLINE_SECONDS = 120.0

# Both servers read their single user from these; the key pair is throwaway.
BENCH_ACCESS_KEY = "nanio-bench"
BENCH_SECRET_KEY = "nanio-bench-secret-key-0123456789"

KIB_BYTES = 1024
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server could not be set up, started or stopped as the benchmark needs."""


@dataclass(frozen=True, slots=True)
class ServerKind:
    """One way of running a server: a name for reports and how to build its command."""

    key: str
    description: str
    build_command: Callable[[int, Path], list[str]]


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Which CPU the server and the client are pinned to (None: not pinned)."""

    server_cpu: int | None
    client_cpu: int | None
    #: When not empty, the server may run on all of these CPUs instead of
    #: ``server_cpu`` alone: a server with several worker processes.
    server_cpus: tuple[int, ...] = ()

    def server_prefix(self) -> list[str]:
        """The ``taskset`` prefix for the server's command, or nothing."""
        if self.server_cpus:
            return ["taskset", "-c", ",".join(str(cpu) for cpu in self.server_cpus)]
        return _taskset_prefix(self.server_cpu)

    def widened(self) -> CpuPlan:
        """This plan with the server allowed on every available CPU (the client stays put)."""
        # Two worker processes pinned to one core would only take turns; a
        # multi-worker server gets all cores and shares one with the client.
        if self.server_cpu is None:
            return self
        return CpuPlan(
            server_cpu=self.server_cpu,
            client_cpu=self.client_cpu,
            server_cpus=tuple(sorted(os.sched_getaffinity(0))),
        )

    def describe(self, client: str) -> str:
        """One line saying where the server and the client run."""
        if self.server_cpu is None:
            return "not pinned (no taskset or one CPU)"
        server = (
            f"CPUs {','.join(str(cpu) for cpu in self.server_cpus)}"
            if self.server_cpus
            else f"CPU {self.server_cpu}"
        )
        return f"server on {server}, {client} on CPU {self.client_cpu}"

    def client_prefix(self) -> list[str]:
        """The ``taskset`` prefix for a client command (curl), or nothing."""
        return _taskset_prefix(self.client_cpu)


@dataclass(frozen=True, slots=True)
class PeakRss:
    """Peak resident set of a server's process tree, from ``VmHWM``."""

    bytes_total: int
    process_count: int


def _taskset_prefix(cpu: int | None) -> list[str]:
    """``taskset -c CPU`` when pinning, else an empty prefix."""
    if cpu is None:
        return []
    return ["taskset", "-c", str(cpu)]


def plan_cpus() -> CpuPlan:
    """Pin server and client to different CPUs when taskset and two CPUs are there."""
    # On a 2-core machine a server and curl that float between cores steal
    # each other's cycles and caches; pinning makes runs comparable.
    available = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(available) < 2:
        return CpuPlan(server_cpu=None, client_cpu=None)
    return CpuPlan(server_cpu=available[-1], client_cpu=available[0])


def free_tcp_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    # The original nanio cannot listen on port 0 and report the port, so both
    # servers get a port chosen here; the race with other programs is accepted.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def default_ours_executable() -> Path:
    """The ``nanio`` console script of the virtualenv running this benchmark."""
    script = Path(sys.executable).parent / "nanio"
    if not script.is_file():
        raise ServerError(
            f"no nanio console script next to {sys.executable}; run the benchmark with the"
            " project's venv (.venv/bin/python, made by the README's install command)"
        )
    return script


def ours_supports_workers(executable: Path) -> bool:
    """Whether this ``nanio serve`` has a ``--workers`` option."""
    completed = subprocess.run(
        [str(executable), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_SECONDS * 15,
        env=server_environment(),
        check=False,
    )
    return "--workers" in completed.stdout


def ours_kind(executable: Path, *, fsync: bool, cpus: CpuPlan, workers: int = 1) -> ServerKind:
    """This checkout's ``nanio serve``, with or without fsync, with 1 or more workers."""

    def build(port: int, data_dir: Path) -> list[str]:
        command = [
            *cpus.server_prefix(),
            str(executable),
            "serve",
            "--listen",
            f"tcp:{port}:interface={LOOPBACK_HOST}",
            "--data-dir",
            str(data_dir),
            "--no-access-log",
        ]
        if not fsync:
            command.append("--no-fsync")
        if workers != 1:
            # Only when asked: a nanio without the option still runs one.
            command.extend(["--workers", str(workers)])
        return command

    plural = "" if workers == 1 else f", {workers} workers"
    if fsync:
        return ServerKind("nanio-fsync", f"nanio, fsync on{plural}", build)
    return ServerKind("nanio", f"nanio, --no-fsync{plural}", build)


def original_kind(executable: Path, *, cpus: CpuPlan, workers: int = 1) -> ServerKind:
    """The original nanio 0.1.7 (Starlette on uvicorn), with 1 or more uvicorn workers."""
    # It has no fsync switch: PutObject always fsyncs the object's temporary
    # file and its JSON sidecar before the rename (not the directories).

    def build(port: int, data_dir: Path) -> list[str]:
        return [
            *cpus.server_prefix(),
            str(executable),
            "serve",
            "--host",
            LOOPBACK_HOST,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--workers",
            str(workers),
            "--no-access-log",
        ]

    plural = "" if workers == 1 else f", {workers} workers"
    return ServerKind("original", f"original nanio {ORIGINAL_VERSION} (uvicorn{plural})", build)


def floor_kind(*, cpus: CpuPlan) -> ServerKind:
    """``twisted_floor.py``: a plain Twisted Site that does no S3 work, in this Python."""

    def build(port: int, data_dir: Path) -> list[str]:
        del data_dir  # it stores nothing
        return [
            *cpus.server_prefix(),
            sys.executable,
            str(BENCH_DIR / "twisted_floor.py"),
            "--host",
            LOOPBACK_HOST,
            "--port",
            str(port),
        ]

    return ServerKind("floor", "the floor: plain Twisted Web, no S3 work", build)


def _installed_version(executable: Path) -> str | None:
    """What ``nanio --version`` prints, or None when it cannot be run."""
    try:
        completed = subprocess.run(
            [str(executable), "--version"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS * 15,
            env=server_environment(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    return (completed.stdout + completed.stderr).strip()


def ensure_original_venv(venv_dir: Path = ORIGINAL_VENV_DIR) -> tuple[Path, bool]:
    """Make or reuse the original's virtualenv; return its nanio script and whether it is new."""
    executable = venv_dir / "bin" / "nanio"
    version = _installed_version(executable) if executable.is_file() else None
    if version is not None and ORIGINAL_VERSION in version:
        return executable, False
    if venv_dir.exists():
        # A half-made or outdated venv (an interrupted pip, another version).
        shutil.rmtree(venv_dir)
    print(f"making {venv_dir} with nanio=={ORIGINAL_VERSION} ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv_dir)],
        [
            str(venv_dir / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(ORIGINAL_REQUIREMENTS),
        ],
    ]
    for step in steps:
        completed = subprocess.run(
            step,
            capture_output=True,
            text=True,
            timeout=PIP_DEADLINE_SECONDS,
            env=server_environment(),
            check=False,
        )
        if completed.returncode != 0:
            raise ServerError(
                f"{' '.join(step)} failed (exit {completed.returncode}):\n"
                f"{completed.stderr[-LOG_TAIL_BYTES:]}"
            )
    version = _installed_version(executable)
    if version is None or ORIGINAL_VERSION not in version:
        raise ServerError(f"{executable} reports version {version!r}, not {ORIGINAL_VERSION}")
    return executable, True


def original_python_version(executable: Path) -> str:
    """The Python version of the venv that holds the original's script."""
    python = executable.parent / "python"
    completed = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def server_environment() -> dict[str, str]:
    """This process's environment without settings that would leak into a server."""
    # A NANIO_OPTIONS_FILE or NANIO_PORT from the caller's shell would change
    # either server's configuration, and a PYTHONPATH pointing at this checkout
    # would make the original's venv import *our* nanio package.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("NANIO_") and name not in {"PYTHONPATH", "PYTHONHOME"}
    }
    environment["NANIO_ACCESS_KEY"] = BENCH_ACCESS_KEY
    environment["NANIO_SECRET_KEY"] = BENCH_SECRET_KEY
    return environment


def _log_tail(log_path: Path) -> str:
    """The last few KiB of a server's log, for an error message."""
    try:
        data = log_path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-LOG_TAIL_BYTES:].decode("utf-8", "replace")


def _answers_http(port: int) -> bool:
    """Whether something on the port answers an HTTP request with any status."""
    connection = http.client.HTTPConnection(LOOPBACK_HOST, port, timeout=PROBE_TIMEOUT_SECONDS)
    try:
        # An unsigned GET / is refused (403) by both servers: any status line
        # shows the HTTP stack is up.
        connection.request("GET", "/")
        connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return True


class RunningServer:
    """A server process started by the benchmark, stopped exactly once."""

    def __init__(
        self,
        kind: ServerKind,
        process: subprocess.Popen[bytes],
        port: int,
        data_dir: Path,
        log_path: Path,
    ) -> None:
        self.kind = kind
        self.process = process
        self.port = port
        self.data_dir = data_dir
        self.log_path = log_path

    @property
    def endpoint_url(self) -> str:
        """The server's base URL for boto3."""
        return f"http://{LOOPBACK_HOST}:{self.port}"

    def wait_until_answering(self, deadline_seconds: float = START_DEADLINE_SECONDS) -> None:
        """Poll until the server answers HTTP; fail if it exits or the deadline passes."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            if self.process.poll() is not None:
                raise ServerError(
                    f"{self.kind.description} exited with status {self.process.returncode}"
                    f" before answering:\n{_log_tail(self.log_path)}"
                )
            if _answers_http(self.port):
                return
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.kind.description} did not answer on port {self.port} within"
                    f" {deadline_seconds:.0f} s:\n{_log_tail(self.log_path)}"
                )
            time.sleep(POLL_INTERVAL_SECONDS)

    def peak_rss(self) -> PeakRss:
        """Sum of ``VmHWM`` over the server process and its live descendants."""
        # One process each today (nanio serve runs the reactor in the process
        # we start; uvicorn with one worker serves in-process), but a process
        # tree is summed so a forking server is not under-reported: the sum
        # of per-process peaks is an upper bound on their simultaneous peak.
        pids = process_tree(self.process.pid)
        total = 0
        counted = 0
        for pid in pids:
            peak = vm_hwm_bytes(pid)
            if peak is not None:
                total += peak
                counted += 1
        if counted == 0:
            raise ServerError(f"cannot read VmHWM of {self.kind.description} (pid {pids[0]})")
        return PeakRss(bytes_total=total, process_count=counted)

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far by the server's process tree."""
        # Loopback transfers to a page-cached disk are noisy in wall time; the
        # server's own CPU time per GiB is the steadier measure of its cost.
        return sum(cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def wait_until_idle(
        self,
        quiet_seconds: float = IDLE_QUIET_SECONDS,
        deadline_seconds: float = IDLE_DEADLINE_SECONDS,
    ) -> float:
        """Wait until the server uses (almost) no CPU for a moment; return the seconds waited."""
        # A load generator that stops leaves requests in flight that the
        # server still works through: a warm-up's backlog of slow listings
        # would otherwise be counted against the timed run that follows.
        started = time.monotonic()
        deadline = started + deadline_seconds
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(quiet_seconds)
            after = self.cpu_seconds()
            if after - before <= IDLE_CPU_FRACTION * quiet_seconds:
                break
            before = after
        return time.monotonic() - started

    def stop(self, deadline_seconds: float = STOP_DEADLINE_SECONDS) -> int:
        """SIGTERM the server, wait for it, SIGKILL it only past the deadline."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=deadline_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                print(
                    f"warning: {self.kind.description} ignored SIGTERM for"
                    f" {deadline_seconds:.0f} s and was killed",
                    file=sys.stderr,
                )
        return self.process.returncode


def start_server(
    kind: ServerKind,
    data_dir: Path,
    log_path: Path,
    environment: Mapping[str, str] | None = None,
) -> RunningServer:
    """Start a server of this kind on a free loopback port and wait until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port()
    command: Sequence[str] = kind.build_command(port, data_dir)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir.parent,
            env=dict(environment) if environment is not None else server_environment(),
        )
    server = RunningServer(kind, process, port, data_dir, log_path)
    try:
        server.wait_until_answering()
    except BaseException:
        server.stop()
        raise
    return server


def process_tree(pid: int) -> list[int]:
    """The pid and every live descendant, parents first, from ``/proc``."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        task_dir = Path(f"/proc/{current}/task")
        try:
            tasks = list(task_dir.iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            pending.extend(int(child) for child in children)
    return found


def vm_hwm_bytes(pid: int) -> int | None:
    """A process's peak resident set size (``VmHWM``) in bytes, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    # "VmHWM:     12345 kB": the kernel's kB are KiB.
                    return int(line.split()[1]) * KIB_BYTES
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """A process's user plus system CPU time in seconds (all threads), 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return 0.0
    # The command name in field 2 may contain spaces; fields after it are
    # split from the last ")".  utime and stime are fields 14 and 15.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_SECOND
