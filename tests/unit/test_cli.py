"""
The ``nanio`` console script: refusals are one sentence, never a traceback.

The command runs as a real subprocess, exactly as a user types it.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from nanio import __version__, cli, tap
from nanio.config import OPTIONS
from tests.support.server import clean_environ, console_script

CREDENTIALS = {"NANIO_ACCESS_KEY": "alice", "NANIO_SECRET_KEY": "alice-secret"}


def nanio(
    *arguments: str, environ: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run the nanio console script to completion."""
    return subprocess.run(
        [console_script("nanio"), *arguments],
        env=clean_environ(environ),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_refused_in_one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with one line on stderr and no traceback; return that line."""
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(".")
    return lines[0]


def test_serve_without_credentials_is_refused(tmp_path: Path) -> None:
    """nanio serve with no credentials exits 2 with one sentence naming the variables."""
    result = nanio("serve", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    line = assert_refused_in_one_sentence(result)
    assert result.returncode == 2
    assert "NANIO_ACCESS_KEY" in line


def test_serve_with_bad_port_is_refused(tmp_path: Path) -> None:
    """nanio serve --port 99999 exits 2 with one sentence quoting the port."""
    result = nanio("serve", "--port", "99999", environ=CREDENTIALS, cwd=tmp_path)
    line = assert_refused_in_one_sentence(result)
    assert result.returncode == 2
    assert "'99999'" in line


def test_serve_with_unreadable_options_file_is_refused(tmp_path: Path) -> None:
    """nanio serve --options <missing file> exits 2 with one sentence naming the file."""
    missing = tmp_path / "nowhere.toml"
    result = nanio("serve", "--options", str(missing), environ=CREDENTIALS, cwd=tmp_path)
    line = assert_refused_in_one_sentence(result)
    assert result.returncode == 2
    assert str(missing) in line


def test_serve_with_uncreatable_data_dir_is_refused(tmp_path: Path) -> None:
    """nanio serve with a data directory under a plain file exits 2 with one sentence."""
    (tmp_path / "file").write_text("")
    data_dir = tmp_path / "file" / "data"
    result = nanio("serve", "--data-dir", str(data_dir), environ=CREDENTIALS, cwd=tmp_path)
    line = assert_refused_in_one_sentence(result)
    assert str(data_dir) in line


def test_serve_on_a_port_in_use_is_refused(tmp_path: Path) -> None:
    """nanio serve on a port already taken exits 1 with one sentence and no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = nanio(
            "serve",
            "--listen",
            f"tcp:{port}:interface=127.0.0.1",
            "--data-dir",
            str(tmp_path / "data"),
            environ=CREDENTIALS,
            cwd=tmp_path,
        )
    line = assert_refused_in_one_sentence(result)
    assert result.returncode == 1
    assert "Address already in use" in line


def test_version_prints_the_version(tmp_path: Path) -> None:
    """nanio --version prints nanio's version and exits 0."""
    result = nanio("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, f"nanio {__version__}")


def test_unknown_option_exits_with_usage_status() -> None:
    """main() returns 2 for an option nanio serve does not know."""
    assert cli.main(["serve", "--no-such-option"]) == 2


def test_serve_help_lists_every_table_option(capsys: pytest.CaptureFixture[str]) -> None:
    """nanio serve --help shows every flag of the option table."""
    assert cli.main(["serve", "--help"]) == 0
    shown = set(re.findall(r"--[a-z][a-z-]+", capsys.readouterr().out))
    assert {f"--{option.flag}" for option in OPTIONS} <= shown


def test_twistd_and_serve_share_help_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Both command lines show the table's help text for every option, word for word."""
    cli.main(["serve", "--help"])
    # Compared without whitespace: each parser wraps lines its own way.
    serve_help = "".join(capsys.readouterr().out.split())
    twistd_help = "".join(str(tap.Options()).split())
    for option in OPTIONS:
        text = "".join(option.help.split())
        assert text in serve_help
        assert text in twistd_help
