"""
``nanio install``: the options file, the systemd units, and how they are written.

The unit files are checked twice: their content here, directive by
directive, and by ``systemd-analyze verify`` (which ``.ci/run`` installs), so
a typo in a directive fails the suite rather than a user's boot.
"""

from __future__ import annotations

import os
import shutil
import stat
import string
import subprocess
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from nanio import install
from nanio.config import OPTIONS, load_settings
from nanio.install import (
    ACCESS_KEY_ALPHABET,
    ACCESS_KEY_LENGTH,
    OPTIONS_PATH,
    SECRET_KEY_ALPHABET,
    SECRET_KEY_LENGTH,
    InstallError,
    InstallPlan,
    InstallUsageError,
    KeyPair,
    generate_key_pair,
    make_plan,
    plan_files,
    render_options,
    render_service,
    render_socket,
    toml_string,
    write_files,
)
from tests.support.server import clean_environ, console_script

KEY_PAIR = KeyPair("AKIAEXAMPLE123456789", "secret-EXAMPLE_0123456789abcdefghijklmnop")
SERVICE_PATH = "/etc/systemd/system/nanio.service"
SOCKET_PATH = "/etc/systemd/system/nanio.socket"
#: Why a verify test fails on a machine without systemd-analyze.
SYSTEMD_ANALYZE_MISSING = (
    "systemd-analyze is not installed: .ci/run installs it (apt-get install systemd); "
    "on your machine, install Debian's systemd package"
)


def plan(**overrides: object) -> InstallPlan:
    """A plan with the real nanio console script and a fixed key pair."""
    arguments: dict[str, object] = {"bin": console_script("nanio"), "key_pair": KEY_PAIR}
    arguments.update(overrides)
    return make_plan(**arguments)  # type: ignore[arg-type]


def unit(text: str) -> dict[tuple[str, str], list[str]]:
    """A unit file's directives: (section, key) -> every value given, in order."""
    directives: dict[tuple[str, str], list[str]] = defaultdict(list)
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        directives[section, key].append(value)
    return dict(directives)


def installed(root: Path, path: str) -> Path:
    """Where a target path lands below a dry-run root."""
    return root / path.lstrip("/")


def systemd_analyze() -> str:
    """The systemd-analyze command; fails the test, with a hint, when it is missing."""
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail(SYSTEMD_ANALYZE_MISSING)
    return path


# --- credentials ------------------------------------------------------------------


def test_access_key_is_twenty_upper_case_letters_and_digits() -> None:
    """A generated access key has AWS's shape: 20 characters of A-Z and 0-9."""
    access_key = generate_key_pair().access_key
    assert len(access_key) == ACCESS_KEY_LENGTH == 20
    assert set(access_key) <= set(string.ascii_uppercase + string.digits)
    assert set(ACCESS_KEY_ALPHABET) == set(string.ascii_uppercase + string.digits)


def test_secret_key_is_forty_url_safe_characters() -> None:
    """A generated secret key is 40 characters of letters, digits, '-' and '_'."""
    secret_key = generate_key_pair().secret_key
    assert len(secret_key) == SECRET_KEY_LENGTH == 40
    assert set(secret_key) <= set(SECRET_KEY_ALPHABET)
    assert set(SECRET_KEY_ALPHABET) == set(string.ascii_letters + string.digits + "-_")


def test_each_key_pair_is_new() -> None:
    """Two generated key pairs share neither key."""
    first, second = generate_key_pair(), generate_key_pair()
    assert first.access_key != second.access_key
    assert first.secret_key != second.secret_key


def test_key_pair_repr_hides_the_secret() -> None:
    """Printing a key pair (or a plan holding one) never shows the secret key."""
    assert KEY_PAIR.secret_key not in repr(KEY_PAIR)
    assert KEY_PAIR.secret_key not in repr(plan())


# --- the options file ----------------------------------------------------------------


def test_options_file_gives_the_planned_settings(tmp_path: Path) -> None:
    """nanio serve reading the options file gets the data dir, host, port and one admin user."""
    path = tmp_path / "options.toml"
    path.write_text(render_options(plan(data_dir="/srv/s3", host="127.0.0.1", port="9100")))
    settings = load_settings({"options": str(path)}, {})
    assert (settings.data_dir, settings.host, settings.port) == ("/srv/s3", "127.0.0.1", 9100)
    assert len(settings.users) == 1
    user = settings.users[0]
    assert (user.access_key, user.secret_key, user.admin) == (
        KEY_PAIR.access_key,
        KEY_PAIR.secret_key,
        True,
    )


def test_options_file_collects_abandoned_uploads(tmp_path: Path) -> None:
    """An installed service removes week-old abandoned multipart uploads."""
    path = tmp_path / "options.toml"
    path.write_text(render_options(plan()))
    assert load_settings({"options": str(path)}, {}).gc_abandoned_uploads is True


def test_options_file_names_every_server_setting() -> None:
    """Every [server] key of the option table is in the file, set or marked as not set."""
    text = render_options(plan())
    server = tomllib.loads(text)["server"]
    for option in OPTIONS:
        if option.file_key is not None:
            assert option.file_key in server or f"# {option.file_key}: not set." in text


def test_options_file_comments_say_what_a_switch_value_means() -> None:
    """An off-switch's comment says which value the --no-... flag stands for."""
    text = render_options(plan())
    assert "# false is --no-fsync:" in text
    assert "\nfsync = true\n" in text


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "tab\there", "line\nbreak", "del\x7f", "bell\x07", "naïve €"],
    ids=["quote", "backslash", "tab", "newline", "delete", "control", "non-ascii"],
)
def test_toml_string_round_trips(text: str) -> None:
    """Any text written as a TOML string reads back unchanged."""
    assert tomllib.loads(f"value = {toml_string(text)}")["value"] == text


# --- the service unit ----------------------------------------------------------------


def test_service_is_hardened() -> None:
    """The service unit sets each sandboxing directive the issue asks for."""
    directives = unit(render_service(plan(data_dir="/srv/s3")))
    for key, value in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("CapabilityBoundingSet", ""),
        ("ReadWritePaths", "/srv/s3"),
    ]:
        assert directives["Service", key] == [value], key


def test_service_runs_as_the_dedicated_user() -> None:
    """The service runs as --user, in that user's group, never as root."""
    directives = unit(render_service(plan(user="s3store")))
    assert directives["Service", "User"] == ["s3store"]
    assert directives["Service", "Group"] == ["s3store"]


def test_service_waits_for_readiness_and_restarts_on_failure() -> None:
    """The unit is Type=notify and restarts on failure, but not after a configuration error."""
    directives = unit(render_service(plan()))
    assert directives["Service", "Type"] == ["notify"]
    assert directives["Service", "Restart"] == ["on-failure"]
    assert directives["Service", "RestartPreventExitStatus"] == ["2"]


def test_service_reads_the_options_file_as_a_credential() -> None:
    """systemd hands the root-only options file to the service; nanio serve reads that copy."""
    command = console_script("nanio")
    directives = unit(render_service(plan()))
    assert directives["Service", "LoadCredential"] == [f"options.toml:{OPTIONS_PATH}"]
    assert directives["Service", "ExecStart"] == [
        f"{command} serve --options ${{CREDENTIALS_DIRECTORY}}/options.toml"
    ]


def test_service_waits_for_the_data_directory_mount() -> None:
    """A data directory on a network mount is mounted before nanio starts."""
    directives = unit(render_service(plan(data_dir="/mnt/shared/nanio")))
    assert directives["Unit", "RequiresMountsFor"] == ["/mnt/shared/nanio"]


def test_service_on_a_privileged_port_gets_only_that_capability() -> None:
    """Listening on port 80 itself, the service keeps CAP_NET_BIND_SERVICE and nothing else."""
    directives = unit(render_service(plan(port="80")))
    assert directives["Service", "CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert directives["Service", "AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]


def test_service_under_a_home_directory_may_read_homes() -> None:
    """A nanio installed in a home directory (pipx) gets ProtectHome=read-only, not yes."""
    directives = unit(render_service(plan(bin="/root/.local/bin/nanio")))
    assert directives["Service", "ProtectHome"] == ["read-only"]


# --- the socket unit ---------------------------------------------------------------


def test_socket_unit_listens_where_host_and_port_say() -> None:
    """nanio.socket's ListenStream= is the planned host and port."""
    directives = unit(render_socket(plan(socket=True, host="127.0.0.1", port="9100")))
    assert directives["Socket", "ListenStream"] == ["127.0.0.1:9100"]
    assert directives["Socket", "Accept"] == ["no"]


def test_socket_activated_service_adopts_the_socket() -> None:
    """With --socket the service adopts systemd's socket and requires the socket unit."""
    directives = unit(render_service(plan(socket=True)))
    (command,) = directives["Service", "ExecStart"]
    assert command.endswith(" --listen systemd:domain=INET:index=0")
    assert directives["Unit", "Requires"] == ["nanio.socket"]
    assert directives["Install", "Also"] == ["nanio.socket"]


def test_socket_on_ipv6_uses_the_inet6_domain() -> None:
    """An IPv6 host gives a bracketed ListenStream= and an INET6 systemd endpoint."""
    activated = plan(socket=True, host="::1", port="9100")
    assert unit(render_socket(activated))["Socket", "ListenStream"] == ["[::1]:9100"]
    (command,) = unit(render_service(activated))["Service", "ExecStart"]
    assert command.endswith(" --listen systemd:domain=INET6:index=0")


def test_socket_activated_service_on_a_privileged_port_needs_no_capability() -> None:
    """systemd binds port 80 for the socket unit, so the service keeps no capability."""
    directives = unit(render_service(plan(socket=True, port="80")))
    assert directives["Service", "CapabilityBoundingSet"] == [""]
    assert ("Service", "AmbientCapabilities") not in directives


def test_socket_needs_an_ip_address() -> None:
    """--socket with a host name is refused: ListenStream= takes addresses only."""
    with pytest.raises(InstallUsageError, match="IP address"):
        plan(socket=True, host="localhost")


def test_plan_without_socket_installs_no_socket_unit() -> None:
    """Without --socket only the options file and the service unit are written."""
    assert [file.path for file in plan_files(plan())] == [OPTIONS_PATH, SERVICE_PATH]


# --- systemd-analyze verify --------------------------------------------------------------


@pytest.mark.parametrize("socket", [False, True], ids=["service", "service-and-socket"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, socket: bool) -> None:
    """systemd-analyze verify accepts the written units without a single warning."""
    written = write_files(plan_files(plan(socket=socket)), str(tmp_path))
    units = [path for path in written if path.endswith((".service", ".socket"))]
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""


def test_systemd_analyze_verify_catches_a_bad_directive(tmp_path: Path) -> None:
    """The verify check is real: a misspelt directive makes systemd-analyze complain."""
    (service,) = [
        path for path in write_files(plan_files(plan()), str(tmp_path)) if path.endswith("vice")
    ]
    Path(service).write_text(Path(service).read_text().replace("PrivateTmp", "PrivateTemp"))
    result = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", service],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "PrivateTemp" in result.stderr


# --- checking the options ----------------------------------------------------------------


def test_bad_port_is_refused_as_serve_refuses_it() -> None:
    """--port 70000 is refused with nanio serve's own sentence."""
    with pytest.raises(InstallUsageError, match=r"--port must be an integer from 1 to 65535"):
        plan(port="70000")


def test_data_dir_with_a_space_is_refused() -> None:
    """A data directory a unit file cannot hold unquoted is refused, naming --data-dir."""
    with pytest.raises(InstallUsageError, match="--data-dir"):
        plan(data_dir="/srv/my data")


def test_user_name_with_a_space_is_refused() -> None:
    """--user must be a plain system user name."""
    with pytest.raises(InstallUsageError, match="--user"):
        plan(user="nanio service")


def test_relative_data_dir_becomes_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative --data-dir is resolved against the working directory, as serve does."""
    monkeypatch.chdir(tmp_path)
    assert plan(data_dir="store").data_dir == str(tmp_path / "store")


def test_nanio_command_is_found_from_argv0(tmp_path: Path) -> None:
    """Without --bin, the service runs the nanio command that is running now."""
    command = tmp_path / "bin" / "nanio"
    command.parent.mkdir()
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    found = install.find_nanio_command(str(command), str(tmp_path / "elsewhere" / "python"))
    assert found == str(command)


# --- writing -------------------------------------------------------------------------


def test_options_file_is_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    """The options file, which holds the secret, is created 0600 even with umask 0."""
    old = os.umask(0)
    try:
        write_files(plan_files(plan()), str(tmp_path))
    finally:
        os.umask(old)
    mode = stat.S_IMODE(installed(tmp_path, OPTIONS_PATH).stat().st_mode)
    assert mode == 0o600


def test_units_are_mode_0644(tmp_path: Path) -> None:
    """Unit files are world-readable, as systemd expects, and writable by root alone."""
    write_files(plan_files(plan(socket=True)), str(tmp_path))
    for path in (SERVICE_PATH, SOCKET_PATH):
        assert stat.S_IMODE(installed(tmp_path, path).stat().st_mode) == 0o644


def test_files_are_written_under_the_prefix(tmp_path: Path) -> None:
    """Every file lands below the prefix, at its target path, with its planned text."""
    files = plan_files(plan(socket=True))
    write_files(files, str(tmp_path))
    for file in files:
        assert installed(tmp_path, file.path).read_text() == file.content


def test_existing_file_is_not_overwritten_without_force(tmp_path: Path) -> None:
    """An existing options file is refused, by name, and nothing else is written."""
    options = installed(tmp_path, OPTIONS_PATH)
    options.parent.mkdir(parents=True)
    options.write_text("# mine\n")
    with pytest.raises(InstallError, match=str(options)) as raised:
        write_files(plan_files(plan()), str(tmp_path))
    assert "--force" in str(raised.value)
    assert options.read_text() == "# mine\n"
    assert not installed(tmp_path, SERVICE_PATH).exists()


def test_force_overwrites_every_file(tmp_path: Path) -> None:
    """With force, a second install replaces the files, the key pair included."""
    write_files(plan_files(plan()), str(tmp_path))
    replacement = plan(key_pair=generate_key_pair())
    write_files(plan_files(replacement), str(tmp_path), force=True)
    text = installed(tmp_path, OPTIONS_PATH).read_text()
    assert replacement.key_pair.secret_key in text
    assert KEY_PAIR.secret_key not in text


def test_force_replaces_a_symlink_rather_than_its_target(tmp_path: Path) -> None:
    """A symlink in place of the options file is replaced; the file it named is untouched."""
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text("# not nanio's\n")
    options = installed(tmp_path, OPTIONS_PATH)
    options.parent.mkdir(parents=True)
    options.symlink_to(elsewhere)
    write_files(plan_files(plan()), str(tmp_path), force=True)
    assert not options.is_symlink()
    assert elsewhere.read_text() == "# not nanio's\n"


def test_writing_leaves_no_temp_files(tmp_path: Path) -> None:
    """Only the installed files remain in their directories."""
    write_files(plan_files(plan(socket=True)), str(tmp_path))
    assert sorted(p.name for p in installed(tmp_path, "/etc/nanio").iterdir()) == ["options.toml"]
    units = sorted(p.name for p in installed(tmp_path, "/etc/systemd/system").iterdir())
    assert units == ["nanio.service", "nanio.socket"]


# --- the command -------------------------------------------------------------------------


def run_install(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``nanio install`` as a user types it."""
    return subprocess.run(
        [console_script("nanio"), "install", *arguments],
        env=clean_environ(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_prints_the_key_pair_it_wrote_once(tmp_path: Path) -> None:
    """nanio install prints the access and secret keys once each, and they are the file's."""
    result = run_install("--prefix", str(tmp_path / "root"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    users = tomllib.loads(installed(tmp_path / "root", OPTIONS_PATH).read_text())["users"]
    (user,) = users
    assert result.stdout.count(user["access_key"]) == 1
    assert result.stdout.count(user["secret_key"]) == 1


def test_command_prints_the_next_steps(tmp_path: Path) -> None:
    """nanio install ends with the commands that create the data directory and start nanio."""
    result = run_install(
        "--prefix", str(tmp_path / "root"), "--data-dir", str(tmp_path / "new-data"), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert f"install -d -m 0750 -o nanio -g nanio {tmp_path / 'new-data'}" in result.stdout
    assert "systemctl enable --now nanio.service" in result.stdout


def test_command_refuses_a_second_install_in_one_sentence(tmp_path: Path) -> None:
    """A second nanio install exits 1 with one sentence and keeps the first key pair."""
    root = tmp_path / "root"
    assert run_install("--prefix", str(root), cwd=tmp_path).returncode == 0
    before = installed(root, OPTIONS_PATH).read_text()
    result = run_install("--prefix", str(root), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("nanio install: Will not overwrite") and line.endswith(".")
    assert installed(root, OPTIONS_PATH).read_text() == before


def test_command_with_force_installs_again(tmp_path: Path) -> None:
    """nanio install --force over an earlier install writes a new key pair."""
    root = tmp_path / "root"
    assert run_install("--prefix", str(root), cwd=tmp_path).returncode == 0
    before = installed(root, OPTIONS_PATH).read_text()
    result = run_install("--prefix", str(root), "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert installed(root, OPTIONS_PATH).read_text() != before


def test_command_refuses_a_bad_option_with_status_2(tmp_path: Path) -> None:
    """nanio install --port 0 exits 2 with one sentence and writes nothing."""
    root = tmp_path / "root"
    result = run_install("--prefix", str(root), "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "--port" in line and "Traceback" not in result.stderr
    assert not root.exists()


def test_command_warns_about_a_missing_bin(tmp_path: Path) -> None:
    """A --bin that is not an executable file yet is installed all the same, with a warning."""
    missing = tmp_path / "later" / "nanio"
    result = run_install("--prefix", str(tmp_path / "root"), "--bin", str(missing), cwd=tmp_path)
    assert result.returncode == 0
    assert f"warning: {missing} is not an executable file" in result.stderr
    assert f"ExecStart={missing} serve" in installed(tmp_path / "root", SERVICE_PATH).read_text()
