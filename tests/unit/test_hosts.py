"""
Virtual-host addressing: the Host -> bucket split, base-domain checks, and
the ``--base-domain`` option from flags, environment and options file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nanio import tap
from nanio.cli import build_parser
from nanio.config import OPTIONS_BY_DEST, ConfigError, Settings, load_settings
from nanio.s3.hosts import VirtualHosts, normalize_base_domain

CREDENTIALS = {"NANIO_ACCESS_KEY": "alice", "NANIO_SECRET_KEY": "alice-secret"}

HOSTS = VirtualHosts(["s3.example.com"])


# --- Host -> bucket ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("bkt.s3.example.com", "bkt"),
        ("bkt.s3.example.com:9000", "bkt"),
        ("BKT.S3.Example.COM:9000", "bkt"),
        ("my.bucket.s3.example.com", "my.bucket"),
        ("bkt.s3.example.com.", "bkt"),
        ("bkt.s3.example.com.:9000", "bkt"),
    ],
)
def test_bucket_host_names_its_bucket(host: str, bucket: str) -> None:
    """<bucket>.<base-domain>, with any port and in any case, names the bucket."""
    assert HOSTS.bucket_for(host) == bucket


@pytest.mark.parametrize(
    "host",
    [
        "s3.example.com",
        "s3.example.com:9000",
        "S3.EXAMPLE.COM",
        "example.com",
        "bkt.s3.example.org",
        "bkts3.example.com",
        ".s3.example.com",
        "127.0.0.1:9000",
        "[::1]:9000",
        "[fe80::1%25eth0]",
        "",
    ],
)
def test_other_hosts_are_path_style(host: str) -> None:
    """The base domain itself, other names, IP literals and no Host at all are path style."""
    assert HOSTS.bucket_for(host) is None


def test_longest_base_domain_wins() -> None:
    """With nested base domains, the bucket is the part before the longer one."""
    hosts = VirtualHosts(["example.com", "s3.example.com"])
    assert hosts.bucket_for("bkt.s3.example.com") == "bkt"
    assert hosts.bucket_for("bkt.example.com") == "bkt"


def test_nested_base_domain_itself_is_path_style() -> None:
    """A base domain below another configured one is path style, not a bucket of the outer."""
    hosts = VirtualHosts(["example.com", "s3.example.com"])
    assert hosts.bucket_for("s3.example.com:9000") is None


def test_base_domains_are_normalized_and_deduplicated() -> None:
    """Base domains are kept lower case, without a trailing dot, each once, in order."""
    hosts = VirtualHosts(["S3.Example.com.", "s3.example.com", "other.test"])
    assert hosts.base_domains == ("s3.example.com", "other.test")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "http://s3.example.com",
        "s3.example.com:9000",
        "s3.example.com/path",
        "*.s3.example.com",
        "s3..example.com",
        "-s3.example.com",
        "s3 example.com",
    ],
)
def test_bad_base_domain_is_refused(text: str) -> None:
    """A scheme, port, path, wildcard, empty label or space makes a base domain invalid."""
    with pytest.raises(ValueError, match="is not a domain name"):
        normalize_base_domain(text)


# --- the --base-domain option ------------------------------------------------------


def test_default_is_path_style_only() -> None:
    """Without --base-domain, Settings has no base domain."""
    assert load_settings({}, CREDENTIALS).base_domains == ()
    assert Settings().base_domains == ()


def test_repeated_flag_gives_every_domain() -> None:
    """--base-domain given twice keeps both domains in order."""
    flags = {"base_domains": ["s3.example.com", "S3.Other.Test"]}
    assert load_settings(flags, CREDENTIALS).base_domains == ("s3.example.com", "s3.other.test")


def test_environment_is_comma_separated() -> None:
    """NANIO_BASE_DOMAIN holds one or more domains separated by commas."""
    environ = {**CREDENTIALS, "NANIO_BASE_DOMAIN": "s3.example.com, s3.other.test"}
    settings = load_settings({}, environ)
    assert settings.base_domains == ("s3.example.com", "s3.other.test")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('"s3.example.com"', ("s3.example.com",)),
        ('["s3.example.com", "s3.other.test"]', ("s3.example.com", "s3.other.test")),
    ],
)
def test_file_key_takes_a_string_or_a_list(
    tmp_path: Path, toml: str, expected: tuple[str, ...]
) -> None:
    """base_domain in the [server] table may be one string or a list of them."""
    path = tmp_path / "options.toml"
    path.write_text(f"[server]\nbase_domain = {toml}\n")
    assert load_settings({"options": str(path)}, CREDENTIALS).base_domains == expected


def test_flag_beats_environment() -> None:
    """--base-domain overrides NANIO_BASE_DOMAIN."""
    environ = {**CREDENTIALS, "NANIO_BASE_DOMAIN": "env.example"}
    settings = load_settings({"base_domains": ["flag.example"]}, environ)
    assert settings.base_domains == ("flag.example",)


def test_bad_base_domain_names_its_source() -> None:
    """An invalid base domain is refused in one sentence naming where it came from."""
    environ = {**CREDENTIALS, "NANIO_BASE_DOMAIN": "s3.example.com:9000"}
    with pytest.raises(ConfigError, match=r"^NANIO_BASE_DOMAIN: 's3.example.com:9000' is not"):
        load_settings({}, environ)


def test_non_string_in_file_list_is_refused(tmp_path: Path) -> None:
    """A base_domain list holding a number is refused."""
    path = tmp_path / "options.toml"
    path.write_text("[server]\nbase_domain = [3]\n")
    with pytest.raises(ConfigError, match="must be a domain name or a list of them"):
        load_settings({"options": str(path)}, CREDENTIALS)


def test_help_names_env_file_key_and_default() -> None:
    """--base-domain's help names its variable, its file key and that path style is the default."""
    option = OPTIONS_BY_DEST["base_domains"]
    assert option.flag == "base-domain"
    assert "env NANIO_BASE_DOMAIN" in option.help
    assert "file key base_domain" in option.help
    assert "path style only" in option.help


def test_twistd_plugin_takes_repeated_base_domain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """twistd nanio --base-domain A --base-domain B gives both domains."""
    monkeypatch.setattr(tap.Options, "environ", dict(CREDENTIALS))
    options = tap.Options()
    options.parseOptions(
        ["--data-dir", str(tmp_path), "--base-domain", "a.test", "--base-domain", "b.test"]
    )
    assert options.settings.base_domains == ("a.test", "b.test")


def test_nanio_serve_takes_repeated_base_domain() -> None:
    """nanio serve --base-domain A --base-domain B collects both values."""
    arguments = build_parser().parse_args(
        ["serve", "--base-domain", "a.test", "--base-domain", "b.test"]
    )
    assert arguments.base_domains == ["a.test", "b.test"]
