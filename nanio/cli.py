"""
The ``nanio`` command: ``nanio serve`` runs the server in the foreground;
``nanio install`` writes an options file and systemd units (``nanio.install``).

Its options come from ``nanio.config.OPTIONS``, the table ``twistd nanio``
uses too.  A configuration error or a port that cannot be bound ends the
command with one sentence on stderr and a non-zero exit, never a traceback.

This is an entry point: it alone (with the twistd runner) installs log
observers and touches the global reactor, and only inside ``serve``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from twisted.logger import Logger

from nanio import __version__, install
from nanio.config import OPTIONS, SOURCES_HELP, ConfigError, Kind, ensure_data_dir, load_settings

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from nanio.service import NanioService
    from nanio.workers import WorkerSupervisor

log = Logger()

#: Exit statuses: the usual Unix meanings.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_SERVE_DESCRIPTION = "Run the S3 server in the foreground until SIGTERM or SIGINT.  " + SOURCES_HELP


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nanio`` command."""
    parser = argparse.ArgumentParser(
        prog="nanio", description="nanio: a small S3-compatible object storage server."
    )
    parser.add_argument("--version", action="version", version=f"nanio {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve", help="run the S3 server in the foreground", description=_SERVE_DESCRIPTION
    )
    for option in OPTIONS:
        name = f"--{option.flag}"
        if option.kind.is_switch:
            serve.add_argument(
                name,
                dest=option.dest,
                action="store_const",
                const=option.kind is Kind.ON_SWITCH,
                help=option.help,
            )
        elif option.kind is Kind.REPEATED:
            serve.add_argument(
                name, dest=option.dest, action="append", metavar=option.metavar, help=option.help
            )
        else:
            serve.add_argument(name, dest=option.dest, metavar=option.metavar, help=option.help)
    serve.add_argument("--version", action="version", version=f"nanio {__version__}")
    install.add_install_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nanio`` command; return its exit status."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as e:
        # argparse exits for --help, --version and usage errors.
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if arguments.command == "serve":
        return serve(arguments)
    if arguments.command == "install":
        return install.run(arguments)
    parser.print_usage(sys.stderr)
    return EXIT_USAGE


def serve(arguments: argparse.Namespace) -> int:
    """``nanio serve``: build the settings, listen, run until stopped."""
    flags = {option.dest: getattr(arguments, option.dest) for option in OPTIONS}
    try:
        settings = load_settings(flags, os.environ)
        ensure_data_dir(settings.data_dir)
    except ConfigError as e:
        print(f"nanio serve: {e}", file=sys.stderr)
        return EXIT_USAGE

    from twisted.internet import reactor
    from twisted.internet.defer import CancelledError

    from nanio.allocator import tune_allocator
    from nanio.logs import start_logging
    from nanio.service import ListenFailed, make_service
    from nanio.systemd import ReadinessNotifier
    from nanio.workers import make_supervisor, stop_on_signals

    start_logging(settings.log_level)
    tune_allocator()
    if settings.workers > 1:
        # The parent binds and supervises; the worker processes serve.
        service: NanioService | WorkerSupervisor = make_supervisor(settings, reactor)
    else:
        service = make_service(settings, reactor)
    # Started after the listener: READY=1 to systemd once every port listens.
    ReadinessNotifier(service.whenListening).setServiceParent(service)
    status = [EXIT_OK]

    def start() -> None:
        # Started once the reactor runs, so that its SIGTERM and SIGINT
        # handlers are in place before anyone can learn the port.
        try:
            service.privilegedStartService()
            service.startService()
        except ListenFailed as e:
            print(f"nanio serve: {e}", file=sys.stderr)
            status[0] = EXIT_FAILURE
            reactor.stop()
            return
        except Exception:
            # A bug, not a configuration problem: keep the traceback, in the log.
            log.failure("nanio could not start")
            status[0] = EXIT_FAILURE
            reactor.stop()
            return
        # On SIGTERM or SIGINT the reactor stops, once however many come; the
        # stop closes the ports, then waits for requests in flight.
        stop_on_signals(reactor)
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
        service.whenListening().addErrback(listen_failed)

    def listen_failed(failure: Failure) -> None:
        # Only an endpoint that listens asynchronously gets here.
        if failure.check(CancelledError):
            return  # stopped before listening: not a failure to listen
        print(f"nanio serve: {failure.value}", file=sys.stderr)
        status[0] = EXIT_FAILURE
        reactor.stop()

    reactor.callWhenRunning(start)
    reactor.run()
    return status[0]
