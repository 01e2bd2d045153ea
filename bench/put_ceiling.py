"""The fastest a large PUT can go on this machine: the least any S3 server must do, timed.

Run from the repository root with the project's venv::

    .venv/bin/python bench/put_ceiling.py [--gib 1] [--repeat 3] [--work-dir DIR]

(``run.py`` runs it too, after the large-object transfers, with their file.)

A single-PUT "server" that does only what every S3 server must for each
byte of an upload: read it from the socket, feed it to MD5 (the ETag), write
it to a new file on the data disk.  No HTTP framework, no signature check,
no metadata.  It runs pinned to one CPU as ``run.py`` pins a one-worker
server, and ``curl -T`` uploads the same kind of file from the other CPU.
Whatever MB/s this reaches, no Python server can beat on this machine, so it
bounds the ratio any server can show against the original in ``run.py``'s
1 GiB PUT.  It only reports.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import large_objects
from _servers import CpuPlan, plan_cpus

#: Bytes per read and write: what nanio reads from the socket at once during
#: an upload. (At Twisted's 64 KiB this receiver ran at 344 MB/s, slower than
#: nanio itself at 383: no ceiling.)
CHUNK_BYTES = 1024 * 1024


def serve_one_put(listener: socket.socket, target: Path) -> str:
    """Accept one connection, store the body of its one PUT in ``target``; return the MD5."""
    connection, _ = listener.accept()
    with connection:
        head = b""
        while b"\r\n\r\n" not in head:
            piece = connection.recv(CHUNK_BYTES)
            if not piece:
                raise SystemExit("the client closed before its request head")
            head += piece
        head, _, body = head.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        if b"100-continue" in head.lower():
            connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        digest = hashlib.md5()
        buffer = bytearray(CHUNK_BYTES)
        view = memoryview(buffer)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            digest.update(body)
            os.write(fd, body)
            left = length - len(body)
            while left > 0:
                count = connection.recv_into(view, min(left, CHUNK_BYTES))
                if not count:
                    raise SystemExit("the client closed mid-body")
                digest.update(view[:count])
                os.write(fd, view[:count])
                left -= count
        finally:
            os.close(fd)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    return digest.hexdigest()


def measure(source: Path, work_dir: Path, cpus: CpuPlan, repeat: int) -> list[float]:
    """Upload ``source`` ``repeat`` times to a fresh one-PUT receiver each; MB/s of each."""
    rates = []
    for attempt in range(repeat):
        port_file = work_dir / "ceiling.port"
        target = work_dir / f"ceiling-copy-{attempt}.bin"
        port_file.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        receiver = subprocess.Popen(
            [*cpus.server_prefix(), sys.executable, __file__, "--serve", f"{port_file},{target}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or receiver.poll() is not None:
                    raise RuntimeError("the PUT receiver did not start")
                time.sleep(0.05)
            url = f"http://127.0.0.1:{port_file.read_text()}/bucket/key"
            os.sync()
            started = time.perf_counter()
            subprocess.run(
                [*cpus.client_prefix(), "curl", "-sS", "-f", "-T", str(source), url],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            seconds = time.perf_counter() - started
            receiver.communicate(timeout=60)
        finally:
            if receiver.poll() is None:
                receiver.kill()
                receiver.wait()
            target.unlink(missing_ok=True)
            port_file.unlink(missing_ok=True)
        rates.append(source.stat().st_size / seconds / 1e6)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=1.0, help="upload size in GiB (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="uploads, median reported (3)")
    parser.add_argument(
        "--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "nanio-bench"
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the pinned receiver
    options = parser.parse_args(argv)
    if options.serve:
        port_file, target = options.serve.split(",", 1)
        with socket.create_server(("127.0.0.1", 0)) as listener:
            Path(port_file).write_text(str(listener.getsockname()[1]))
            print(serve_one_put(listener, Path(target)), flush=True)
        return 0
    options.work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ceiling-", dir=options.work_dir))
    try:
        source = large_objects.make_source(scratch, options.gib)
        rates = measure(source.path, scratch, plan_cpus(), options.repeat)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for attempt, rate in enumerate(rates, 1):
        print(f"  upload {attempt}: {rate:.1f} MB/s")
    print(
        f"PUT ceiling, {options.gib:g} GiB (recv + MD5 + write, one CPU): "
        f"{statistics.median(rates):.1f} MB/s (median of {len(rates)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
