"""
``nanio install``: an options file with a fresh key pair, and hardened systemd units.

It writes, under a root (``/``, or ``--prefix`` for a dry run into a
scratch directory):

- ``/etc/nanio/options.toml``: every ``[server]`` setting of the option
  table with its value, and one ``[[users]]`` table with a key pair from
  ``secrets``; mode 0600, owned by whoever ran the command (root);
- ``/etc/systemd/system/nanio.service``: ``Type=notify`` (nanio says
  ``READY=1`` once it listens), a dedicated user, restart on failure and the
  sandboxing a file server can live with.  systemd hands the service a
  private copy of the options file at each start (``LoadCredential=``), so
  the file itself stays readable by root alone;
- with ``--socket``, ``/etc/systemd/system/nanio.socket``: systemd binds the
  port (a privileged one needs no capability in the service) and nanio
  adopts it with ``--listen systemd:domain=INET:index=0``.

The file texts are built by pure functions from an ``InstallPlan``.
``write_files`` checks every target before it writes any, so a refusal
leaves nothing behind; each file is written under a temporary name whose
mode is set before the content goes in, fsynced, and then linked (or, with
``--force``, renamed) into place, so no reader ever sees half a file.

It prints the key pair once, on stdout, and the commands left for the
operator (create the user and the data directory, enable the units): it
never creates users or starts anything itself.

No Twisted imports at module level: the plugin cache is built on use.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import string
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from nanio import __version__
from nanio.config import OPTIONS, ConfigError, Kind, Option, Settings, load_settings

#: Where the files go on the target system (below the root the operator chose).
OPTIONS_PATH = "/etc/nanio/options.toml"
UNIT_DIR = "/etc/systemd/system"
SERVICE_UNIT = "nanio.service"
SOCKET_UNIT = "nanio.socket"

DEFAULT_DATA_DIR = "/var/lib/nanio"
DEFAULT_USER = "nanio"
#: The name the options file has inside the service's credentials directory.
CREDENTIAL_NAME = "options.toml"

OPTIONS_FILE_MODE = 0o600
UNIT_FILE_MODE = 0o644
DIRECTORY_MODE = 0o755

#: Shaped like AWS's own keys: 20 upper-case letters and digits for the id,
#: 40 characters for the secret (here from the URL-safe alphabet, so a
#: secret survives shells, URLs and TOML without quoting trouble).
ACCESS_KEY_LENGTH = 20
SECRET_KEY_LENGTH = 40
ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
SECRET_KEY_ALPHABET = string.ascii_letters + string.digits + "-_"

#: Ports below this need CAP_NET_BIND_SERVICE to bind.
FIRST_UNPRIVILEGED_PORT = 1024

# Paths go into unit files unquoted (ExecStart=, ReadWritePaths=), where a
# space separates words and "%", "$", quotes and backslashes mean something.
_UNIT_SAFE_PATH = re.compile(r"/[A-Za-z0-9._+@:,=~/-]*\Z")
# The portable subset of user names that useradd accepts everywhere.
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}\Z")
# systemd's ProtectHome= hides these; a service using anything in them may
# read them at most.
_HOME_DIRECTORIES = ("/home", "/root", "/run/user")

# [server] settings the installed service gets that differ from nanio's
# defaults.  A server that runs for months should collect abandoned
# multipart uploads, which a short-lived test server need not.
_SERVICE_SETTINGS: Mapping[str, object] = {"gc_abandoned_uploads": True}


class InstallError(Exception):
    """``nanio install`` cannot proceed; one sentence says why."""

    #: The command's exit status: 2 for a bad option, 1 for anything else.
    exit_status = 1


class InstallUsageError(InstallError):
    """An option value ``nanio install`` refuses."""

    exit_status = 2


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A freshly generated access key and secret key."""

    access_key: str
    # Kept out of repr so that printing a plan never shows the secret.
    secret_key: str = field(repr=False)


def generate_key_pair(choice: Callable[[str], str] = secrets.choice) -> KeyPair:
    """A new key pair from a cryptographically strong source."""
    return KeyPair(
        "".join(choice(ACCESS_KEY_ALPHABET) for _ in range(ACCESS_KEY_LENGTH)),
        "".join(choice(SECRET_KEY_ALPHABET) for _ in range(SECRET_KEY_LENGTH)),
    )


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """Everything the installed files are built from, already checked."""

    data_dir: str
    #: The nanio command the service runs.
    command: str
    user: str
    host: str
    port: int
    key_pair: KeyPair
    #: Also write nanio.socket, and have the service adopt its socket.
    socket: bool = False

    @property
    def socket_domain(self) -> str:
        """The socket's address family, as Twisted's systemd endpoint names it."""
        return "INET6" if ipaddress.ip_address(self.host).version == 6 else "INET"

    @property
    def listen_stream(self) -> str:
        """The socket unit's ListenStream= value."""
        address = ipaddress.ip_address(self.host)
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{host}:{self.port}"

    @property
    def home_readable(self) -> bool:
        """True if the command or the data live under a home directory."""
        return any(_under_home(path) for path in (self.command, self.data_dir))


@dataclass(frozen=True, slots=True)
class InstallFile:
    """One file to install: its path on the target system, text and mode."""

    path: str
    content: str
    mode: int


def make_plan(
    *,
    data_dir: str = DEFAULT_DATA_DIR,
    bin: str | None = None,
    user: str = DEFAULT_USER,
    host: str | None = None,
    port: str | int | None = None,
    socket: bool = False,
    key_pair: KeyPair | None = None,
) -> InstallPlan:
    """Check the options and build the plan; InstallUsageError names a bad one."""
    key_pair = key_pair or generate_key_pair()
    try:
        # The very rules `nanio serve` applies, and so its messages.
        settings = load_settings(
            {"data_dir": data_dir, "host": host, "port": port},
            {"NANIO_ACCESS_KEY": key_pair.access_key, "NANIO_SECRET_KEY": key_pair.secret_key},
        )
    except ConfigError as e:
        raise InstallUsageError(str(e)) from None
    command = os.path.abspath(bin) if bin else find_nanio_command()
    if command is None:
        raise InstallUsageError("Cannot find the nanio command: give its absolute path with --bin.")
    _check_unit_path(settings.data_dir, "--data-dir")
    _check_unit_path(command, "--bin")
    if _USER_NAME.match(user) is None:
        raise InstallUsageError(
            f"--user must be a user name of lower-case letters, digits, '_' or '-' "
            f"(at most 32, not starting with a digit or '-'), not {user!r}."
        )
    if socket:
        try:
            ipaddress.ip_address(settings.host)
        except ValueError:
            raise InstallUsageError(
                f"--socket needs --host to be an IP address (systemd's ListenStream= "
                f"takes no host names), not {settings.host!r}."
            ) from None
    return InstallPlan(
        data_dir=settings.data_dir,
        command=command,
        user=user,
        host=settings.host,
        port=settings.port,
        key_pair=key_pair,
        socket=socket,
    )


def _check_unit_path(path: str, flag: str) -> None:
    if _UNIT_SAFE_PATH.match(path) is None:
        raise InstallUsageError(
            f"{flag} must be an absolute path of letters, digits and ._+@:,=~/- "
            f"(it goes into a systemd unit unquoted), not {path!r}."
        )


def _under_home(path: str) -> bool:
    for candidate in {path, os.path.realpath(path)}:
        for home in _HOME_DIRECTORIES:
            if candidate == home or candidate.startswith(home + "/"):
                return True
    return False


def find_nanio_command(argv0: str | None = None, executable: str | None = None) -> str | None:
    """The absolute path of the nanio command running now, or of the one on PATH."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    candidates = []
    if os.path.basename(argv0) == "nanio":
        candidates.append(os.path.abspath(argv0))
    # The console script beside this Python: a venv's, or pipx's.
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(executable)), "nanio"))
    on_path = shutil.which("nanio")
    if on_path:
        candidates.append(os.path.abspath(on_path))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


# --- the files --------------------------------------------------------------------


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string."""
    escaped = []
    for character in text:
        if character in '"\\':
            escaped.append("\\" + character)
        elif ord(character) < 0x20 or ord(character) == 0x7F:
            escaped.append(f"\\u{ord(character):04X}")
        else:
            escaped.append(character)
    return '"' + "".join(escaped) + '"'


def toml_value(value: object) -> str:
    """A setting's value as TOML: a string, a number, a boolean or a list of strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Python's repr of a float (30.0, 1e-05, inf) is a TOML float too.
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return "[" + ", ".join(toml_string(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=78, initial_indent="# ", subsequent_indent="# ")


def _describe(option: Option) -> str:
    """A setting's comment in the options file."""
    if option.kind is Kind.OFF_SWITCH:
        # The summary describes the flag, which says "false".
        return f"false is --{option.flag}: {option.summary}."
    if option.kind is Kind.ON_SWITCH:
        return f"true is --{option.flag}: {option.summary}."
    return f"{option.summary}."


def render_options(plan: InstallPlan) -> str:
    """The options file: every [server] setting with its value, and the generated user."""
    values: dict[str, object] = {
        option.dest: getattr(Settings(), option.dest)
        for option in OPTIONS
        if option.file_key is not None
    }
    values.update(_SERVICE_SETTINGS)
    values.update(data_dir=plan.data_dir, host=plan.host, port=plan.port)
    lines = [
        f"# nanio options, written by `nanio install` (nanio {__version__}).",
        f"# {SERVICE_UNIT} reads this file at each start: edit it, then",
        "# `systemctl restart nanio`.  Keep it mode 0600: it holds secret keys.",
    ]
    if plan.socket:
        lines += _comment(
            f"With {SOCKET_UNIT}, its ListenStream= decides where nanio listens; "
            "host and port below are not used then."
        )
    lines += ["", "[server]"]
    for option in OPTIONS:
        if option.file_key is None:
            continue
        value = values[option.dest]
        if lines[-1] != "[server]":
            lines.append("")
        lines += _comment(_describe(option))
        if value is None or (isinstance(value, tuple) and not value):
            lines.append(f"# {option.file_key}: not set.")
        else:
            lines.append(f"{option.file_key} = {toml_value(value)}")
    lines += [
        "",
        "# Add a [[users]] table per key pair; a user with admin = true sees and",
        "# uses every user's buckets.",
        "[[users]]",
        f"access_key = {toml_string(plan.key_pair.access_key)}",
        f"secret_key = {toml_string(plan.key_pair.secret_key)}",
        "admin = true",
    ]
    return "\n".join(lines) + "\n"


def render_service(plan: InstallPlan) -> str:
    """The nanio.service unit."""
    command = f"{plan.command} serve --options ${{CREDENTIALS_DIRECTORY}}/{CREDENTIAL_NAME}"
    if plan.socket:
        command += f" --listen systemd:domain={plan.socket_domain}:index=0"
    bind_privileged = not plan.socket and plan.port < FIRST_UNPRIVILEGED_PORT
    capabilities = "CAP_NET_BIND_SERVICE" if bind_privileged else ""
    lines = [
        f"# {SERVICE_UNIT}, written by `nanio install` (nanio {__version__}).",
        f"# Settings and keys: {OPTIONS_PATH}.  See nanio's docs/systemd.md.",
        "[Unit]",
        "Description=nanio S3-compatible object storage server",
        "After=network-online.target",
        "Wants=network-online.target",
        # A data directory on NFS or another network mount must be there first.
        f"RequiresMountsFor={plan.data_dir}",
    ]
    if plan.socket:
        lines += [f"Requires={SOCKET_UNIT}", f"After={SOCKET_UNIT}"]
    lines += [
        "",
        "[Service]",
        # nanio tells systemd READY=1 once every endpoint listens.
        "Type=notify",
        f"User={plan.user}",
        f"Group={plan.user}",
        # systemd copies the root-only options file into a private directory
        # only this service's user can read.
        f"LoadCredential={CREDENTIAL_NAME}:{OPTIONS_PATH}",
        f"ExecStart={command}",
        "Restart=on-failure",
        # Exit status 2 is a configuration error: restarting cannot fix it.
        "RestartPreventExitStatus=2",
        "RestartSec=2s",
        "SyslogIdentifier=nanio",
        "UMask=0027",
        # Every connection and every upload's temp file is a descriptor.
        "LimitNOFILE=65536",
        "",
        "# Sandboxing: nanio reads its own code and writes its data directory.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={plan.data_dir}",
        # A nanio installed with pipx in root's home (or data kept in a home)
        # must still be readable.
        f"ProtectHome={'read-only' if plan.home_readable else 'yes'}",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "PrivateMounts=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
        # No MemoryDenyWriteExecute=: ctypes and cffi callbacks (in the TLS
        # and CRC libraries) may need writable code pages.
        f"CapabilityBoundingSet={capabilities}",
    ]
    if capabilities:
        lines.append(f"AmbientCapabilities={capabilities}")
    lines += ["", "[Install]", "WantedBy=multi-user.target"]
    if plan.socket:
        lines.append(f"Also={SOCKET_UNIT}")
    return "\n".join(lines) + "\n"


def render_socket(plan: InstallPlan) -> str:
    """The nanio.socket unit: systemd binds, nanio adopts."""
    lines = [
        f"# {SOCKET_UNIT}, written by `nanio install` (nanio {__version__}).",
        f"# {SERVICE_UNIT} adopts this socket (--listen systemd:...:index=0).",
        "[Unit]",
        "Description=nanio S3-compatible object storage server (listening socket)",
        "",
        "[Socket]",
        f"ListenStream={plan.listen_stream}",
        # One nanio serves every connection; systemd must not spawn one per connection.
        "Accept=no",
        "NoDelay=yes",
        "",
        "[Install]",
        "WantedBy=sockets.target",
    ]
    return "\n".join(lines) + "\n"


def plan_files(plan: InstallPlan) -> tuple[InstallFile, ...]:
    """Every file the plan installs, the options file (the secret) first."""
    files = [
        InstallFile(OPTIONS_PATH, render_options(plan), OPTIONS_FILE_MODE),
        InstallFile(f"{UNIT_DIR}/{SERVICE_UNIT}", render_service(plan), UNIT_FILE_MODE),
    ]
    if plan.socket:
        files.append(InstallFile(f"{UNIT_DIR}/{SOCKET_UNIT}", render_socket(plan), UNIT_FILE_MODE))
    return tuple(files)


# --- writing ----------------------------------------------------------------------


def target_path(root: str, path: str) -> str:
    """Where ``path`` of the target system lies below ``root``."""
    return os.path.join(os.path.abspath(root), path.lstrip("/"))


def write_files(files: Sequence[InstallFile], root: str, *, force: bool = False) -> list[str]:
    """Write every file below ``root``; return their paths.

    Without ``force``, an existing target is refused before anything is
    written.  A target that appears meanwhile is still never overwritten.
    """
    targets = [target_path(root, file.path) for file in files]
    for target in targets:
        if os.path.isdir(target) and not os.path.islink(target):
            raise InstallError(f"{target} is a directory; nanio install writes a file there.")
    existing = [target for target in targets if os.path.lexists(target)]
    if existing and not force:
        raise InstallError(
            f"Will not overwrite {', '.join(existing)}: give --force to replace "
            f"{'it' if len(existing) == 1 else 'them'} (and the old key pair with a new one)."
        )
    for file, target in zip(files, targets, strict=True):
        _write_one(target, file.content, file.mode, replace=force)
    return targets


def _write_one(target: str, content: str, mode: int, *, replace: bool) -> None:
    """Write one file atomically, its mode set before any content goes in."""
    directory = os.path.dirname(target)
    try:
        os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
        temp = os.path.join(directory, f".{os.path.basename(target)}.{secrets.token_hex(8)}")
        fd = os.open(
            temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode
        )
    except OSError as e:
        raise InstallError(f"Cannot write {target}: {e.strerror or e}.") from None
    try:
        with open(fd, "w", encoding="utf-8", closefd=True) as stream:
            # The umask may have taken bits away: set the mode exactly, and
            # before the content (the secret) is in the file.
            os.fchmod(stream.fileno(), mode)
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(temp, target, replace=replace)
        _fsync_directory(directory)
    except OSError as e:
        raise InstallError(f"Cannot write {target}: {e.strerror or e}.") from None
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)


def _move_into_place(temp: str, target: str, *, replace: bool) -> None:
    if replace:
        os.replace(temp, target)
        return
    try:
        # link() fails if the target exists: never a silent overwrite.
        os.link(temp, target, follow_symlinks=False)
    except FileExistsError:
        raise InstallError(
            f"Will not overwrite {target}, which appeared meanwhile: give --force to replace it."
        ) from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: check, then rename.
        if os.path.lexists(target):
            raise InstallError(
                f"Will not overwrite {target}, which appeared meanwhile: "
                "give --force to replace it."
            ) from None
        os.rename(temp, target)


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def build_plugin_cache() -> None:
    """Write Twisted's plugin cache now, while the installer may write beside the code.

    The service, sandboxed read-only, could not; ``twistd nanio`` would then
    rescan the plugins at every start.
    """
    # Only a speed-up: whatever goes wrong, twistd still finds its plugins.
    with contextlib.suppress(Exception):
        from twisted.plugin import IPlugin, getPlugins

        list(getPlugins(IPlugin))


# --- the command ----------------------------------------------------------------------


def add_install_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``install`` and its flags to the ``nanio`` command's subcommands."""
    defaults = Settings()
    parser = commands.add_parser(
        "install",
        help="write an options file with a new key pair, and systemd units",
        description=(
            f"Write {OPTIONS_PATH} (a complete options file with a freshly generated key "
            f"pair, mode 0600) and {UNIT_DIR}/{SERVICE_UNIT} (a hardened systemd unit); "
            "print the key pair once and the commands left to run.  Existing files are "
            "never overwritten without --force."
        ),
    )
    parser.add_argument(
        "--prefix",
        default="/",
        metavar="PATH",
        help="root to write the files under, for a dry run or a package build [default /]",
    )
    parser.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        metavar="PATH",
        help=f"data directory the service uses [default {DEFAULT_DATA_DIR}]",
    )
    parser.add_argument(
        "--bin",
        metavar="PATH",
        help="the nanio command the service runs [default: this nanio]",
    )
    parser.add_argument(
        "--user",
        default=DEFAULT_USER,
        metavar="NAME",
        help=f"system user the service runs as [default {DEFAULT_USER}]",
    )
    parser.add_argument(
        "--host",
        default=defaults.host,
        metavar="HOST",
        help=f"address to listen on [default {defaults.host}]",
    )
    parser.add_argument(
        "--port",
        default=str(defaults.port),
        metavar="PORT",
        help=f"TCP port to listen on [default {defaults.port}]",
    )
    parser.add_argument(
        "--socket",
        action="store_true",
        help=f"also write {SOCKET_UNIT}: systemd binds the port and starts nanio",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite existing files (the options file gets a new key pair)",
    )


def run(arguments: argparse.Namespace, stdout: IO[str] | None = None) -> int:
    """``nanio install``: write the files, print the key pair and the next steps."""
    stdout = stdout or sys.stdout
    try:
        plan = make_plan(
            data_dir=arguments.data_dir,
            bin=arguments.bin,
            user=arguments.user,
            host=arguments.host,
            port=arguments.port,
            socket=arguments.socket,
        )
        written = write_files(plan_files(plan), arguments.prefix, force=arguments.force)
    except InstallError as e:
        print(f"nanio install: {e}", file=sys.stderr)
        return e.exit_status
    if not os.access(plan.command, os.X_OK):
        # Not fatal: a package build or a dry run may install nanio later.
        print(
            f"nanio install: warning: {plan.command} is not an executable file (yet); "
            "the service will not start until it is.",
            file=sys.stderr,
        )
    real_install = os.path.abspath(arguments.prefix) == "/"
    if real_install:
        build_plugin_cache()
    stdout.write(report(plan, written, real_install=real_install))
    return 0


def report(plan: InstallPlan, written: Sequence[str], *, real_install: bool) -> str:
    """What ``nanio install`` prints: the files, the key pair (this once), the next steps."""
    lines = [f"Wrote {path}" for path in written]
    if not real_install:
        lines.append("(a dry run: copy these files to the same paths under / to install them)")
    lines += [
        "",
        "The key pair, shown only this once (it is also in the options file):",
        f"  access key  {plan.key_pair.access_key}",
        f"  secret key  {plan.key_pair.secret_key}",
        "",
        "Next, as root:",
    ]
    lines += [f"  {step}" for step in next_steps(plan)]
    return "\n".join(lines) + "\n"


def next_steps(plan: InstallPlan) -> list[str]:
    """The commands the operator still has to run."""
    steps = []
    try:
        pwd.getpwnam(plan.user)
    except KeyError:
        steps.append(f"useradd --system --no-create-home --shell /usr/sbin/nologin {plan.user}")
    if os.path.isdir(plan.data_dir):
        steps.append(f"chown -R {plan.user}:{plan.user} {plan.data_dir}")
    else:
        steps.append(f"install -d -m 0750 -o {plan.user} -g {plan.user} {plan.data_dir}")
    steps.append("systemctl daemon-reload")
    units = f"{SOCKET_UNIT} {SERVICE_UNIT}" if plan.socket else SERVICE_UNIT
    steps.append(f"systemctl enable --now {units}")
    return steps
