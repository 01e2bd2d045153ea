"""
Property-based tests of the aws-chunked decoder: random payloads cut into
random chunks, framed by the independent encoder of tests.support.signing,
and fed in random pieces decode to exactly the payload; a stream corrupted
anywhere (a byte changed, inserted or dropped, or the stream cut short)
ends in an S3 error, never in another exception, and a signed stream never
decodes to bytes other than the payload without one.
"""

from __future__ import annotations

import itertools

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanio.errors import EntityTooLarge, S3Error
from nanio.s3.chunked import ChunkedDecoder, ChunkSigner
from tests.support.signing import (
    decode_chunked,
    signed_chunked_body,
    sigv4_signing_key,
    unsigned_chunked_body,
)

EXAMPLES = 60

AMZ_DATE = "20261125T010203Z"
SCOPE = "20261125/us-east-1/s3/aws4_request"
KEY = sigv4_signing_key("fuzz-secret", "20261125", "us-east-1")
SEED = "5eed" * 16

chunks = st.lists(st.binary(min_size=1, max_size=64), max_size=5)
# Trailer lines as clients send them: an HTTP token name, a value without
# blanks at its ends (the decoder trims those), and no repeated names.
trailers = st.dictionaries(
    st.sampled_from(["x-amz-checksum-crc32", "x-amz-checksum-sha256", "x-amz-meta-x", "a!b"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=16).map(
        str.strip
    ),
    max_size=3,
)


@st.composite
def split_points(draw: st.DrawFn, length: int) -> list[int]:
    """Sorted cut points inside a stream of ``length`` bytes."""
    return sorted(draw(st.lists(st.integers(0, length), max_size=8)))


def _pieces(body: bytes, cuts: list[int]) -> list[bytes]:
    """The body cut at ``cuts``."""
    bounds = [0, *cuts, len(body)]
    return [body[start:end] for start, end in itertools.pairwise(bounds)]


def _signed(data: list[bytes], trailer: dict[str, str] | None) -> bytes:
    """``data`` framed as a signed aws-chunked body, with trailers when given."""
    body, _ = signed_chunked_body(
        data,
        signing_key=KEY,
        amz_date=AMZ_DATE,
        scope=SCOPE,
        seed_signature=SEED,
        trailers=None if trailer is None else list(trailer.items()),
    )
    return body


def _decoder(
    signed: bool, expect_trailer: bool, max_chunk_bytes: int | None = None
) -> ChunkedDecoder:
    """A decoder for a signed or unsigned stream, with the chain seeded like the encoder's."""
    signer = ChunkSigner(KEY, AMZ_DATE, SCOPE, SEED) if signed else None
    if max_chunk_bytes is None:
        return ChunkedDecoder(signer=signer, expect_trailer=expect_trailer)
    return ChunkedDecoder(
        signer=signer, expect_trailer=expect_trailer, max_chunk_bytes=max_chunk_bytes
    )


def _outcome(decoder: ChunkedDecoder, pieces: list[bytes]) -> bytes | S3Error:
    """The decoded bytes, or the S3 error the stream ended in (any other exception escapes)."""
    try:
        return decode_chunked(decoder, pieces)
    except S3Error as error:
        return error


@st.composite
def corruptions(draw: st.DrawFn, body: bytes) -> bytes:
    """``body`` with one byte changed, inserted or dropped, or cut short."""
    index = draw(st.integers(0, len(body) - 1))
    kind = draw(st.sampled_from(["change", "insert", "drop", "truncate"]))
    if kind == "truncate":
        return body[:index]
    if kind == "drop":
        return body[:index] + body[index + 1 :]
    byte = draw(st.integers(0, 255).filter(lambda b: kind == "insert" or b != body[index]))
    return body[:index] + bytes([byte]) + body[index + (kind == "change") :]


# -- intact streams ----------------------------------------------------------


@settings(max_examples=EXAMPLES)
@given(data=chunks, cuts=st.data())
def test_signed_stream_decodes_to_its_payload_however_it_is_cut(
    data: list[bytes], cuts: st.DataObject
) -> None:
    """A signed stream of random chunks fed in random pieces decodes to exactly its payload."""
    body = _signed(data, None)
    pieces = _pieces(body, cuts.draw(split_points(len(body))))
    assert decode_chunked(_decoder(True, False), pieces) == b"".join(data)


@settings(max_examples=EXAMPLES)
@given(data=chunks, trailer=trailers, cuts=st.data())
def test_signed_trailer_stream_decodes_to_its_payload_and_trailers(
    data: list[bytes], trailer: dict[str, str], cuts: st.DataObject
) -> None:
    """A signed stream with trailers decodes to its payload and exactly its trailers."""
    body = _signed(data, trailer)
    pieces = _pieces(body, cuts.draw(split_points(len(body))))
    decoder = _decoder(True, True)
    assert (decode_chunked(decoder, pieces), decoder.trailers) == (b"".join(data), trailer)


@settings(max_examples=EXAMPLES)
@given(data=chunks, trailer=trailers, cuts=st.data())
def test_unsigned_trailer_stream_decodes_to_its_payload_and_trailers(
    data: list[bytes], trailer: dict[str, str], cuts: st.DataObject
) -> None:
    """An unsigned stream with trailers decodes to its payload and exactly its trailers."""
    body = unsigned_chunked_body(data, list(trailer.items()))
    pieces = _pieces(body, cuts.draw(split_points(len(body))))
    decoder = _decoder(False, True)
    assert (decode_chunked(decoder, pieces), decoder.trailers) == (b"".join(data), trailer)


@settings(max_examples=EXAMPLES)
@given(data=chunks, cuts=st.data())
def test_decoded_length_counts_what_was_passed_on(data: list[bytes], cuts: st.DataObject) -> None:
    """decoded_length always equals the number of object bytes handed out."""
    body = _signed(data, None)
    decoder = _decoder(True, False)
    out = decode_chunked(decoder, _pieces(body, cuts.draw(split_points(len(body)))))
    assert decoder.decoded_length == len(out)


@settings(max_examples=EXAMPLES)
@given(data=chunks.filter(bool), limit=st.integers(1, 300))
def test_a_chunk_over_the_limit_is_too_large_and_nothing_past_it_decodes(
    data: list[bytes], limit: int
) -> None:
    """A stream is refused with EntityTooLarge exactly when one of its chunks exceeds the limit."""
    result = _outcome(_decoder(True, False, max_chunk_bytes=limit), [_signed(data, None)])
    if max(len(chunk) for chunk in data) > limit:
        assert isinstance(result, EntityTooLarge)
    else:
        assert result == b"".join(data)


# -- corrupted streams --------------------------------------------------------


@settings(max_examples=EXAMPLES * 3 // 2)
@given(data=chunks, trailer=st.none() | trailers, corrupt=st.data(), cuts=st.data())
def test_a_corrupted_signed_stream_never_decodes_to_other_bytes(
    data: list[bytes],
    trailer: dict[str, str] | None,
    corrupt: st.DataObject,
    cuts: st.DataObject,
) -> None:
    """A signed stream changed anywhere ends in an S3 error, or exactly its payload and trailers."""
    body = corrupt.draw(corruptions(_signed(data, trailer)))
    decoder = _decoder(True, trailer is not None)
    result = _outcome(decoder, _pieces(body, cuts.draw(split_points(len(body)))))
    if not isinstance(result, S3Error):
        # Only a change that means nothing (the case of a hex digit in a
        # size) may get through, and then nothing else may differ.
        assert (result, decoder.trailers) == (b"".join(data), trailer or {})


@settings(max_examples=EXAMPLES * 3 // 2)
@given(data=chunks, trailer=trailers, corrupt=st.data(), cuts=st.data())
def test_a_corrupted_unsigned_stream_ends_in_an_s3_error_or_consistent_bytes(
    data: list[bytes], trailer: dict[str, str], corrupt: st.DataObject, cuts: st.DataObject
) -> None:
    """An unsigned stream changed anywhere ends cleanly: an S3 error, or bytes it counted."""
    # Nothing signs an unsigned stream's data: a changed data byte decodes
    # (the checksum trailer catches it later); the framing must still hold.
    body = corrupt.draw(corruptions(unsigned_chunked_body(data, list(trailer.items()))))
    decoder = _decoder(False, True)
    result = _outcome(decoder, _pieces(body, cuts.draw(split_points(len(body)))))
    if not isinstance(result, S3Error):
        assert decoder.decoded_length == len(result)


@settings(max_examples=EXAMPLES)
@given(
    body=st.binary(max_size=200)
    | st.text("0123456789abcdef;=\r\n:x-", max_size=120).map(str.encode),
    signed=st.booleans(),
    expect_trailer=st.booleans(),
    cuts=st.data(),
)
def test_arbitrary_bytes_end_in_an_s3_error_or_a_complete_stream(
    body: bytes, signed: bool, expect_trailer: bool, cuts: st.DataObject
) -> None:
    """Whatever bytes arrive, the decoder raises only S3 errors and stays in a final state."""
    decoder = _decoder(signed, expect_trailer)
    first = _outcome(decoder, _pieces(body, cuts.draw(split_points(len(body)))))
    # Once ended, the decoder gives the same verdict again.
    second = _outcome(decoder, [])
    if isinstance(first, S3Error):
        assert second is first
    else:
        assert second == b""


@settings(max_examples=EXAMPLES)
@given(data=chunks, corrupt=st.data())
def test_an_error_is_raised_again_on_every_later_call(
    data: list[bytes], corrupt: st.DataObject
) -> None:
    """After a stream fails, more input and finish() raise the very same error."""
    body = corrupt.draw(corruptions(_signed(data, None)))
    decoder = _decoder(True, False)
    first = _outcome(decoder, [body])
    assume(isinstance(first, S3Error))
    assert (_outcome(decoder, [b"more"]), _outcome(decoder, [])) == (first, first)
