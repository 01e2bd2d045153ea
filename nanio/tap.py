"""
The twistd/twist plugin: ``twistd nanio`` and ``twist nanio``.

``Options`` is built from ``nanio.config.OPTIONS``, the table ``nanio serve``
uses too.  ``postOptions`` builds the ``Settings`` (so a bad option, missing
credentials or an uncreatable data directory stop the runner before anything
listens) and ``makeService`` hands them to ``nanio.service.make_service``.

The runner, not nanio, owns the log observers.  So that ``--log-level``
still takes effect:
- under ``twist``, nanio's level becomes the runner's ``--log-level`` when
  that was left at its default;
- under ``twistd``, which has no level option, the service puts a filtering
  observer on the application (the ``ILogObserver`` component twistd looks
  for), writing where ``--logfile`` says, exactly as twistd would.  With
  ``--logger`` or ``--syslog`` twistd's own observer is kept, unfiltered.

A failed listen ends the runner with one sentence, not a traceback.

Importing this module has no side effects; the service tree (and with it
the web stack) is imported only when a service is made.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any, ClassVar, NoReturn, cast

from twisted.application.service import IService, MultiService
from twisted.logger import ILogObserver, LogLevel
from twisted.python import usage
from twisted.python.components import Componentized

from nanio import __version__
from nanio.config import (
    OPTIONS,
    SOURCES_HELP,
    ConfigError,
    Kind,
    Option,
    Settings,
    ensure_data_dir,
    load_settings,
)
from nanio.logs import LOG_LEVELS, level_filter, text_observer

if TYPE_CHECKING:
    from twisted.python.logfile import LogFile


def _repeated_option(option: Option) -> Callable[[Options, str], None]:
    """An ``opt_*`` method collecting every value of a repeatable option."""

    def collect(self: Options, value: str) -> None:
        self[option.dest].append(value)

    collect.__doc__ = option.help
    collect.__name__ = "opt_" + option.flag.replace("-", "_")
    return collect


class Options(usage.Options):
    """Command-line options of the nanio plugin."""

    synopsis = "[options]"
    longdesc = "Run nanio, an S3-compatible object storage server.  " + SOURCES_HELP
    optParameters: ClassVar[list[list[object]]] = [
        [option.flag, None, None, option.help] for option in OPTIONS if option.kind is Kind.VALUE
    ]
    optFlags: ClassVar[list[list[object]]] = [
        [option.flag, None, option.help] for option in OPTIONS if option.kind.is_switch
    ]

    #: Where NANIO_* variables are read from; tests may replace it.
    environ: Mapping[str, str] = os.environ
    settings: Settings

    def __init__(self) -> None:
        super().__init__()
        for option in OPTIONS:
            if option.kind is Kind.REPEATED:
                self[option.dest] = []

    def opt_version(self) -> NoReturn:
        """Print nanio's version and exit."""
        print(f"nanio {__version__}")
        sys.exit(0)

    def postOptions(self) -> None:
        flags: dict[str, object] = {}
        for option in OPTIONS:
            if option.kind.is_switch:
                # usage.Options counts flags (0 when absent); 0 means "not given".
                on = option.kind is Kind.ON_SWITCH
                flags[option.dest] = on if self[option.flag] else None
            elif option.kind is Kind.REPEATED:
                flags[option.dest] = self[option.dest]
            else:
                flags[option.dest] = self[option.flag]
        try:
            self.settings = load_settings(flags, self.environ)
            ensure_data_dir(self.settings.data_dir)
        except ConfigError as e:
            raise usage.UsageError(str(e)) from None
        if self.settings.workers != 1:
            # The runner's log observer, daemonizing and pid file belong to
            # one process; worker processes could share none of them.
            raise usage.UsageError(
                "--workers is for nanio serve only: twistd and twist run one process "
                "(run nanio serve --workers N instead)."
            )


# usage.Options has no "append" kind of parameter: a repeatable option is an
# opt_* method, which usage.Options finds when an instance is made.
for _option in OPTIONS:
    if _option.kind is Kind.REPEATED:
        setattr(Options, "opt_" + _option.flag.replace("-", "_"), _repeated_option(_option))
del _option


class StartupAborted(SystemExit, Exception):
    """nanio cannot start; the message says why.

    Both kinds at once, on purpose: twistd reports an ``Exception`` raised
    while starting through its daemon status pipe, and the interpreter prints
    a ``SystemExit`` as one line, without a traceback.
    """


class RunnerService(MultiService):
    """The root twistd and twist start: nanio's tree, plus runner-facing glue."""

    def __init__(self, child: IService, log_observer: ILogObserver | None = None) -> None:
        super().__init__()
        self._log_observer = log_observer
        child.setServiceParent(self)

    def setServiceParent(self, parent: Any) -> None:
        super().setServiceParent(parent)
        # twistd asks its application for an ILogObserver before it builds
        # its own; .tac files set one the same way.
        observer = self._log_observer
        if (
            observer is not None
            and isinstance(parent, Componentized)
            and parent.getComponent(ILogObserver, None) is None
        ):
            parent.setComponent(ILogObserver, observer)

    def privilegedStartService(self) -> None:
        from nanio.service import ListenFailed

        try:
            super().privilegedStartService()
        except ListenFailed as e:
            raise StartupAborted(f"nanio: {e}") from None

    def startService(self) -> None:
        from nanio.service import ListenFailed

        try:
            super().startService()
        except ListenFailed as e:
            raise StartupAborted(f"nanio: {e}") from None


def makeService(options: Options) -> IService:
    """The service twistd and twist run for these options."""
    from nanio.allocator import tune_allocator
    from nanio.service import make_service
    from nanio.systemd import ReadinessNotifier

    settings = options.settings
    tune_allocator()
    runner_options = getattr(options, "parent", None)
    observer = None
    if isinstance(runner_options, usage.Options):
        observer = adopt_runner_logging(runner_options, settings.log_level)
    service = make_service(settings)
    root = RunnerService(service, observer)
    # Under a Type=notify unit (twistd --nodaemon, twist): READY=1 once every port listens.
    ReadinessNotifier(service.whenListening).setServiceParent(root)
    return root


def adopt_runner_logging(runner: usage.Options, level: str) -> ILogObserver | None:
    """Apply nanio's log level to the runner; an observer for twistd to use, if any."""
    if "logLevel" in runner:
        # twist: it already filters by level, and only the default is ours to change.
        if runner["logLevel"] is LogLevel.info:
            runner["logLevel"] = LOG_LEVELS[level]
        return None
    if "logfile" not in runner or runner.get("logger") or runner.get("syslog"):
        return None
    logfile = runner["logfile"]
    nodaemon = bool(runner.get("nodaemon"))
    if logfile == "-" and not nodaemon:
        # twistd refuses this itself, with its own message.
        return None
    stream: IO[str]
    if nodaemon and logfile in ("-", "", None):
        stream = sys.stdout
    else:
        # A LogFile is file-like enough for the observer: write and flush.
        stream = cast("IO[str]", _open_logfile(logfile or "twistd.log"))
    return level_filter(text_observer(stream), level)


def _open_logfile(path: str) -> LogFile:
    """The rotating log file twistd would open for --logfile."""
    from twisted.python.logfile import LogFile

    logfile: LogFile = LogFile.fromFullPath(path)
    # twistd rotates its log file on SIGUSR1 unless something else handles it.
    if not signal.getsignal(signal.SIGUSR1):

        def rotate(signum: int, frame: object) -> None:
            from twisted.internet import reactor

            reactor.callFromThread(logfile.rotate)  # type: ignore[attr-defined]

        signal.signal(signal.SIGUSR1, rotate)
    return logfile
