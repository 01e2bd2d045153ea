"""
The size limits of request-body sinks: declared sizes refused before the
body, streamed bodies cut off as they pass the limit, and lengths that are
not numbers never crashing the check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nanio import errors
from nanio.s3.auth import AuthResult
from nanio.s3.operations import XML_BODY_LIMIT_BYTES
from nanio.storage import Store
from nanio.web.sinks import BufferSink, ObjectSink

UNSIGNED = AuthResult(access_key="a", signature_version=4, content_sha256="UNSIGNED-PAYLOAD")
TRAILER = AuthResult(
    access_key="a", signature_version=4, content_sha256="STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)
CAP_BYTES = 1000


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "data", fsync=False)


def temp_files(store: Store) -> list[str]:
    return sorted(p.name for p in (Path(store.root) / ".nanio" / "tmp").iterdir())


def object_sink(
    store: Store, headers: dict[str, list[str]], auth: AuthResult = UNSIGNED
) -> ObjectSink:
    return ObjectSink.for_call(store.create_temp(), headers, auth, None, CAP_BYTES)


def test_declared_length_over_the_cap_is_entity_too_large(store: Store) -> None:
    """A Content-Length of cap + 1 is EntityTooLarge naming both sizes; no temp file stays."""
    with pytest.raises(errors.EntityTooLarge) as caught:
        object_sink(store, {"content-length": [str(CAP_BYTES + 1)]})
    assert caught.value.fields == {
        "ProposedSize": str(CAP_BYTES + 1),
        "MaxSizeAllowed": str(CAP_BYTES),
    }
    assert temp_files(store) == []


def test_declared_length_of_exactly_the_cap_is_accepted(store: Store) -> None:
    """A Content-Length equal to the cap opens a sink."""
    sink = object_sink(store, {"content-length": [str(CAP_BYTES)]})
    sink.write(b"x" * CAP_BYTES)
    sink.abort()
    assert temp_files(store) == []


def test_decoded_length_over_the_cap_is_entity_too_large(store: Store) -> None:
    """An aws-chunked upload declaring a decoded length over the cap is refused up front."""
    headers = {
        "content-length": ["10"],
        "x-amz-decoded-content-length": [str(CAP_BYTES + 1)],
    }
    with pytest.raises(errors.EntityTooLarge):
        object_sink(store, headers, TRAILER)


def test_chunked_body_is_cut_off_once_past_the_cap(store: Store) -> None:
    """A body with no length up front is refused by the write that takes it past the cap."""
    sink = object_sink(store, {"transfer-encoding": ["chunked"]})
    sink.write(b"x" * CAP_BYTES)
    with pytest.raises(errors.EntityTooLarge):
        sink.write(b"x")
    sink.abort()
    assert temp_files(store) == []


ODD_LENGTHS = ["\u00b2", "12a", "-1", "9" * 5000]


@pytest.mark.parametrize("value", ODD_LENGTHS, ids=["superscript-two", "word", "negative", "huge"])
def test_decoded_length_that_is_no_plain_number_is_invalid_argument(
    store: Store, value: str
) -> None:
    """A decoded length of odd digits, a word, a sign or 5000 digits is InvalidArgument."""
    headers = {"content-length": ["10"], "x-amz-decoded-content-length": [value]}
    with pytest.raises(errors.InvalidArgument):
        object_sink(store, headers, TRAILER)
    assert temp_files(store) == []


@pytest.mark.parametrize(
    ("value", "refused"),
    [("\u00b2", False), ("12a", False), ("-1", False), ("9" * 5000, True)],
    ids=["superscript-two", "word", "negative", "huge"],
)
def test_xml_sink_reads_only_plain_digits_as_a_declared_length(value: str, refused: bool) -> None:
    """An XML body's odd declared length is no length (the stream decides), a huge one too big."""
    headers = {"content-length": ["10"], "x-amz-decoded-content-length": [value]}
    if refused:
        with pytest.raises(errors.MaxMessageLengthExceeded):
            BufferSink.for_call(headers, TRAILER)
    else:
        assert isinstance(BufferSink.for_call(headers, TRAILER), BufferSink)


def test_xml_body_declared_over_1_mib_is_refused_before_any_byte() -> None:
    """A Content-Length over 1 MiB for an XML body is MaxMessageLengthExceeded at once."""
    with pytest.raises(errors.MaxMessageLengthExceeded):
        BufferSink.for_call({"content-length": [str(XML_BODY_LIMIT_BYTES + 1)]}, UNSIGNED)


def test_xml_body_declared_at_1_mib_is_accepted() -> None:
    """A Content-Length of exactly 1 MiB for an XML body is accepted."""
    sink = BufferSink.for_call({"content-length": [str(XML_BODY_LIMIT_BYTES)]}, UNSIGNED)
    sink.write(b" " * XML_BODY_LIMIT_BYTES)
    assert len(sink.finish()) == XML_BODY_LIMIT_BYTES


def test_xml_body_sent_without_a_length_is_cut_off_past_1_mib() -> None:
    """An XML body with no declared length is refused by the write that passes 1 MiB."""
    sink = BufferSink.for_call({"transfer-encoding": ["chunked"]}, UNSIGNED)
    sink.write(b" " * XML_BODY_LIMIT_BYTES)
    with pytest.raises(errors.MaxMessageLengthExceeded):
        sink.write(b" ")
