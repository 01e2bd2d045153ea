"""
The twistd plugin: discovery, its options, and discovery after a real install.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from twisted.application.service import Application, IServiceMaker, MultiService
from twisted.logger import ILogObserver, Logger, LogLevel
from twisted.plugin import getPlugins
from twisted.python import usage
from twisted.scripts.twistd import ServerOptions

from nanio import tap
from nanio.config import Settings, User
from nanio.service import ListenFailed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean NANIO_* environment with one user, read by tap.Options."""
    values = {"NANIO_ACCESS_KEY": "alice", "NANIO_SECRET_KEY": "alice-secret"}
    monkeypatch.setattr(tap.Options, "environ", values)
    return values


def parse(arguments: list[str]) -> Settings:
    """Parse plugin arguments as twistd would and return the Settings."""
    options = tap.Options()
    options.parseOptions(arguments)
    return options.settings


def test_plugin_is_found_with_tapname_nanio() -> None:
    """getPlugins(IServiceMaker) yields a plugin whose tapname is "nanio"."""
    tapnames = [maker.tapname for maker in getPlugins(IServiceMaker)]
    assert "nanio" in tapnames


def test_plugin_options_are_nanio_tap_options() -> None:
    """The plugin's options class is nanio.tap.Options."""
    (maker,) = [m for m in getPlugins(IServiceMaker) if m.tapname == "nanio"]
    assert maker.options is tap.Options


def test_options_give_expected_settings(environ: dict[str, str], tmp_path: Path) -> None:
    """Plugin flags become the matching Settings, credentials from the environment."""
    data_dir = tmp_path / "data"
    settings = parse(
        [
            "--data-dir",
            str(data_dir),
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--listen",
            "unix:/tmp/nanio-test.sock",
            "--region",
            "eu-central-1",
            "--log-level",
            "warn",
            "--no-access-log",
            "--no-fsync",
        ]
    )
    assert settings == Settings(
        data_dir=str(data_dir),
        listen=("tcp:0:interface=127.0.0.1", "unix:/tmp/nanio-test.sock"),
        region="eu-central-1",
        log_level="warn",
        access_log=False,
        fsync=False,
        users=(User("alice", "alice-secret"),),
    )


def test_options_without_flags_give_defaults(environ: dict[str, str], tmp_path: Path) -> None:
    """With no flags, the host, port and switches keep their defaults."""
    settings = parse(["--data-dir", str(tmp_path)])
    assert (settings.host, settings.port, settings.access_log, settings.fsync) == (
        "0.0.0.0",
        9000,
        True,
        True,
    )


def test_options_create_the_data_dir(environ: dict[str, str], tmp_path: Path) -> None:
    """Parsing the plugin options creates a missing data directory."""
    parse(["--data-dir", str(tmp_path / "new" / "data")])
    assert (tmp_path / "new" / "data").is_dir()


def test_config_error_becomes_usage_error(environ: dict[str, str], tmp_path: Path) -> None:
    """A bad option value is reported as a UsageError carrying the one sentence."""
    with pytest.raises(usage.UsageError, match=r"--port must be an integer"):
        parse(["--data-dir", str(tmp_path), "--port", "http"])


def test_missing_credentials_become_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without credentials the plugin refuses before anything listens."""
    monkeypatch.setattr(tap.Options, "environ", {})
    with pytest.raises(usage.UsageError, match="No credentials"):
        parse(["--data-dir", str(tmp_path)])


def test_twistd_finds_plugin_after_a_regular_install(tmp_path: Path) -> None:
    """A non-editable install, used from elsewhere, still ships twisted/plugins/nanio_plugin.py."""
    # Build from a copy holding what an sdist holds, so that setuptools' build
    # directory never lands in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("nanio", "twisted"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        cwd=elsewhere,
        capture_output=True,
        timeout=120,
    )
    environment = {**os.environ, "PYTHONPATH": str(target)}

    def python_elsewhere(*arguments: str) -> str:
        """Run Python outside the checkout with the install on its path; return stdout."""
        return subprocess.run(
            [sys.executable, *arguments],
            check=True,
            cwd=elsewhere,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    help_text = python_elsewhere("-m", "twisted", "--help")
    # An editable install of the checkout may also be on sys.path; the plugin
    # module that wins must be the installed copy, or the build dropped it.
    plugin_file = python_elsewhere(
        "-c", "import twisted.plugins.nanio_plugin as p; print(p.__file__)"
    ).strip()
    assert "nanio" in help_text.split()
    assert Path(plugin_file).is_relative_to(target)


class FailingListen(MultiService):
    """A service whose start fails as NanioListener does on a port in use."""

    def privilegedStartService(self) -> None:
        raise ListenFailed("Cannot listen on tcp:80: Permission denied.")

    def startService(self) -> None:
        raise ListenFailed("Cannot listen on tcp:80: Permission denied.")


@pytest.mark.parametrize("step", ["privilegedStartService", "startService"])
def test_failed_listen_ends_runner_with_one_line(step: str) -> None:
    """Under twistd or twist, a failed listen ends in a SystemExit carrying the sentence."""
    root = tap.RunnerService(FailingListen())
    with pytest.raises(tap.StartupAborted) as caught:
        getattr(root, step)()
    assert isinstance(caught.value, SystemExit)
    assert caught.value.code == "nanio: Cannot listen on tcp:80: Permission denied."


def test_startup_aborted_is_an_exception_for_twistd() -> None:
    """StartupAborted is also an Exception, so twistd reports it through its status pipe."""
    assert issubclass(tap.StartupAborted, Exception)


def test_twistd_gets_a_level_filtered_observer() -> None:
    """Under twistd (no --logger, no --syslog), the application gets a filtering ILogObserver."""
    runner = ServerOptions()
    runner.parseOptions(["--nodaemon", "--pidfile="])
    observer = tap.adopt_runner_logging(runner, "warn")
    application = Application("nanio")
    tap.RunnerService(MultiService(), observer).setServiceParent(application)
    installed = application.getComponent(ILogObserver)
    assert installed is observer
    assert ILogObserver.providedBy(installed)


def test_twistd_level_filter_drops_info_events() -> None:
    """The observer given to twistd for --log-level warn drops info and keeps error events."""
    runner = ServerOptions()
    runner.parseOptions(["--nodaemon", "--pidfile="])
    written = io.StringIO()
    with contextlib.redirect_stdout(written):
        observer = tap.adopt_runner_logging(runner, "warn")
        assert observer is not None
        log = Logger(observer=observer)
        log.info("quiet info")
        log.error("loud error")
    assert ("quiet info" in written.getvalue(), "loud error" in written.getvalue()) == (False, True)


def test_twistd_logger_option_is_left_alone() -> None:
    """With twistd --logger, nanio installs no observer of its own."""
    runner = ServerOptions()
    runner.parseOptions(["--nodaemon", "--logger", "twisted.logger.textFileLogObserver"])
    assert tap.adopt_runner_logging(runner, "warn") is None


def test_twist_takes_nanio_log_level() -> None:
    """Under twist, nanio's --log-level replaces twist's default level."""
    runner = usage.Options()  # twist's options hold its level under "logLevel"
    runner["logLevel"] = LogLevel.info  # twist's default
    tap.adopt_runner_logging(runner, "error")
    assert runner["logLevel"] is LogLevel.error


def test_twist_own_log_level_wins() -> None:
    """Under twist, a level given to twist itself is kept."""
    runner = usage.Options()
    runner["logLevel"] = LogLevel.debug
    tap.adopt_runner_logging(runner, "error")
    assert runner["logLevel"] is LogLevel.debug
