"""
The aws-chunked decoder, fed bodies made by independent means (AWS's worked
examples, botocore's own encoder, and the encoder in tests.support.signing
written from the AWS documents) whole, split at every offset, one byte at a
time and in random splits; and fed broken, tampered and truncated bodies.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator

import pytest

from nanio.errors import (
    EntityTooLarge,
    IncompleteBody,
    MalformedTrailerError,
    S3Error,
    SignatureDoesNotMatch,
)
from nanio.s3 import checksums, sigv4
from nanio.s3.auth import Authenticator, AuthResult, SignedRequest
from nanio.s3.chunked import (
    LINE_LIMIT_BYTES,
    TRAILER_LIMIT_BYTES,
    ChunkedDecoder,
    ChunkSigner,
    decoder_for,
)
from tests.support.signing import (
    botocore_chunked_body,
    decode_chunked,
    signed_chunked_body,
    sigv4_signing_key,
    unsigned_chunked_body,
)

# The worked examples of AWS's "Transferring Payload in Multiple Chunks" and
# "Including Trailing Headers" pages: a 64 KiB chunk and a 1 KiB chunk of 'a'.
DOC_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_AMZ_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_EPOCH = 1369353600.0
DOC_KEY = sigv4_signing_key(DOC_SECRET, "20130524", "us-east-1")
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
DOC_BODY = (
    f"10000;chunk-signature={DOC_SIGNATURES[0]}\r\n".encode()
    + b"a" * 65536
    + f"\r\n400;chunk-signature={DOC_SIGNATURES[1]}\r\n".encode()
    + b"a" * 1024
    + f"\r\n0;chunk-signature={DOC_SIGNATURES[2]}\r\n\r\n".encode()
)
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_SIGNATURES = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435",
]
DOC_TRAILER_BODY = (
    f"10000;chunk-signature={DOC_TRAILER_SIGNATURES[0]}\r\n".encode()
    + b"a" * 65536
    + f"\r\n400;chunk-signature={DOC_TRAILER_SIGNATURES[1]}\r\n".encode()
    + b"a" * 1024
    + f"\r\n0;chunk-signature={DOC_TRAILER_SIGNATURES[2]}\r\n".encode()
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + f"x-amz-trailer-signature:{DOC_TRAILER_SIGNATURES[3]}\r\n\r\n".encode()
)
DOC_DATA = b"a" * 66560

#: Small chunks of varied sizes, so every framing element is short enough
#: to split a body at every offset.
SMALL_CHUNKS = [b"hello ", b"aws-chunked", b"\r\n0\r\n", b"w"]
SMALL_DATA = b"".join(SMALL_CHUNKS)
SMALL_SEED = "0123456789abcdef" * 4


def signer(seed: str = SMALL_SEED) -> ChunkSigner:
    """A chunk signer over the AWS example's key, date and scope."""
    return ChunkSigner(DOC_KEY, DOC_AMZ_DATE, DOC_SCOPE, seed)


def sign_chunks(
    chunks: Iterable[bytes], trailers: Iterable[tuple[str, str]] | None = None
) -> tuple[bytes, list[str]]:
    """``chunks`` signed by the independent encoder from SMALL_SEED: body and signatures."""
    return signed_chunked_body(
        chunks,
        signing_key=DOC_KEY,
        amz_date=DOC_AMZ_DATE,
        scope=DOC_SCOPE,
        seed_signature=SMALL_SEED,
        trailers=trailers,
    )


def small_signed_body(trailers: Iterable[tuple[str, str]] | None = None) -> bytes:
    """SMALL_CHUNKS framed and signed by the independent encoder."""
    return sign_chunks(SMALL_CHUNKS, trailers)[0]


def one_byte_at_a_time(body: bytes) -> Iterator[bytes]:
    """The body as single bytes."""
    return (body[i : i + 1] for i in range(len(body)))


def random_splits(body: bytes, seed: int, largest: int = 9000) -> list[bytes]:
    """The body cut at random points into pieces of 1 to ``largest`` bytes."""
    rng = random.Random(seed)
    pieces = []
    position = 0
    while position < len(body):
        size = rng.randint(1, largest)
        pieces.append(body[position : position + size])
        position += size
    return pieces


def every_two_piece_split(body: bytes) -> Iterator[list[bytes]]:
    """Every way of cutting the body in two."""
    for offset in range(len(body) + 1):
        yield [body[:offset], body[offset:]]


def doc_request(
    seed: str, content_sha256: str, extra: dict[str, str], signed: str
) -> SignedRequest:
    """The PUT of the AWS examples as nanio receives it."""
    headers = {
        "host": ["s3.amazonaws.com"],
        "x-amz-date": [DOC_AMZ_DATE],
        "x-amz-storage-class": ["REDUCED_REDUNDANCY"],
        "authorization": [
            f"AWS4-HMAC-SHA256 Credential={DOC_ACCESS_KEY}/{DOC_SCOPE},"
            f"SignedHeaders={signed},Signature={seed}"
        ],
        "x-amz-content-sha256": [content_sha256],
        "content-encoding": ["aws-chunked"],
        "x-amz-decoded-content-length": ["66560"],
        "content-length": ["66824"],
    }
    headers.update({name: [value] for name, value in extra.items()})
    return SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", headers)


def doc_authenticator() -> Authenticator:
    """An authenticator that knows the AWS example key and lives on the example's day."""
    return Authenticator(
        lambda key: DOC_SECRET if key == DOC_ACCESS_KEY else None, clock=lambda: DOC_EPOCH
    )


# -- the AWS worked examples -----------------------------------------------------


def test_chunk_signer_reproduces_the_aws_example_signatures() -> None:
    """ChunkSigner computes the three chunk signatures of the AWS example."""
    chain = signer(DOC_SEED)
    for data, expected in zip([b"a" * 65536, b"a" * 1024, b""], DOC_SIGNATURES, strict=True):
        digest = hashlib.sha256(data).hexdigest().encode()
        assert chain.chunk_signature(digest) == expected
        chain.verify_chunk(digest, expected)


def test_independent_encoder_reproduces_the_aws_examples() -> None:
    """The test encoder builds the AWS example bodies byte for byte, trailer included."""
    body, signatures = signed_chunked_body(
        [b"a" * 65536, b"a" * 1024],
        signing_key=DOC_KEY,
        amz_date=DOC_AMZ_DATE,
        scope=DOC_SCOPE,
        seed_signature=DOC_TRAILER_SEED,
        trailers=[("x-amz-checksum-crc32c", "sOO8/Q==")],
    )
    assert (body, signatures) == (DOC_TRAILER_BODY, DOC_TRAILER_SIGNATURES)


def test_aws_example_decodes_whole() -> None:
    """The AWS example body fed in one piece decodes to 66560 'a' bytes."""
    decoder = ChunkedDecoder(signer=signer(DOC_SEED), expect_trailer=False)
    assert decode_chunked(decoder, [DOC_BODY]) == DOC_DATA
    assert decoder.trailers == {}


def test_aws_example_decodes_one_byte_at_a_time() -> None:
    """The AWS example body fed one byte at a time decodes the same."""
    decoder = ChunkedDecoder(signer=signer(DOC_SEED), expect_trailer=False)
    assert decode_chunked(decoder, one_byte_at_a_time(DOC_BODY)) == DOC_DATA


@pytest.mark.parametrize("seed", range(5))
def test_aws_example_decodes_in_random_splits(seed: int) -> None:
    """The AWS example body cut at random points decodes the same."""
    decoder = ChunkedDecoder(signer=signer(DOC_SEED), expect_trailer=False)
    assert decode_chunked(decoder, random_splits(DOC_BODY, seed)) == DOC_DATA


def test_aws_trailer_example_decodes_one_byte_at_a_time() -> None:
    """The AWS signed-trailer example decodes byte by byte and yields its CRC32C trailer."""
    decoder = ChunkedDecoder(signer=signer(DOC_TRAILER_SEED), expect_trailer=True)
    assert decode_chunked(decoder, one_byte_at_a_time(DOC_TRAILER_BODY)) == DOC_DATA
    assert decoder.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_aws_example_request_authenticates_and_decodes() -> None:
    """The AWS example request authenticates, and its AuthResult verifies its chunks."""
    request = doc_request(
        DOC_SEED,
        sigv4.STREAMING_SIGNED_PAYLOAD,
        {},
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class",
    )
    decoder = decoder_for(doc_authenticator().authenticate(request))
    assert decoder is not None
    assert decode_chunked(decoder, random_splits(DOC_BODY, 7)) == DOC_DATA


def test_aws_trailer_example_request_verifies_end_to_end() -> None:
    """The AWS signed-trailer request authenticates, decodes and passes its CRC32C check."""
    request = doc_request(
        DOC_TRAILER_SEED,
        sigv4.STREAMING_SIGNED_PAYLOAD_TRAILER,
        {"x-amz-trailer": "x-amz-checksum-crc32c"},
        "content-encoding;host;x-amz-content-sha256;x-amz-date;"
        "x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
    )
    decoder = decoder_for(doc_authenticator().authenticate(request))
    wanted = checksums.requested_checksums(request.headers)
    checksum = wanted.new_checksum()
    assert decoder is not None and checksum is not None
    for piece in random_splits(DOC_TRAILER_BODY, 3):
        for decoded in decoder.feed(piece):
            checksum.update(decoded)
    decoder.finish()
    assert wanted.verify(checksum, decoder.trailers) == {"crc32c": "sOO8/Q=="}


def test_aws_example_with_the_wrong_seed_fails_its_first_chunk() -> None:
    """Chained from another seed, the AWS example's first chunk signature is refused."""
    decoder = ChunkedDecoder(signer=signer(DOC_TRAILER_SEED), expect_trailer=False)
    with pytest.raises(SignatureDoesNotMatch):
        decoder.feed(DOC_BODY)


# -- botocore's encoder (STREAMING-UNSIGNED-PAYLOAD-TRAILER) -----------------------


def test_botocore_body_decodes_at_every_split() -> None:
    """botocore's CRC32-trailer body, cut in two at every offset, decodes to its data."""
    data = b"The quick brown fox jumps over the lazy dog"
    body = botocore_chunked_body(data, "crc32", chunk_size=5)
    for pieces in every_two_piece_split(body):
        decoder = ChunkedDecoder(signer=None, expect_trailer=True)
        assert decode_chunked(decoder, pieces) == data
        # 0x414fa339, the well-known CRC32 of that sentence.
        assert decoder.trailers == {"x-amz-checksum-crc32": "QU+jOQ=="}


def test_botocore_body_decodes_one_byte_at_a_time() -> None:
    """botocore's body of 1 MiB chunks, fed byte by byte, decodes to its data."""
    data = random.Random(1).randbytes(40000)
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    body = botocore_chunked_body(data, "crc32", chunk_size=16384)
    assert decode_chunked(decoder, one_byte_at_a_time(body)) == data


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_botocore_trailer_checksum_verifies(algorithm: str) -> None:
    """A botocore body with each algorithm's trailer decodes and passes its checksum check."""
    data = random.Random(algorithm).randbytes(300000)
    body = botocore_chunked_body(data, algorithm, chunk_size=65536)
    wanted = checksums.requested_checksums({"x-amz-trailer": [f"x-amz-checksum-{algorithm}"]})
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    checksum = wanted.new_checksum()
    assert checksum is not None
    for piece in random_splits(body, 11, largest=70000):
        for decoded in decoder.feed(piece):
            checksum.update(decoded)
    decoder.finish()
    assert wanted.verify(checksum, decoder.trailers) == {
        algorithm: decoder.trailers[f"x-amz-checksum-{algorithm}"]
    }


def test_botocore_body_without_checksum_decodes() -> None:
    """botocore's body with no checksum trailer ends at "0\\r\\n\\r\\n" and decodes."""
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    assert decode_chunked(decoder, [botocore_chunked_body(b"abc", None)]) == b"abc"
    assert decoder.trailers == {}


def test_botocore_empty_body_decodes_to_nothing() -> None:
    """botocore's encoding of an empty object decodes to no bytes and its trailer."""
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    assert decode_chunked(decoder, [botocore_chunked_body(b"", "crc32")]) == b""
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}


# -- the independent signed encoder ---------------------------------------------------


def test_signed_body_decodes_at_every_split() -> None:
    """A signed body of small chunks, cut in two at every offset, decodes to its data."""
    body = small_signed_body()
    for pieces in every_two_piece_split(body):
        decoder = ChunkedDecoder(signer=signer(), expect_trailer=False)
        assert decode_chunked(decoder, pieces) == SMALL_DATA


def test_signed_trailer_body_decodes_at_every_split() -> None:
    """A signed body with signed trailers, cut at every offset, decodes with its trailers."""
    body = small_signed_body([("x-amz-checksum-sha1", "qvTGHdzF6KLavt4PO0gs2a6pQ00=")])
    for pieces in every_two_piece_split(body):
        decoder = ChunkedDecoder(signer=signer(), expect_trailer=True)
        assert decode_chunked(decoder, pieces) == SMALL_DATA
        assert decoder.trailers == {"x-amz-checksum-sha1": "qvTGHdzF6KLavt4PO0gs2a6pQ00="}


def test_signed_trailer_body_decodes_one_byte_at_a_time() -> None:
    """A signed body with signed trailers decodes when fed byte by byte."""
    body = small_signed_body([("x-amz-checksum-crc32", "AAAAAA==")])
    decoder = ChunkedDecoder(signer=signer(), expect_trailer=True)
    assert decode_chunked(decoder, one_byte_at_a_time(body)) == SMALL_DATA


@pytest.mark.parametrize("seed", range(3))
def test_signed_body_of_many_chunks_decodes_in_random_splits(seed: int) -> None:
    """A signed body of many chunks of random sizes, cut at random, decodes to its data."""
    rng = random.Random(seed)
    chunks = [rng.randbytes(rng.randint(1, 20000)) for _ in range(30)]
    body, _ = sign_chunks(chunks, [("x-amz-checksum-crc64nvme", "AAAAAAAAAAA=")])
    decoder = ChunkedDecoder(signer=signer(), expect_trailer=True)
    assert decode_chunked(decoder, random_splits(body, seed)) == b"".join(chunks)


def test_signed_chunks_under_8_kib_are_accepted() -> None:
    """Non-final signed chunks smaller than 8 KiB are not refused (S3 would)."""
    decoder = ChunkedDecoder(signer=signer(), expect_trailer=False)
    assert decode_chunked(decoder, [small_signed_body()]) == SMALL_DATA


def test_signed_trailer_body_without_trailers_decodes() -> None:
    """A signed-trailer body whose trailer section holds only its signature decodes."""
    decoder = ChunkedDecoder(signer=signer(), expect_trailer=True)
    assert decode_chunked(decoder, [small_signed_body([])]) == SMALL_DATA
    assert decoder.trailers == {}


def test_unsigned_chunk_extensions_are_ignored() -> None:
    """An unsigned chunk's HTTP/1.1 extension does not disturb decoding."""
    body = b"3;name=value\r\nabc\r\n0\r\n\r\n"
    assert decode_chunked(ChunkedDecoder(signer=None, expect_trailer=True), [body]) == b"abc"


def test_decoded_length_counts_object_bytes() -> None:
    """decoded_length is the number of object bytes, framing excluded."""
    decoder = ChunkedDecoder(signer=signer(), expect_trailer=False)
    decode_chunked(decoder, [small_signed_body()])
    assert decoder.decoded_length == len(SMALL_DATA)


def test_data_inside_a_chunk_is_passed_on_without_a_copy() -> None:
    """A piece that lies wholly inside a chunk's data comes back as the same object."""
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    decoder.feed(b"100000\r\n")
    piece = bytes(65536)
    assert decoder.feed(piece)[0] is piece


# -- tampering -----------------------------------------------------------------------


def refused(body: bytes, *, expect_trailer: bool, signed: bool = True, pieces: int = 1) -> S3Error:
    """Decode ``body`` (cut in ``pieces``) and return the S3Error it raises."""
    decoder = ChunkedDecoder(signer=signer() if signed else None, expect_trailer=expect_trailer)
    size = -(-len(body) // pieces)
    with pytest.raises(S3Error) as caught:
        decode_chunked(decoder, [body[i : i + size] for i in range(0, len(body), size)])
    return caught.value


def test_each_tampered_data_byte_is_refused() -> None:
    """Changing any one byte of any signed chunk's data fails its signature."""
    body = small_signed_body()
    for chunk in SMALL_CHUNKS:
        start = body.index(b"\r\n", body.index(b"%x;chunk-signature=" % len(chunk))) + 2
        for offset in range(len(chunk)):
            tampered = bytearray(body)
            tampered[start + offset] ^= 0x20
            assert isinstance(refused(bytes(tampered), expect_trailer=False), SignatureDoesNotMatch)


@pytest.mark.parametrize("index", range(len(SMALL_CHUNKS) + 1))
def test_a_tampered_chunk_signature_is_refused(index: int) -> None:
    """Changing one hex digit of any chunk signature, the final one included, is refused."""
    _, signatures = sign_chunks(SMALL_CHUNKS)
    original = signatures[index]
    forged = ("1" if original[0] != "1" else "2") + original[1:]
    body = small_signed_body().replace(original.encode(), forged.encode())
    error = refused(body, expect_trailer=False)
    assert isinstance(error, SignatureDoesNotMatch)
    assert forged not in error.message


def test_swapped_chunks_are_refused() -> None:
    """Two correctly signed chunks sent in the wrong order break the chain."""
    body, _ = sign_chunks([b"first chunk", b"second chunk"])
    first_end = body.index(b"\r\n", body.index(b"first chunk")) + 2
    second_end = body.index(b"\r\n", body.index(b"second chunk")) + 2
    swapped = body[first_end:second_end] + body[:first_end] + body[second_end:]
    assert isinstance(refused(swapped, expect_trailer=False), SignatureDoesNotMatch)


def _flip_first_digit_of_trailer_signature(body: bytes) -> bytes:
    """``body`` with the first hex digit of its x-amz-trailer-signature changed."""
    marker = b"x-amz-trailer-signature:"
    at = body.index(marker) + len(marker)
    return body[:at] + (b"0" if body[at : at + 1] != b"0" else b"1") + body[at + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda body: body.replace(b"AAAAAA==", b"AAAAAB=="), id="changed-value"),
        pytest.param(_flip_first_digit_of_trailer_signature, id="changed-signature"),
        # A trailer slipped in beside the signed ones.
        pytest.param(
            lambda body: body.replace(
                b"x-amz-checksum-crc32:", b"x-amz-meta-a:b\r\nx-amz-checksum-crc32:"
            ),
            id="added-trailer",
        ),
        # Trailers in a signed stream that lack x-amz-trailer-signature.
        pytest.param(
            lambda body: body[: body.index(b"x-amz-trailer-signature:")] + b"\r\n",
            id="signature-left-out",
        ),
    ],
)
def test_a_tampered_signed_trailer_section_is_refused(tamper: Callable[[bytes], bytes]) -> None:
    """Changing, adding to or unsigning a signed trailer section fails the trailer signature."""
    body = small_signed_body([("x-amz-checksum-crc32", "AAAAAA==")])
    tampered = tamper(body)
    assert tampered != body
    assert isinstance(refused(tampered, expect_trailer=True), SignatureDoesNotMatch)


@pytest.mark.parametrize("signed", [True, False])
def test_truncation_anywhere_is_an_incomplete_body(signed: bool) -> None:
    """A body cut short at any offset is refused as IncompleteBody at finish."""
    trailers = [("x-amz-checksum-crc32", "AAAAAA==")]
    body = small_signed_body(trailers) if signed else unsigned_chunked_body(SMALL_CHUNKS, trailers)
    for length in range(len(body)):
        decoder = ChunkedDecoder(signer=signer() if signed else None, expect_trailer=True)
        decoder.feed(body[:length])
        with pytest.raises(IncompleteBody):
            decoder.finish()


# -- framing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"x\r\nabc\r\n0\r\n\r\n",  # size not hex
        b"-3\r\nabc\r\n0\r\n\r\n",  # a sign before the size
        b"\r\nabc\r\n0\r\n\r\n",  # no size
        b"3\r\nabcd\r\n0\r\n\r\n",  # data longer than declared
        b"3\r\nabc0\r\n\r\n",  # no CRLF after the data
        b"3\r\nabcXY0\r\n\r\n",  # two other bytes where the CRLF belongs
        b"3\nabc\r\n0\r\n\r\n",  # bare LF ending a size line
        b"3\r\nabc\r\n0\r\n\n",  # bare LF ending the body
        b"0\r\nx-amz-checksum-crc32:AAAAAA==\n\r\n",  # bare LF ending a trailer
        b"3\r\nabc\r\n0\r\n\r\nmore",  # bytes after the end
        b"3\r\nabc\r\n0\r\n\r\n\r\n",  # an extra empty line after the end
        b"11111111111111111\r\n",  # more hex digits than any size needs
    ],
)
def test_broken_framing_is_an_incomplete_body(body: bytes) -> None:
    """Each kind of broken unsigned framing is refused with IncompleteBody."""
    error = refused(body, expect_trailer=True, signed=False)
    assert isinstance(error, IncompleteBody)
    assert error.message == "The request body terminated unexpectedly"


def test_broken_framing_is_refused_when_fed_byte_by_byte() -> None:
    """Data longer than declared is refused however the body is split."""
    body = b"3\r\nabcd\r\n0\r\n\r\n"
    assert isinstance(
        refused(body, expect_trailer=True, signed=False, pieces=len(body)), IncompleteBody
    )


def test_a_signed_chunk_without_its_signature_is_an_incomplete_body() -> None:
    """In a signed stream, a size line without chunk-signature is malformed."""
    assert isinstance(refused(b"3\r\nabc\r\n0\r\n\r\n", expect_trailer=False), IncompleteBody)


def test_an_overlong_size_line_is_refused_before_it_is_buffered() -> None:
    """A size line over LINE_LIMIT_BYTES is refused as soon as it passes the limit."""
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    decoder.feed(b"0" * LINE_LIMIT_BYTES)
    with pytest.raises(IncompleteBody):
        decoder.feed(b"0")


def test_an_overlong_trailer_section_is_malformed() -> None:
    """Trailers adding up to more than TRAILER_LIMIT_BYTES are refused."""
    trailers = [(f"x-amz-meta-{i}", "v" * 100) for i in range(TRAILER_LIMIT_BYTES // 100)]
    body = unsigned_chunked_body([b"abc"], trailers)
    assert isinstance(refused(body, expect_trailer=True, signed=False), MalformedTrailerError)


@pytest.mark.parametrize(
    "trailer",
    [
        b"x-amz-checksum-crc32AAAAAA==\r\n",  # no colon
        b":AAAAAA==\r\n",  # no name
        b"x amz:AAAAAA==\r\n",  # a blank in the name
        b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n",  # repeated
    ],
)
def test_a_malformed_trailer_is_refused(trailer: bytes) -> None:
    """A trailer line that is not one unique name:value is MalformedTrailerError."""
    body = b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n"
    assert isinstance(refused(body, expect_trailer=True, signed=False), MalformedTrailerError)


def test_a_trailer_where_none_is_expected_is_refused() -> None:
    """A trailer in a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body is MalformedTrailerError."""
    body = small_signed_body()[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert isinstance(refused(body, expect_trailer=False), MalformedTrailerError)


def test_a_trailer_after_the_trailer_signature_is_refused() -> None:
    """Nothing may follow x-amz-trailer-signature in the trailer section."""
    body = small_signed_body([("x-amz-checksum-crc32", "AAAAAA==")])
    body = body[:-2] + b"x-amz-meta-late:value\r\n\r\n"
    assert isinstance(refused(body, expect_trailer=True), MalformedTrailerError)


def test_trailer_names_are_lower_cased_and_values_trimmed() -> None:
    """Trailer names come back lower-case and values without surrounding blanks."""
    body = b"0\r\nX-Amz-Checksum-CRC32:  AAAAAA== \r\n\r\n"
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    decode_chunked(decoder, [body])
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}


def test_a_chunk_over_the_limit_is_too_large() -> None:
    """A chunk declared larger than max_chunk_bytes is refused with EntityTooLarge."""
    decoder = ChunkedDecoder(signer=None, expect_trailer=True, max_chunk_bytes=1024)
    with pytest.raises(EntityTooLarge):
        decoder.feed(b"401\r\n")


def test_the_first_error_is_raised_again() -> None:
    """Once a decoder has refused the body, later calls raise the same error."""
    decoder = ChunkedDecoder(signer=None, expect_trailer=True)
    with pytest.raises(IncompleteBody) as first:
        decoder.feed(b"zz\r\n")
    with pytest.raises(IncompleteBody) as again:
        decoder.feed(b"0\r\n\r\n")
    with pytest.raises(IncompleteBody) as at_finish:
        decoder.finish()
    assert first.value is again.value is at_finish.value


# -- choosing the decoder -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_sha256", "signed", "expect_trailer"),
    [
        (sigv4.STREAMING_SIGNED_PAYLOAD, True, False),
        (sigv4.STREAMING_SIGNED_PAYLOAD_TRAILER, True, True),
        (sigv4.STREAMING_UNSIGNED_PAYLOAD_TRAILER, False, True),
    ],
)
def test_decoder_for_follows_the_payload_type(
    content_sha256: str, signed: bool, expect_trailer: bool
) -> None:
    """decoder_for picks signed chunks and trailers from x-amz-content-sha256."""
    auth = AuthResult("AKID", 4, content_sha256, DOC_KEY, DOC_SCOPE, DOC_AMZ_DATE, SMALL_SEED)
    trailers = [("x-amz-checksum-crc32", "AAAAAA==")] if expect_trailer else None
    if signed:
        body = small_signed_body(trailers)
    else:
        body = unsigned_chunked_body(SMALL_CHUNKS, trailers or ())
    decoder = decoder_for(auth)
    assert decoder is not None
    assert decode_chunked(decoder, [body]) == SMALL_DATA
    assert bool(decoder.trailers) is expect_trailer


@pytest.mark.parametrize("content_sha256", [sigv4.UNSIGNED_PAYLOAD, sigv4.EMPTY_SHA256])
def test_decoder_for_a_plain_body_is_none(content_sha256: str) -> None:
    """A request whose body is not aws-chunked gets no decoder."""
    assert decoder_for(AuthResult("AKID", 4, content_sha256)) is None


def test_chunk_signer_needs_a_sigv4_request() -> None:
    """ChunkSigner.for_auth refuses an AuthResult without a signing key."""
    with pytest.raises(ValueError, match="SigV4"):
        ChunkSigner.for_auth(AuthResult("AKID", 2, sigv4.STREAMING_SIGNED_PAYLOAD))


def test_a_refused_chunk_names_the_access_key() -> None:
    """A chunk signature failure carries the access key, as S3's error body does."""
    auth = AuthResult(
        "AKID", 4, sigv4.STREAMING_SIGNED_PAYLOAD, DOC_KEY, DOC_SCOPE, DOC_AMZ_DATE, DOC_SEED
    )
    decoder = decoder_for(auth)
    assert decoder is not None
    with pytest.raises(SignatureDoesNotMatch) as caught:
        decoder.feed(DOC_BODY.replace(b"a" * 10, b"b" * 10, 1))
    assert caught.value.fields == {"AWSAccessKeyId": "AKID"}
