"""
Settings and the option table: precedence, credentials, and every refusal.

Precedence is flag > NANIO_* environment > options file > default, checked
for each setting; every ConfigError must be one sentence a person can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from nanio.config import (
    OPTIONS,
    ConfigError,
    Settings,
    User,
    ensure_data_dir,
    load_settings,
)
from nanio.credentials import Credentials

CREDENTIALS = {"NANIO_ACCESS_KEY": "alice", "NANIO_SECRET_KEY": "alice-secret"}


@dataclass(frozen=True)
class Case:
    """One setting: a value at each level, and what each level should yield."""

    dest: str
    flag: object
    env: str
    file: str  # TOML text of the value
    from_flag: object
    from_env: object
    from_file: object


CASES = [
    Case("data_dir", "/srv/flag", "/srv/env", '"/srv/file"', "/srv/flag", "/srv/env", "/srv/file"),
    Case("host", "10.0.0.1", "10.0.0.2", '"10.0.0.3"', "10.0.0.1", "10.0.0.2", "10.0.0.3"),
    Case("port", "9001", "9002", "9003", 9001, 9002, 9003),
    Case("region", "eu-west-1", "eu-west-2", '"eu-west-3"', "eu-west-1", "eu-west-2", "eu-west-3"),
    Case("log_level", "debug", "warn", '"error"', "debug", "warn", "error"),
    # An off-switch can only say False; the environment may say either.
    Case("access_log", False, "true", "false", False, True, False),
    Case("fsync", False, "true", "false", False, True, False),
    Case("workers", "2", "3", "4", 2, 3, 4),
    # The file may give an integer or a float; either becomes a float.
    Case("shutdown_timeout", "1.5", "0", "45", 1.5, 0.0, 45.0),
    # Sizes: plain bytes or a unit; the file may give an integer.
    Case("max_object_size", "1MiB", "2 GB", "3", 1024**2, 2 * 1000**3, 3),
    Case(
        "listen",
        ["tcp:7001"],
        "tcp:7002 unix:/tmp/nanio-env.sock",
        '["tcp:7003"]',
        ("tcp:7001",),
        ("tcp:7002", "unix:/tmp/nanio-env.sock"),
        ("tcp:7003",),
    ),
]
CASE_IDS = [case.dest for case in CASES]


def env_name(dest: str) -> str:
    """The environment variable the option table gives this setting."""
    (option,) = [option for option in OPTIONS if option.dest == dest]
    assert option.env is not None
    return option.env


def options_file(tmp_path: Path, text: str) -> str:
    """Write an options file and return its path."""
    path = tmp_path / "options.toml"
    path.write_text(text)
    return str(path)


def server_file(tmp_path: Path, case: Case) -> str:
    """An options file setting only this case's [server] key."""
    return options_file(tmp_path, f"[server]\n{case.dest} = {case.file}\n")


def refusal(flags: dict[str, object], environ: dict[str, str]) -> str:
    """The ConfigError message load_settings raises for this input."""
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, environ)
    return str(caught.value)


def assert_one_sentence(message: str) -> None:
    """A refusal is one line ending with a period, with no traceback text."""
    assert "\n" not in message
    assert message.endswith(".")
    assert "Traceback" not in message


# --- precedence ---------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_default_applies_when_nothing_is_given(case: Case) -> None:
    """A setting given nowhere takes the default written in Settings."""
    settings = load_settings({}, CREDENTIALS)
    expected = getattr(Settings(), case.dest)
    if case.dest == "data_dir":
        expected = os.path.abspath(expected)
    assert getattr(settings, case.dest) == expected


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_options_file_beats_default(case: Case, tmp_path: Path) -> None:
    """A [server] key in the options file overrides the default."""
    settings = load_settings({"options": server_file(tmp_path, case)}, CREDENTIALS)
    assert getattr(settings, case.dest) == case.from_file


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_environment_beats_options_file(case: Case, tmp_path: Path) -> None:
    """A NANIO_* variable overrides the options file."""
    environ = {**CREDENTIALS, env_name(case.dest): case.env}
    settings = load_settings({"options": server_file(tmp_path, case)}, environ)
    assert getattr(settings, case.dest) == case.from_env


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_flag_beats_environment(case: Case, tmp_path: Path) -> None:
    """A command-line flag overrides the environment and the file."""
    environ = {**CREDENTIALS, env_name(case.dest): case.env}
    flags = {"options": server_file(tmp_path, case), case.dest: case.flag}
    settings = load_settings(flags, environ)
    assert getattr(settings, case.dest) == case.from_flag


def test_flags_given_as_none_count_as_not_given() -> None:
    """None (every table default) in the flags leaves the setting to lower levels."""
    environ = {**CREDENTIALS, "NANIO_PORT": "9100"}
    settings = load_settings({"port": None, "listen": [], "access_log": None}, environ)
    assert (settings.port, settings.listen, settings.access_log) == (9100, (), True)


def test_empty_environment_variable_counts_as_unset() -> None:
    """NANIO_PORT= (empty) leaves the port at its default."""
    settings = load_settings({}, {**CREDENTIALS, "NANIO_PORT": ""})
    assert settings.port == 9000


def test_options_file_named_by_environment_is_read(tmp_path: Path) -> None:
    """NANIO_OPTIONS_FILE names the options file when --options is not given."""
    path = options_file(tmp_path, "[server]\nregion = 'ap-south-1'\n")
    settings = load_settings({}, {**CREDENTIALS, "NANIO_OPTIONS_FILE": path})
    assert settings.region == "ap-south-1"


def test_options_flag_beats_options_file_environment(tmp_path: Path) -> None:
    """--options wins over NANIO_OPTIONS_FILE."""
    chosen = tmp_path / "chosen.toml"
    chosen.write_text("[server]\nregion = 'chosen'\n")
    ignored = options_file(tmp_path, "[server]\nregion = 'ignored'\n")
    environ = {**CREDENTIALS, "NANIO_OPTIONS_FILE": ignored}
    assert load_settings({"options": str(chosen)}, environ).region == "chosen"


def test_relative_data_dir_becomes_absolute() -> None:
    """A relative data directory is resolved against the working directory."""
    settings = load_settings({"data_dir": "store"}, CREDENTIALS)
    assert settings.data_dir == os.path.join(os.getcwd(), "store")


def test_log_level_accepts_warning_as_warn() -> None:
    """--log-level warning (Python's spelling, any case) means warn."""
    assert load_settings({"log_level": "WARNING"}, CREDENTIALS).log_level == "warn"


def test_listen_list_in_file_keeps_its_order(tmp_path: Path) -> None:
    """Endpoints from the file are listened on in the order written."""
    path = options_file(tmp_path, '[server]\nlisten = ["tcp:7100", "tcp:7101"]\n')
    assert load_settings({"options": path}, CREDENTIALS).listen == ("tcp:7100", "tcp:7101")


# --- where to listen: --listen against --host/--port ----------------------------


def test_port_flag_beats_listen_from_file(tmp_path: Path) -> None:
    """A --port flag outranks a listen list that only the options file gives."""
    path = options_file(tmp_path, '[server]\nlisten = ["unix:/tmp/nanio.sock"]\n')
    settings = load_settings({"options": path, "port": "9500"}, CREDENTIALS)
    assert settings.endpoints() == ("tcp:9500:interface=0.0.0.0",)


def test_listen_from_environment_beats_port_from_file(tmp_path: Path) -> None:
    """NANIO_LISTEN outranks a port that only the options file gives."""
    path = options_file(tmp_path, "[server]\nport = 9600\n")
    environ = {**CREDENTIALS, "NANIO_LISTEN": "tcp:9601"}
    assert load_settings({"options": path}, environ).endpoints() == ("tcp:9601",)


def test_listen_wins_a_tie_with_port() -> None:
    """Given at the same level, --listen is used and --port ignored."""
    settings = load_settings({"listen": ["tcp:9700"], "port": "9701"}, CREDENTIALS)
    assert settings.endpoints() == ("tcp:9700",)


def test_endpoints_are_built_from_host_and_port() -> None:
    """Without --listen, the endpoint is a TCP description of host and port."""
    assert Settings(host="127.0.0.1", port=9800).endpoints() == ("tcp:9800:interface=127.0.0.1",)


def test_endpoint_escapes_an_ipv6_host() -> None:
    """The colons of an IPv6 host are escaped in the endpoint description."""
    assert Settings(host="::1", port=9900).endpoints() == ("tcp:9900:interface=\\:\\:1",)


# --- credentials -----------------------------------------------------------------


def test_environment_credentials_make_one_ordinary_user() -> None:
    """NANIO_ACCESS_KEY/NANIO_SECRET_KEY give one user who is not an admin."""
    assert load_settings({}, CREDENTIALS).users == (User("alice", "alice-secret", False),)


def test_users_tables_give_users_with_admin_flag(tmp_path: Path) -> None:
    """[[users]] tables give one user each, admin only where the table says so."""
    path = options_file(
        tmp_path,
        '[[users]]\naccess_key = "bob"\nsecret_key = "b"\nadmin = true\n'
        '[[users]]\naccess_key = "carol"\nsecret_key = "c"\n',
    )
    users = load_settings({"options": path}, {}).users
    assert users == (User("bob", "b", True), User("carol", "c", False))


def test_environment_user_and_file_users_add_up(tmp_path: Path) -> None:
    """The environment's user comes first, then the file's users."""
    path = options_file(tmp_path, '[[users]]\naccess_key = "bob"\nsecret_key = "b"\n')
    keys = [user.access_key for user in load_settings({"options": path}, CREDENTIALS).users]
    assert keys == ["alice", "bob"]


def test_user_repr_hides_the_secret() -> None:
    """repr(User) never shows the secret key."""
    assert "s3cr3t-value" not in repr(User("alice", "s3cr3t-value"))


def test_settings_repr_hides_user_secrets() -> None:
    """repr(Settings), as a log might print it, never shows a secret key."""
    assert "s3cr3t-value" not in repr(Settings(users=(User("alice", "s3cr3t-value"),)))


# --- refusals ---------------------------------------------------------------------


def test_no_credentials_is_refused() -> None:
    """With no environment user and no [[users]], the server refuses to start."""
    message = refusal({}, {})
    assert_one_sentence(message)
    assert "NANIO_ACCESS_KEY" in message


@pytest.mark.parametrize("present", ["NANIO_ACCESS_KEY", "NANIO_SECRET_KEY"])
def test_only_one_credential_variable_is_refused(present: str) -> None:
    """Setting only one of the two credential variables is refused, naming both."""
    message = refusal({}, {present: "value"})
    assert_one_sentence(message)
    assert "NANIO_ACCESS_KEY" in message and "NANIO_SECRET_KEY" in message


def test_missing_options_file_is_refused(tmp_path: Path) -> None:
    """An options file that cannot be read is refused, naming the file."""
    path = str(tmp_path / "missing.toml")
    message = refusal({"options": path}, CREDENTIALS)
    assert_one_sentence(message)
    assert path in message


def test_directory_as_options_file_is_refused(tmp_path: Path) -> None:
    """A directory given as the options file is refused, naming it."""
    message = refusal({"options": str(tmp_path)}, CREDENTIALS)
    assert_one_sentence(message)
    assert str(tmp_path) in message


def test_invalid_toml_is_refused_with_its_line(tmp_path: Path) -> None:
    """Broken TOML is refused, naming the file and the line."""
    path = options_file(tmp_path, '[server]\nregion = "eu\n')
    message = refusal({"options": path}, CREDENTIALS)
    assert_one_sentence(message)
    assert path in message and "line 2" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[serve]\nport = 1\n", "serve"),
        ("[server]\nprot = 9000\n", "prot"),
        ('[[users]]\naccess_key = "a"\nsecret_key = "b"\nrole = "x"\n', "role"),
    ],
    ids=["top-level", "server", "users"],
)
def test_unknown_options_file_key_is_refused(tmp_path: Path, text: str, named: str) -> None:
    """An unknown key in the options file is refused (a typo must not pass silently)."""
    message = refusal({"options": options_file(tmp_path, text)}, CREDENTIALS)
    assert_one_sentence(message)
    assert repr(named) in message


def test_user_without_secret_is_refused(tmp_path: Path) -> None:
    """A [[users]] table without secret_key is refused."""
    path = options_file(tmp_path, '[[users]]\naccess_key = "bob"\n')
    message = refusal({"options": path}, {})
    assert_one_sentence(message)
    assert "secret_key" in message


def test_non_boolean_admin_is_refused(tmp_path: Path) -> None:
    """admin = "yes" (a string) is refused: it must be true or false."""
    path = options_file(tmp_path, '[[users]]\naccess_key = "a"\nsecret_key = "b"\nadmin = "yes"\n')
    message = refusal({"options": path}, {})
    assert_one_sentence(message)
    assert "admin" in message


def test_access_key_with_slash_is_refused() -> None:
    """An access key with '/' (the SigV4 scope separator) is refused."""
    message = refusal({}, {"NANIO_ACCESS_KEY": "a/b", "NANIO_SECRET_KEY": "s"})
    assert_one_sentence(message)
    assert "NANIO_ACCESS_KEY" in message


def test_refusal_never_shows_a_secret(tmp_path: Path) -> None:
    """A refused user table does not echo its secret key."""
    path = options_file(tmp_path, '[[users]]\naccess_key = "a b"\nsecret_key = "hush-hush"\n')
    assert "hush-hush" not in refusal({"options": path}, {})


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "80.5"])
def test_bad_port_is_refused(port: str) -> None:
    """A port that is not an integer from 1 to 65535 is refused, quoting it."""
    message = refusal({"port": port}, CREDENTIALS)
    assert_one_sentence(message)
    assert "--port" in message and repr(port) in message


@pytest.mark.parametrize("workers", ["0", "257", "two", "-1", "1.5"])
def test_bad_workers_is_refused(workers: str) -> None:
    """A worker count that is not an integer from 1 to 256 is refused, quoting it."""
    message = refusal({"workers": workers}, CREDENTIALS)
    assert_one_sentence(message)
    assert message == f"--workers must be an integer from 1 to 256, not {workers!r}."


@pytest.mark.parametrize("dest", ["port", "workers"])
def test_boolean_count_in_file_is_refused(tmp_path: Path, dest: str) -> None:
    """port = true or workers = true in the options file is refused, naming the file."""
    path = options_file(tmp_path, f"[server]\n{dest} = true\n")
    message = refusal({"options": path}, CREDENTIALS)
    assert_one_sentence(message)
    assert path in message


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf", "soon", "86401"])
def test_bad_shutdown_timeout_is_refused(seconds: str) -> None:
    """A shutdown timeout that is not a number of seconds from 0 to 86400 is refused."""
    message = refusal({"shutdown_timeout": seconds}, CREDENTIALS)
    assert_one_sentence(message)
    assert message == (
        f"--shutdown-timeout must be a number of seconds from 0 to 86400, not {seconds!r}."
    )


def test_bad_shutdown_timeout_in_environment_names_the_variable() -> None:
    """A bad NANIO_SHUTDOWN_TIMEOUT is refused naming the variable, not the flag."""
    message = refusal({}, {**CREDENTIALS, "NANIO_SHUTDOWN_TIMEOUT": "later"})
    assert message.startswith("NANIO_SHUTDOWN_TIMEOUT must be")


def test_unknown_log_level_is_refused() -> None:
    """A log level other than debug, info, warn or error is refused."""
    message = refusal({"log_level": "verbose"}, CREDENTIALS)
    assert_one_sentence(message)
    assert "'verbose'" in message


@pytest.mark.parametrize("description", ["bogus:1234", "tcp:notaport", "tcp"])
def test_bad_endpoint_description_is_refused(description: str) -> None:
    """An endpoint description Twisted cannot parse is refused, quoting it."""
    message = refusal({"listen": [description]}, CREDENTIALS)
    assert_one_sentence(message)
    assert repr(description) in message


def test_bad_endpoint_in_environment_names_the_variable() -> None:
    """A bad NANIO_LISTEN endpoint is refused, naming the variable."""
    message = refusal({}, {**CREDENTIALS, "NANIO_LISTEN": "bogus:1"})
    assert_one_sentence(message)
    assert "NANIO_LISTEN" in message


def test_bad_boolean_in_environment_is_refused() -> None:
    """NANIO_FSYNC=maybe is refused: it must be true or false."""
    message = refusal({}, {**CREDENTIALS, "NANIO_FSYNC": "maybe"})
    assert_one_sentence(message)
    assert "NANIO_FSYNC" in message


def test_bad_region_is_refused() -> None:
    """A region with a slash (it would break the SigV4 scope) is refused."""
    message = refusal({"region": "us/east"}, CREDENTIALS)
    assert_one_sentence(message)
    assert "--region" in message


def test_access_key_in_environment_and_file_is_refused(tmp_path: Path) -> None:
    """The same access key from the environment and a [[users]] table is refused."""
    path = options_file(tmp_path, '[[users]]\naccess_key = "alice"\nsecret_key = "other"\n')
    message = refusal({"options": path}, CREDENTIALS)
    assert_one_sentence(message)
    assert "'alice'" in message


def test_access_key_twice_in_file_is_refused(tmp_path: Path) -> None:
    """Two [[users]] tables with one access key are refused."""
    table = '[[users]]\naccess_key = "bob"\nsecret_key = "b"\n'
    message = refusal({"options": options_file(tmp_path, table * 2)}, {})
    assert_one_sentence(message)
    assert "'bob'" in message


def test_data_dir_blocked_by_a_file_is_refused(tmp_path: Path) -> None:
    """A data directory path that is an existing file is refused, naming it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(str(blocker))
    assert_one_sentence(str(caught.value))
    assert str(blocker) in str(caught.value)


def test_data_dir_under_a_file_is_refused(tmp_path: Path) -> None:
    """A data directory that cannot be created (a file in its path) is refused."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        ensure_data_dir(str(blocker / "data"))
    assert_one_sentence(str(caught.value))
    assert str(blocker / "data") in str(caught.value)


def test_data_dir_is_created_with_its_parents(tmp_path: Path) -> None:
    """ensure_data_dir creates a missing data directory and its parents."""
    target = tmp_path / "a" / "b" / "data"
    ensure_data_dir(str(target))
    assert target.is_dir()


# --- the option table ------------------------------------------------------------


def test_every_setting_option_has_env_and_file_names() -> None:
    """Each option that sets a Settings field has an environment name and a file key."""
    missing = [o.flag for o in OPTIONS if o.dest != "options" and not (o.env and o.file_key)]
    assert missing == []


def test_help_shows_the_default_from_settings() -> None:
    """The help text of --port shows the default that Settings holds."""
    (port,) = [option for option in OPTIONS if option.flag == "port"]
    assert f"default {Settings().port}" in port.help


# --- the credentials table ----------------------------------------------------------


def credentials() -> Credentials:
    """Two users, one of them an admin."""
    return Credentials((User("alice", "alice-secret"), User("root", "root-secret", admin=True)))


def test_credentials_give_the_secret_of_a_known_key() -> None:
    """secret_for returns the secret of a configured access key."""
    assert credentials().secret_for("alice") == "alice-secret"


def test_credentials_give_none_for_an_unknown_key() -> None:
    """secret_for and user return None for an access key nobody has."""
    table = credentials()
    assert (table.secret_for("mallory"), table.user("mallory")) == (None, None)


def test_credentials_know_admins() -> None:
    """is_admin is true only for users marked admin, never for unknown keys."""
    table = credentials()
    assert [table.is_admin(key) for key in ("root", "alice", "mallory")] == [True, False, False]


@pytest.mark.parametrize(("count", "multi"), [(1, False), (2, True)])
def test_credentials_are_multi_user_with_several_users(count: int, multi: bool) -> None:
    """multi_user is true with more than one user (buckets then have owners)."""
    users = [User(f"user{n}", "secret") for n in range(count)]
    assert Credentials(users).multi_user is multi


def test_credentials_are_immutable() -> None:
    """A Credentials table refuses attribute assignment."""
    with pytest.raises(AttributeError):
        credentials()._by_key = {}  # type: ignore[misc]


def test_credentials_repr_hides_secrets() -> None:
    """repr(Credentials) shows access keys only."""
    assert "alice-secret" not in repr(credentials())


def test_credentials_refuse_a_duplicate_key() -> None:
    """Building a table with one access key twice fails."""
    with pytest.raises(ValueError, match="'alice'"):
        Credentials((User("alice", "a"), User("alice", "b")))
