"""
nanio's settings, the one option table, and how the two meet.

``Settings`` is the frozen value every other part of nanio is built from.
``OPTIONS`` is the single table behind both command lines (``twistd nanio``
in ``tap.py`` and ``nanio serve`` in ``cli.py``): flag names, help text,
environment variables and options-file keys live here and nowhere else, so
the two ``--help`` outputs cannot drift apart.

``load_settings`` decides each setting by precedence: command-line flag, then
``NANIO_*`` environment variable, then the ``[server]`` table of the TOML
options file, then the default written in ``Settings``.  Every default in
the option table is ``None``, "not given"; the real defaults live in
``Settings`` alone, which is the only way that precedence can be decided.

Credentials come from ``NANIO_ACCESS_KEY``/``NANIO_SECRET_KEY`` (one user)
and from ``[[users]]`` tables of the options file; the two are added
together (see ``load_settings``).

Every configuration problem raises ``ConfigError`` with one sentence a person
can act on; the entry points print it without a traceback.

No Twisted imports at module level: the endpoint syntax check imports
``twisted.internet.endpoints`` only when a ``--listen`` value is given.
"""

from __future__ import annotations

import enum
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nanio.s3.hosts import normalize_base_domain

#: Environment variables of the single-user credentials.
ACCESS_KEY_ENV = "NANIO_ACCESS_KEY"
SECRET_KEY_ENV = "NANIO_SECRET_KEY"

#: Names ``--log-level`` accepts, mapped to the level nanio uses.  "warning"
#: is accepted because Python's logging and the original nanio spell it so.
LOG_LEVEL_NAMES: Mapping[str, str] = {
    "debug": "debug",
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
}

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})

# A region is part of every SigV4 credential scope ("<date>/<region>/s3/..."),
# so it may not hold a slash or whitespace.
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# An access key is the first field of that scope, and appears in headers.
_ACCESS_KEY = re.compile(r"[\x21-\x2e\x30-\x7e]+\Z")

_MIN_PORT = 1
_MAX_PORT = 65535

#: The most server processes ``--workers`` may ask for.
MAX_WORKERS = 256
#: The longest ``--shutdown-timeout``: a day.
MAX_SHUTDOWN_TIMEOUT_SECONDS = 86400.0

#: The largest size a size option takes: the largest file offset.
MAX_BYTE_SIZE = 2**63 - 1
#: Units a size option may carry (case does not matter): IEC binary
#: multiples, and the decimal ones disks are sold in.
_BYTE_UNITS: Mapping[str, int] = {
    "": 1,
    "b": 1,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_BYTE_SIZE = re.compile(r"([0-9]{1,20}) ?([A-Za-z]{0,3})\Z")


#: What both command lines say about where settings come from.
SOURCES_HELP = (
    "Each option may also come from its NANIO_* environment variable or from the "
    "[server] table of a TOML options file: a flag wins over the environment, which "
    "wins over the file.  Credentials come from NANIO_ACCESS_KEY and NANIO_SECRET_KEY "
    "and/or [[users]] tables in the options file."
)


class ConfigError(Exception):
    """A configuration problem, told in one sentence for the operator."""


@dataclass(frozen=True, slots=True)
class User:
    """One key pair that may sign requests."""

    access_key: str
    # Kept out of repr so that logging a Settings never prints a secret.
    secret_key: str = field(repr=False)
    #: An admin sees and may use every user's buckets.
    admin: bool = False


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a nanio server is built from; the defaults are nanio's defaults."""

    data_dir: str = "./nanio-data"
    host: str = "0.0.0.0"
    port: int = 9000
    #: Twisted endpoint descriptions; when empty, one is built from host/port.
    listen: tuple[str, ...] = ()
    region: str = "us-east-1"
    #: Domains under which ``<bucket>.<domain>`` addresses a bucket
    #: (virtual-host style), lower case; empty: path style only.
    base_domains: tuple[str, ...] = ()
    #: One of debug, info, warn, error.
    log_level: str = "info"
    access_log: bool = True
    #: False only for throwaway stores: writes are then not durable on ack.
    fsync: bool = True
    #: Remove multipart uploads abandoned for a week (at start, then hourly).
    gc_abandoned_uploads: bool = False
    #: Server processes sharing the listening sockets (``nanio serve`` only).
    workers: int = 1
    #: How long a stop waits for requests in flight before cutting them off.
    shutdown_timeout: float = 30.0
    #: The largest object a PutObject, CopyObject or CompleteMultipartUpload
    #: may make, in bytes; S3's own limit, 5 TiB, by default.
    max_object_size: int = 5 * 1024**4
    users: tuple[User, ...] = ()

    def endpoints(self) -> tuple[str, ...]:
        """The endpoint descriptions to listen on."""
        if self.listen:
            return self.listen
        return (f"tcp:{self.port}:interface={escape_endpoint_value(self.host)}",)


def escape_endpoint_value(value: str) -> str:
    """Quote a value for a Twisted endpoint description (an IPv6 host has colons)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


class Kind(enum.Enum):
    """How an option is written on the command line."""

    #: ``--name VALUE``.
    VALUE = "value"
    #: ``--name VALUE``, repeatable; the values add up.
    REPEATED = "repeated"
    #: ``--no-thing``: a flag that turns a setting off.
    OFF_SWITCH = "off-switch"
    #: ``--thing``: a flag that turns a setting on.
    ON_SWITCH = "on-switch"

    @property
    def is_switch(self) -> bool:
        return self in (Kind.OFF_SWITCH, Kind.ON_SWITCH)


@dataclass(frozen=True, slots=True)
class Option:
    """One row of the option table."""

    #: The long flag, without the leading dashes.
    flag: str
    #: The Settings field it sets, or "options" for the options-file path.
    dest: str
    kind: Kind
    #: What it does, one short sentence without a trailing period.
    summary: str
    metavar: str | None = None
    env: str | None = None
    #: Its key in the ``[server]`` table of the options file.
    file_key: str | None = None

    @property
    def help(self) -> str:
        """The help text both command lines show."""
        notes = []
        if self.env is not None:
            notes.append(f"env {self.env}")
        if self.file_key is not None:
            notes.append(f"file key {self.file_key}")
        default = _DEFAULT_HELP.get(self.dest)
        if default is not None:
            notes.append(f"default {default}")
        return f"{self.summary} [{'; '.join(notes)}]." if notes else f"{self.summary}."


# The help shows nanio's real defaults, read from Settings, never duplicated.
_DEFAULTS = Settings()
_DEFAULT_HELP: Mapping[str, str] = {
    "data_dir": _DEFAULTS.data_dir,
    "host": _DEFAULTS.host,
    "port": str(_DEFAULTS.port),
    "listen": "built from host and port",
    "region": _DEFAULTS.region,
    "base_domains": "none, path style only",
    "log_level": _DEFAULTS.log_level,
    "access_log": str(_DEFAULTS.access_log).lower(),
    "fsync": str(_DEFAULTS.fsync).lower(),
    "gc_abandoned_uploads": str(_DEFAULTS.gc_abandoned_uploads).lower(),
    "workers": str(_DEFAULTS.workers),
    "shutdown_timeout": f"{_DEFAULTS.shutdown_timeout:g}",
    "max_object_size": "5TiB",
}

#: The option table behind ``twistd nanio`` and ``nanio serve``.
OPTIONS: tuple[Option, ...] = (
    Option(
        "options",
        "options",
        Kind.VALUE,
        "TOML options file with a [server] table and [[users]] credentials",
        metavar="PATH",
        env="NANIO_OPTIONS_FILE",
    ),
    Option(
        "data-dir",
        "data_dir",
        Kind.VALUE,
        "Directory holding the buckets, created if missing",
        metavar="PATH",
        env="NANIO_DATA_DIR",
        file_key="data_dir",
    ),
    Option(
        "host",
        "host",
        Kind.VALUE,
        "Address to listen on",
        metavar="HOST",
        env="NANIO_HOST",
        file_key="host",
    ),
    Option(
        "port",
        "port",
        Kind.VALUE,
        "TCP port to listen on, 1 to 65535",
        metavar="PORT",
        env="NANIO_PORT",
        file_key="port",
    ),
    Option(
        "listen",
        "listen",
        Kind.REPEATED,
        "Twisted endpoint to listen on instead of host and port (tcp:9000, "
        "unix:/run/nanio.sock, systemd:domain=INET:index=0); repeatable, "
        "whitespace-separated in the environment, a list in the file",
        metavar="ENDPOINT",
        env="NANIO_LISTEN",
        file_key="listen",
    ),
    Option(
        "region",
        "region",
        Kind.VALUE,
        "S3 region to report to clients",
        metavar="REGION",
        env="NANIO_REGION",
        file_key="region",
    ),
    Option(
        "base-domain",
        "base_domains",
        Kind.REPEATED,
        "Domain for virtual-host addressing: BUCKET.DOMAIN/KEY names KEY in BUCKET, "
        "path style keeps working; repeatable, comma-separated in the environment, "
        "a string or a list in the file",
        metavar="DOMAIN",
        env="NANIO_BASE_DOMAIN",
        file_key="base_domain",
    ),
    Option(
        "log-level",
        "log_level",
        Kind.VALUE,
        "Lowest level of log events to show: debug, info, warn or error",
        metavar="LEVEL",
        env="NANIO_LOG_LEVEL",
        file_key="log_level",
    ),
    Option(
        "no-access-log",
        "access_log",
        Kind.OFF_SWITCH,
        "Do not log one line per request",
        env="NANIO_ACCESS_LOG",
        file_key="access_log",
    ),
    Option(
        "no-fsync",
        "fsync",
        Kind.OFF_SWITCH,
        "Do not fsync writes: faster, but acknowledged data may be lost in a "
        "crash (for throwaway stores)",
        env="NANIO_FSYNC",
        file_key="fsync",
    ),
    Option(
        "gc-abandoned-uploads",
        "gc_abandoned_uploads",
        Kind.ON_SWITCH,
        "Remove multipart uploads that received nothing for 7 days, at start and then hourly",
        env="NANIO_GC_ABANDONED_UPLOADS",
        file_key="gc_abandoned_uploads",
    ),
    Option(
        "workers",
        "workers",
        Kind.VALUE,
        f"Server processes sharing the listening sockets, 1 to {MAX_WORKERS}; "
        "nanio serve only, twistd and twist run one",
        metavar="N",
        env="NANIO_WORKERS",
        file_key="workers",
    ),
    Option(
        "shutdown-timeout",
        "shutdown_timeout",
        Kind.VALUE,
        "Seconds a stop (SIGTERM, SIGINT) lets requests in flight finish before "
        "cutting them off; 0 cuts them off at once",
        metavar="SECONDS",
        env="NANIO_SHUTDOWN_TIMEOUT",
        file_key="shutdown_timeout",
    ),
    Option(
        "max-object-size",
        "max_object_size",
        Kind.VALUE,
        "Largest object a client may store, in bytes or with a unit "
        "(100MiB, 5GiB, 5TiB, 10GB); larger uploads get EntityTooLarge",
        metavar="BYTES",
        env="NANIO_MAX_OBJECT_SIZE",
        file_key="max_object_size",
    ),
)

#: Option table rows by Settings field.
OPTIONS_BY_DEST: Mapping[str, Option] = {option.dest: option for option in OPTIONS}

_SERVER_KEYS: Mapping[str, Option] = {
    option.file_key: option for option in OPTIONS if option.file_key is not None
}
_USER_KEYS = ("access_key", "secret_key", "admin")


# --- converting one raw value ------------------------------------------------
# Each converter takes a value as its source gives it (a str from a flag or
# the environment, a typed TOML value from the file) and the name of that
# source for the error message.


def _text(value: object, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source} must be a non-empty string, not {value!r}.")
    return value.strip()


def _data_dir(value: object, source: str) -> str:
    return os.path.abspath(os.path.expanduser(_text(value, source)))


def _host(value: object, source: str) -> str:
    host = _text(value, source)
    if any(character.isspace() for character in host):
        raise ConfigError(f"{source} must be a host name or address, not {host!r}.")
    return host


def _port(value: object, source: str) -> int:
    # bool is an int to Python; "port = true" in TOML is still a mistake.
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and value.strip().isdigit():
        port = int(value)
    else:
        raise ConfigError(
            f"{source} must be an integer from {_MIN_PORT} to {_MAX_PORT}, not {value!r}."
        )
    if not _MIN_PORT <= port <= _MAX_PORT:
        # Port 0 (any free port) only makes sense when something reads the
        # port back; --listen tcp:0 does that through the "listening on" log.
        raise ConfigError(
            f"{source} must be an integer from {_MIN_PORT} to {_MAX_PORT}, not {value!r} "
            "(use --listen tcp:0 for a port the system picks)."
        )
    return port


def _listen(value: object, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        descriptions: list[object] = list(value.split())
    elif isinstance(value, list | tuple):
        descriptions = list(value)
    else:
        raise ConfigError(f"{source} must be a list of endpoint descriptions, not {value!r}.")
    if not descriptions:
        raise ConfigError(f"{source} names no endpoint.")
    checked = tuple(_text(description, source) for description in descriptions)
    for description in checked:
        check_endpoint(description, source)
    return checked


def _region(value: object, source: str) -> str:
    region = _text(value, source)
    if _REGION.match(region) is None:
        raise ConfigError(
            f"{source} must be letters, digits, '-', '_' or '.' (like us-east-1), not {region!r}."
        )
    return region


def _base_domains(value: object, source: str) -> tuple[str, ...]:
    items: list[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ConfigError(f"{source} must be a domain name or a list of them, not {value!r}.")
    domains: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{source} must be a domain name or a list of them, not {item!r}.")
        # "a.example, b.example" reads naturally in one environment variable.
        for text in item.replace(",", " ").split():
            try:
                domain = normalize_base_domain(text)
            except ValueError as e:
                raise ConfigError(f"{source}: {e}.") from None
            if domain not in domains:
                domains.append(domain)
    if not domains:
        raise ConfigError(f"{source} names no domain.")
    return tuple(domains)


def _log_level(value: object, source: str) -> str:
    name = _text(value, source).lower()
    level = LOG_LEVEL_NAMES.get(name)
    if level is None:
        raise ConfigError(f"{source} must be one of debug, info, warn or error, not {value!r}.")
    return level


def _workers(value: object, source: str) -> int:
    # bool is an int to Python; "workers = true" in TOML is still a mistake.
    if isinstance(value, int) and not isinstance(value, bool):
        workers = value
    elif isinstance(value, str) and value.strip().isdigit():
        workers = int(value)
    else:
        workers = 0
    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"{source} must be an integer from 1 to {MAX_WORKERS}, not {value!r}.")
    return workers


def _shutdown_timeout(value: object, source: str) -> float:
    seconds = -1.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            seconds = -1.0
    # "nan" and "inf" parse as floats; neither is a timeout.
    if not 0.0 <= seconds <= MAX_SHUTDOWN_TIMEOUT_SECONDS:
        raise ConfigError(
            f"{source} must be a number of seconds from 0 to "
            f"{MAX_SHUTDOWN_TIMEOUT_SECONDS:g}, not {value!r}."
        )
    return seconds


def _byte_size(value: object, source: str) -> int:
    # bool is an int to Python; "max_object_size = true" is still a mistake.
    size = 0
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        match = _BYTE_SIZE.match(value.strip())
        factor = _BYTE_UNITS.get(match.group(2).lower()) if match is not None else None
        if match is not None and factor is not None:
            size = int(match.group(1)) * factor
    if not 1 <= size <= MAX_BYTE_SIZE:
        raise ConfigError(
            f"{source} must be a whole number of bytes, at least 1, optionally with a unit "
            f"(KiB, MiB, GiB, TiB, KB, MB, GB, TB), not {value!r}."
        )
    return size


def _switch(value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ConfigError(f"{source} must be true or false, not {value!r}.")


_CONVERTERS: Mapping[str, Callable[[object, str], Any]] = {
    "data_dir": _data_dir,
    "host": _host,
    "port": _port,
    "listen": _listen,
    "region": _region,
    "base_domains": _base_domains,
    "log_level": _log_level,
    "access_log": _switch,
    "fsync": _switch,
    "gc_abandoned_uploads": _switch,
    "workers": _workers,
    "shutdown_timeout": _shutdown_timeout,
    "max_object_size": _byte_size,
}


def check_endpoint(description: str, source: str = "--listen") -> None:
    """Raise ConfigError unless Twisted can parse this server endpoint description."""
    from twisted.internet.endpoints import serverFromString

    try:
        # Parsing builds the endpoint object only; nothing listens, and no
        # reactor method is called, so no reactor is needed.
        serverFromString(None, description)
    except Exception as e:  # the parsers raise ValueError, KeyError, IndexError...
        reason = str(e).rstrip(".") or type(e).__name__
        if description.startswith("systemd:") and isinstance(e, IndexError | KeyError):
            # Twisted's systemd parser looks the inherited socket up while parsing.
            reason = "no such socket was passed by systemd (see LISTEN_FDS and LISTEN_FDNAMES)"
        raise ConfigError(
            f"{source} has an invalid endpoint description {description!r}: {reason}."
        ) from None


# --- the options file ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionsFile:
    """What an options file holds, checked but not yet merged."""

    path: str
    #: ``[server]`` keys to raw values.
    server: Mapping[str, object]
    users: tuple[User, ...]


def read_options_file(path: str) -> OptionsFile:
    """Read and check one TOML options file."""
    try:
        with open(path, "rb") as stream:
            document = tomllib.load(stream)
    except OSError as e:
        raise ConfigError(f"Cannot read the options file {path}: {e.strerror or e}.") from None
    except tomllib.TOMLDecodeError as e:
        # tomllib's message ends with "(at line L, column C)".
        raise ConfigError(f"The options file {path} is not valid TOML: {e}.") from None
    for key in document:
        if key not in ("server", "users"):
            raise ConfigError(
                f"The options file {path} has an unknown top-level key {key!r}; "
                "it may hold only a [server] table and [[users]] tables."
            )
    server = document.get("server", {})
    if not isinstance(server, dict):
        raise ConfigError(f"In the options file {path}, server must be a [server] table.")
    for key in server:
        if key not in _SERVER_KEYS:
            known = ", ".join(sorted(_SERVER_KEYS))
            raise ConfigError(
                f"The options file {path} has an unknown key {key!r} in [server] "
                f"(known keys: {known})."
            )
    return OptionsFile(path, server, _read_users(path, document.get("users", [])))


def _read_users(path: str, tables: object) -> tuple[User, ...]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"In the options file {path}, users must be [[users]] tables.")
    users = []
    for number, table in enumerate(tables, start=1):
        where = f"[[users]] table {number} of {path}"
        for key in table:
            if key not in _USER_KEYS:
                raise ConfigError(
                    f"The {where} has an unknown key {key!r} "
                    "(known keys: access_key, secret_key, admin)."
                )
        if "access_key" not in table or "secret_key" not in table:
            raise ConfigError(f"The {where} needs both access_key and secret_key.")
        admin = table.get("admin", False)
        if not isinstance(admin, bool):
            raise ConfigError(f"In the {where}, admin must be true or false, not {admin!r}.")
        users.append(
            _user(table["access_key"], table["secret_key"], admin, f"the {where}"),
        )
    return tuple(users)


def _user(access_key: object, secret_key: object, admin: bool, where: str) -> User:
    if not isinstance(access_key, str) or _ACCESS_KEY.match(access_key) is None:
        raise ConfigError(
            f"The access key in {where} must be printable ASCII without spaces or '/', "
            f"not {access_key!r}."
        )
    if not isinstance(secret_key, str) or not secret_key:
        # Never echo a secret, not even a malformed one.
        raise ConfigError(f"The secret key in {where} must be a non-empty string.")
    return User(access_key, secret_key, admin)


# --- merging ------------------------------------------------------------------

# Lower rank wins: a flag beats the environment beats the file.
_FLAG, _ENVIRONMENT, _FILE = 0, 1, 2
_NOT_GIVEN = 3


def load_settings(flags: Mapping[str, object], environ: Mapping[str, str]) -> Settings:
    """Settings from flags, then ``NANIO_*`` variables, then the options file, then defaults.

    ``flags`` maps Settings field names (and ``"options"``) to what the
    command line gave; a missing key or ``None`` means "not given".  An empty
    environment variable counts as unset.

    ``--listen`` and ``--host``/``--port`` both say where to listen: the one
    from the higher-precedence source wins, and ``--listen`` wins a tie.

    Credentials: the ``NANIO_ACCESS_KEY``/``NANIO_SECRET_KEY`` user (never an
    admin) and every ``[[users]]`` table are all accepted; an access key
    defined twice is an error, and so is having no user at all.
    """
    options_path = _given(flags.get("options")) or environ.get("NANIO_OPTIONS_FILE") or None
    options_file = read_options_file(str(options_path)) if options_path else None

    values: dict[str, object] = {}
    ranks: dict[str, int] = {}
    for dest, convert in _CONVERTERS.items():
        option = OPTIONS_BY_DEST[dest]
        raw, rank, source = _pick(option, flags, environ, options_file)
        ranks[dest] = rank
        if rank != _NOT_GIVEN:
            values[dest] = convert(raw, source)
    if ranks["listen"] > min(ranks["host"], ranks["port"]):
        values.pop("listen", None)
    # The default too becomes absolute, so logs say where the data really is.
    values["data_dir"] = _data_dir(values.get("data_dir", _DEFAULTS.data_dir), "data_dir")

    values["users"] = _merge_users(environ, options_file)
    return Settings(**values)  # type: ignore[arg-type]


def _given(value: object) -> object:
    """None for "not given" (None, or an empty list from a repeatable flag)."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return None
    return value


def _pick(
    option: Option,
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    options_file: OptionsFile | None,
) -> tuple[object, int, str]:
    """The winning raw value of one option, its rank and a name for its source."""
    flag_value = _given(flags.get(option.dest))
    if flag_value is not None:
        return flag_value, _FLAG, f"--{option.flag}"
    if option.env is not None and environ.get(option.env):
        return environ[option.env], _ENVIRONMENT, option.env
    key = option.file_key
    if options_file is not None and key is not None and key in options_file.server:
        source = f"{key} in the options file {options_file.path}"
        return options_file.server[key], _FILE, source
    return None, _NOT_GIVEN, ""


def _merge_users(environ: Mapping[str, str], options_file: OptionsFile | None) -> tuple[User, ...]:
    access_key = environ.get(ACCESS_KEY_ENV, "")
    secret_key = environ.get(SECRET_KEY_ENV, "")
    if bool(access_key) != bool(secret_key):
        missing = SECRET_KEY_ENV if access_key else ACCESS_KEY_ENV
        present = ACCESS_KEY_ENV if access_key else SECRET_KEY_ENV
        raise ConfigError(f"{present} is set but {missing} is not: set both or neither.")
    users: list[User] = []
    if access_key:
        users.append(_user(access_key, secret_key, False, ACCESS_KEY_ENV))
    if options_file is not None:
        users.extend(options_file.users)
    if not users:
        raise ConfigError(
            f"No credentials are configured: set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV}, "
            "or add [[users]] tables to an options file given with --options."
        )
    _refuse_duplicates(users)
    return tuple(users)


def _refuse_duplicates(users: Iterable[User]) -> None:
    seen: set[str] = set()
    for user in users:
        if user.access_key in seen:
            raise ConfigError(
                f"The access key {user.access_key!r} is defined more than once "
                f"({ACCESS_KEY_ENV} and [[users]] tables must not share keys)."
            )
        seen.add(user.access_key)


def ensure_data_dir(path: str) -> None:
    """Create the data directory if needed; ConfigError if it cannot be."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"The data directory {path} exists but is not a directory.") from None
    except OSError as e:
        raise ConfigError(f"Cannot create the data directory {path}: {e.strerror or e}.") from None
