"""Bucket-name and object-key validation: what S3 accepts and what can be a file."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from nanio.errors import InvalidArgument, InvalidBucketName, KeyTooLongError, S3Error
from nanio.s3 import keys
from nanio.s3.keys import is_folder_marker, validate_bucket_name, validate_key

GOOD_KEYS = [
    "a",
    "object.txt",
    "photos/2026/11/IMG_0001.jpg",
    "photos/2026/",
    "a b/c+d&e=f?g#h",
    "ключ/файл.txt",
    "emoji/\U0001f600.png",
    "x" * 250,
    "é" * 125,  # 250 UTF-8 bytes in one segment
    "/".join(["y" * 250] * 4) + "/" + "z" * 20,  # 1023 bytes
    ".hidden",
    "..a/b..",
    "a/.hidden/b",
    "a/...",
    "a/.nanio-meta/b",  # only the first segment is reserved
    "nanio/.nanio",
    "tab-free\u0085next-line",  # a C1 control is not refused
    "%00/%2e%2e",  # percent signs are ordinary characters here
]

BAD_KEYS = [
    ("", InvalidArgument),
    ("/a", InvalidArgument),
    ("/", InvalidArgument),
    ("//", InvalidArgument),
    ("a//b", InvalidArgument),
    ("a//", InvalidArgument),
    (".", InvalidArgument),
    ("..", InvalidArgument),
    ("./a", InvalidArgument),
    ("../etc/passwd", InvalidArgument),
    ("a/./b", InvalidArgument),
    ("a/../b", InvalidArgument),
    ("a/..", InvalidArgument),
    ("a/../", InvalidArgument),
    ("ключ/../x", InvalidArgument),
    ("a\x00b", InvalidArgument),
    ("a\nb", InvalidArgument),
    ("a\rb", InvalidArgument),
    ("a\tb", InvalidArgument),
    ("a\x1fb", InvalidArgument),
    ("a\x7fb", InvalidArgument),
    ("ключ\x00", InvalidArgument),
    ("a\ufffeb", InvalidArgument),
    ("a\uffff", InvalidArgument),
    ("a\udc80b", InvalidArgument),
    (".nanio", InvalidArgument),
    (".nanio-meta/x.json", InvalidArgument),
    (".nanio/multipart/u/init.json", InvalidArgument),
    (".naniox", InvalidArgument),
    ("x" * 251, KeyTooLongError),
    ("a/" + "x" * 251, KeyTooLongError),
    ("é" * 126, KeyTooLongError),  # 252 UTF-8 bytes in one segment
    ("/".join(["y" * 250] * 4) + "/" + "z" * 21, KeyTooLongError),  # 1025 bytes
    ("ü" * 513, KeyTooLongError),  # 513 characters, 1026 bytes
]


@pytest.mark.parametrize("key", GOOD_KEYS)
def test_good_key_is_accepted(key: str) -> None:
    """A key S3 allows that can be a file below the bucket passes validation."""
    assert validate_key(key) is None


@pytest.mark.parametrize(("key", "error"), BAD_KEYS)
def test_hostile_key_is_refused(key: str, error: type[S3Error]) -> None:
    """A key that cannot be stored safely as a file is refused with the matching S3 error."""
    with pytest.raises(error):
        validate_key(key)


@pytest.mark.parametrize(("key", "error"), BAD_KEYS)
def test_refusal_message_is_printable(key: str, error: type[S3Error]) -> None:
    """A refusal's message and fields are printable text, whatever the key holds."""
    with pytest.raises(S3Error) as info:
        validate_key(key)
    texts = [info.value.message, *info.value.fields.values()]
    assert all(text.isprintable() for text in texts)


@pytest.mark.parametrize(
    ("validate", "name", "error", "fields"),
    [
        pytest.param(validate_key, "a//b", InvalidArgument, {"ArgumentName": "key"}, id="key"),
        pytest.param(
            validate_key,
            "ü" * 513,
            KeyTooLongError,
            {"Size": "1026", "MaxSizeAllowed": "1024"},
            id="key-too-long",
        ),
        pytest.param(
            validate_bucket_name,
            "My-Bucket",
            InvalidBucketName,
            {"BucketName": "My-Bucket"},
            id="bucket",
        ),
        # A name holding control characters is not echoed.
        pytest.param(
            validate_bucket_name, "bad\x00name", InvalidBucketName, {}, id="unprintable-bucket"
        ),
    ],
)
def test_refusal_carries_the_fields_s3_sends(
    validate: Callable[[str], None], name: str, error: type[S3Error], fields: dict[str, str]
) -> None:
    """A refused key or bucket name carries the error fields S3 puts in its body."""
    with pytest.raises(error) as info:
        validate(name)
    assert info.value.fields == fields


@pytest.mark.parametrize(
    ("key", "rule"),
    [("a/../b", "'..'"), (".nanio-meta/a.json", "reserved")],
    ids=["dot-segment", "reserved-prefix"],
)
def test_refusal_message_says_what_is_wrong(key: str, rule: str) -> None:
    """The message for a refused key names the rule it broke (dot segment, reserved prefix)."""
    with pytest.raises(InvalidArgument) as info:
        validate_key(key)
    assert rule in info.value.message


@pytest.mark.parametrize(
    ("key", "expected"),
    [("photos/", True), ("a/b/", True), ("photos", False), ("a/b", False)],
)
def test_is_folder_marker(key: str, expected: bool) -> None:
    """A key is a folder marker exactly when it ends with a slash."""
    assert is_folder_marker(key) is expected


GOOD_BUCKETS = [
    "abc",
    "my-bucket",
    "my.bucket.name",
    "1bucket",
    "bucket1",
    "a" * 63,
    "a-b.c-d",
    "192.168.5.4x",
    "s3alias-bucket",
]

BAD_BUCKETS = [
    "",
    "ab",
    "a" * 64,
    "My-Bucket",
    "my_bucket",
    "-bucket",
    "bucket-",
    ".bucket",
    "bucket.",
    "my..bucket",
    "192.168.5.4",
    "10.0.0.1",
    "xn--bucket",
    "sthree-bucket",
    "sthree-configurator",
    "amzn-s3-demo-bucket",
    "bucket-s3alias",
    "bucket--ol-s3",
    "bucket--x-s3",
    "bucket--table-s3",
    ".nanio",
    ".nanio-meta",
    "bücket",
    "bucket name",
    "bucket/key",
]


@pytest.mark.parametrize("name", GOOD_BUCKETS)
def test_good_bucket_name_is_accepted(name: str) -> None:
    """A name within S3's bucket naming rules passes validation."""
    assert validate_bucket_name(name) is None


@pytest.mark.parametrize("name", BAD_BUCKETS)
def test_bad_bucket_name_is_refused(name: str) -> None:
    """A name outside S3's bucket naming rules is refused with InvalidBucketName."""
    with pytest.raises(InvalidBucketName):
        validate_bucket_name(name)


def test_bad_bucket_name_is_refused_every_time() -> None:
    """Caching valid names never lets a refused name through on a second try."""
    for _ in range(2):
        with pytest.raises(InvalidBucketName):
            validate_bucket_name("my..bucket")


def test_fast_path_agrees_with_detailed_rules() -> None:
    """Every short key over a tricky alphabet gets the same verdict from both paths."""
    alphabet = "a./n"
    disagreements = []
    for length in range(1, 7):
        for chars in itertools.product(alphabet, repeat=length):
            key = "".join(chars)
            try:
                keys._explain_bad_key(key)
                detailed = True
            except S3Error:
                detailed = False
            try:
                validate_key(key)
                fast = True
            except S3Error:
                fast = False
            if fast != detailed:
                disagreements.append(key)
    assert disagreements == []
