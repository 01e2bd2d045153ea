"""
``--max-object-size``: how a size is written, and every refusal.

The precedence of the option (flag > environment > file > default) is
checked with the other options in ``test_config.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nanio.config import ConfigError, Settings, load_settings
from nanio.web.sinks import MAX_OBJECT_SIZE_BYTES

CREDENTIALS = {"NANIO_ACCESS_KEY": "alice", "NANIO_SECRET_KEY": "alice-secret"}


def max_object_size(value: object) -> int:
    """The max_object_size load_settings makes of a flag value."""
    return load_settings({"max_object_size": value}, CREDENTIALS).max_object_size


def test_default_is_s3s_five_tebibytes() -> None:
    """Without the option the cap is S3's own, 5 TiB, the same the sinks default to."""
    assert Settings().max_object_size == 5 * 1024**4 == MAX_OBJECT_SIZE_BYTES


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 1),
        ("5368709120", 5 * 1024**3),
        ("512B", 512),
        ("4KiB", 4096),
        ("100MiB", 100 * 1024**2),
        ("5GiB", 5 * 1024**3),
        ("5TiB", 5 * 1024**4),
        ("10KB", 10_000),
        ("10MB", 10_000_000),
        ("2GB", 2_000_000_000),
        ("1TB", 10**12),
        ("100mib", 100 * 1024**2),
        ("100 MiB", 100 * 1024**2),
        (" 7KiB ", 7168),
    ],
)
def test_size_is_bytes_or_a_number_with_a_unit(text: str, size: int) -> None:
    """A size is a whole number of bytes, or one with a binary or decimal unit, any case."""
    assert max_object_size(text) == size


@pytest.mark.parametrize(
    "text", ["0", "-1", "", "five", "1.5GiB", "5XiB", "5 K iB", "1e9", "99999999999999999999TiB"]
)
def test_bad_size_is_refused_in_one_sentence(text: str) -> None:
    """Zero, negatives, fractions, unknown units and sizes past 2**63 are refused, quoting them."""
    with pytest.raises(ConfigError) as caught:
        max_object_size(text)
    message = str(caught.value)
    assert message == (
        "--max-object-size must be a whole number of bytes, at least 1, optionally with a "
        f"unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB), not {text!r}."
    )


def test_size_in_the_file_may_be_an_integer_or_a_string(tmp_path: Path) -> None:
    """max_object_size in [server] takes a TOML integer or a string with a unit."""
    for text, size in (("1048576", 1024**2), ('"1MiB"', 1024**2)):
        path = tmp_path / "options.toml"
        path.write_text(f"[server]\nmax_object_size = {text}\n")
        assert load_settings({"options": str(path)}, CREDENTIALS).max_object_size == size


def test_boolean_size_in_the_file_is_refused(tmp_path: Path) -> None:
    """max_object_size = true in the options file is refused, naming the file."""
    path = tmp_path / "options.toml"
    path.write_text("[server]\nmax_object_size = true\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"options": str(path)}, CREDENTIALS)
    assert str(path) in str(caught.value)


def test_bad_size_in_the_environment_names_the_variable() -> None:
    """A bad NANIO_MAX_OBJECT_SIZE is refused naming the variable, not the flag."""
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {**CREDENTIALS, "NANIO_MAX_OBJECT_SIZE": "huge"})
    assert str(caught.value).startswith("NANIO_MAX_OBJECT_SIZE must be")
