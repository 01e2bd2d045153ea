"""
Property-based tests of the XML request readers (DeleteObjects,
CompleteMultipartUpload, CreateBucket): documents botocore's own serializer
writes, and documents written here by hand, read back to exactly what they
hold; arbitrary bytes and near-XML are refused with MalformedXML (or the
InvalidArgument a part number out of range documents) and nothing else;
every DTD, entity expansion and external entity is refused.  Also the two
writers every response depends on: escape() always yields well-formed XML,
and url_encode() always decodes back to the name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanio.errors import InvalidArgument, S3Error
from nanio.s3 import xml
from tests.support.botocore_xml import serialize

EXAMPLES = 80

# Characters XML 1.0 can carry (C0 controls but tab, LF and CR, surrogates,
# U+FFFE and U+FFFF cannot): S3 keys a client can list in a Delete body.
_XML_CHARACTERS = st.characters(codec="utf-8").filter(
    lambda c: c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff")
)
xml_text = st.text(_XML_CHARACTERS, max_size=30)
etags = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40).map(
    lambda tag: tag.strip('"')
)
part_numbers = st.integers(1, xml.MULTIPART_MAX_PARTS)

READERS: dict[str, Callable[[bytes], Any]] = {
    "Delete": xml.parse_delete,
    "CompleteMultipartUpload": xml.parse_complete_multipart,
    "CreateBucketConfiguration": xml.parse_create_bucket,
    "Tagging": xml.parse_tagging,
}


def _text(value: str) -> str:
    """Escape element content by hand: markup characters, and CR as a reference."""
    # A literal CR would reach the reader as LF (XML end-of-line handling).
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _refused_cleanly(body: bytes) -> dict[str, str]:
    """Run every reader on ``body``; the code of each S3 error, or "ok" (other errors escape)."""
    outcomes = {}
    for name, reader in READERS.items():
        try:
            reader(body)
        except S3Error as error:
            outcomes[name] = error.code
        else:
            outcomes[name] = "ok"
    return outcomes


# -- valid documents round-trip ---------------------------------------------------


@settings(max_examples=EXAMPLES)
@given(
    keys=st.lists(xml_text.map(lambda k: k.replace("\r", "")), min_size=1, max_size=8),
    quiet=st.booleans(),
)
def test_botocore_delete_body_reads_back_its_keys(keys: list[str], quiet: bool) -> None:
    """A DeleteObjects body botocore writes gives back its keys, in order, and its Quiet flag."""
    body = serialize(
        "DeleteObjects",
        {"Bucket": "b", "Delete": {"Objects": [{"Key": k} for k in keys], "Quiet": quiet}},
        validate=False,
    )
    assert xml.parse_delete(body) == (keys, quiet)


@settings(max_examples=EXAMPLES)
@given(
    tags=st.lists(
        st.tuples(*(xml_text.map(lambda t: t.replace("\r", "")),) * 2), min_size=0, max_size=8
    )
)
def test_botocore_tagging_body_reads_back_its_tags(tags: list[tuple[str, str]]) -> None:
    """A PutObjectTagging body botocore writes gives back its tags, in order."""
    body = serialize(
        "PutObjectTagging",
        {
            "Bucket": "b",
            "Key": "k",
            "Tagging": {"TagSet": [{"Key": k, "Value": v} for k, v in tags]},
        },
        validate=False,
    )
    assert xml.parse_tagging(body) == tags


@settings(max_examples=EXAMPLES)
@given(parts=st.lists(st.tuples(part_numbers, etags), min_size=1, max_size=8))
def test_botocore_complete_body_reads_back_its_parts(parts: list[tuple[int, str]]) -> None:
    """A CompleteMultipartUpload body botocore writes gives back its parts with bare ETags."""
    body = serialize(
        "CompleteMultipartUpload",
        {
            "Bucket": "b",
            "Key": "k",
            "UploadId": "u",
            "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": f'"{e}"'} for n, e in parts]},
        },
        validate=False,
    )
    assert xml.parse_complete_multipart(body) == parts


@settings(max_examples=EXAMPLES)
@given(
    region=st.builds(
        "{}-{}-{}".format,
        st.sampled_from(["us", "eu", "ap", "xx"]),
        st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9),
        st.integers(1, 9),
    )
)
def test_botocore_create_bucket_body_reads_back_its_region(region: str) -> None:
    """A CreateBucket body botocore writes gives back its LocationConstraint."""
    body = serialize(
        "CreateBucket",
        {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": region}},
        validate=False,
    )
    assert xml.parse_create_bucket(body) == region


@st.composite
def hand_written_delete(draw: st.DrawFn) -> tuple[bytes, list[str], bool]:
    """A Delete body as a person writes one: any namespace, blanks, declaration, encoding."""
    keys = draw(st.lists(xml_text, min_size=1, max_size=6))
    quiet = draw(st.sampled_from(["true", "false", " TRUE ", "True", "no", ""]))
    namespace = draw(st.sampled_from(["", f' xmlns="{xml.S3_NAMESPACE}"', ' xmlns="urn:other"']))
    blank = draw(st.sampled_from(["", "\n", "\n  "]))
    objects = "".join(f"{blank}<Object><Key>{_text(k)}</Key></Object>" for k in keys)
    quiet_element = f"{blank}<Quiet>{quiet}</Quiet>" if draw(st.booleans()) else ""
    document = f"<Delete{namespace}>{objects}{quiet_element}{blank}</Delete>"
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "iso-8859-1"]))
    declaration = draw(st.booleans()) or encoding != "utf-8"
    head = f'<?xml version="1.0" encoding="{encoding}"?>{blank}' if declaration else ""
    try:
        body = (head + document).encode(encoding)
    except UnicodeEncodeError:
        body = document.encode("utf-8")
    return body, keys, bool(quiet_element) and quiet.strip().lower() == "true"


@settings(max_examples=EXAMPLES)
@given(document=hand_written_delete())
def test_hand_written_delete_body_reads_back_its_keys(
    document: tuple[bytes, list[str], bool],
) -> None:
    """A hand-written Delete body, in any encoding and namespace, reads back exactly."""
    body, keys, quiet = document
    assert xml.parse_delete(body) == (keys, quiet)


@settings(max_examples=EXAMPLES)
@given(
    parts=st.lists(st.tuples(part_numbers, etags), min_size=1, max_size=6),
    quoted=st.booleans(),
    zeros=st.integers(0, 5000),
)
def test_hand_written_complete_body_reads_back_its_parts(
    parts: list[tuple[int, str]], quoted: bool, zeros: int
) -> None:
    """Part numbers with any leading zeros and ETags quoted or not read back exactly."""
    quote = '"' if quoted else ""
    rendered = "".join(
        f"<Part><ETag> {quote}{_text(e)}{quote} </ETag>"
        f"<PartNumber> {'0' * zeros}{n} </PartNumber></Part>"
        for n, e in parts
    )
    body = f"<CompleteMultipartUpload>{rendered}</CompleteMultipartUpload>".encode()
    assert xml.parse_complete_multipart(body) == parts


# -- anything else is refused cleanly ------------------------------------------------

_TAGS = st.sampled_from(
    [
        "Delete",
        "Object",
        "Key",
        "Quiet",
        "CompleteMultipartUpload",
        "Part",
        "PartNumber",
        "ETag",
        "CreateBucketConfiguration",
        "LocationConstraint",
        "x:Key",
        "Other",
    ]
)
_CONTENT = st.one_of(
    xml_text.map(_text),
    st.sampled_from(
        [
            "1",
            "0",
            "10001",
            "-1",
            "\u0661",
            "\u00b2",
            "9" * 5000,
            "&amp;",
            "&#0;",
            "&#x1;",
            "&bogus;",
        ]
    ),
    st.sampled_from(["<!-- c -->", "<?pi x?>", "<![CDATA[<Key>]]>", "<", "&", "]]>"]),
)


def near_xml() -> st.SearchStrategy[str]:
    """Element trees of the readers' own tags with odd content, well-formed or not."""
    return st.recursive(
        _CONTENT,
        lambda children: st.tuples(_TAGS, st.lists(children, max_size=4), st.booleans()).map(
            lambda node: (
                f"<{node[0]}>{''.join(node[1])}</{node[0]}>"
                if node[2]
                else f"<{node[0]}>{''.join(node[1])}"
            )
        ),
        max_leaves=12,
    )


@settings(max_examples=EXAMPLES)
@given(body=near_xml().map(str.encode))
def test_near_xml_is_read_or_refused_with_documented_errors(body: bytes) -> None:
    """Trees of the readers' tags with odd content are read, MalformedXML or InvalidArgument."""
    outcomes = _refused_cleanly(body)
    assert set(outcomes.values()) <= {"ok", "MalformedXML", "InvalidArgument"}


@settings(max_examples=EXAMPLES)
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_are_malformed_xml(body: bytes) -> None:
    """Arbitrary bytes are MalformedXML to every reader (an empty CreateBucket body is none)."""
    outcomes = _refused_cleanly(body)
    if not body.strip():
        outcomes.pop("CreateBucketConfiguration")
    assert set(outcomes.values()) == {"MalformedXML"}


@settings(max_examples=EXAMPLES)
@given(
    root=st.sampled_from(sorted(READERS)),
    encoding=st.sampled_from(["utf-7", "ebcdic", "x-unknown", "utf-32", "UTF-16LE", ""]),
    content=xml_text,
)
def test_declared_encodings_are_read_or_malformed(root: str, encoding: str, content: str) -> None:
    """A declaration naming any encoding, known or not, yields MalformedXML, never a crash."""
    body = f'<?xml version="1.0" encoding="{encoding}"?><{root}>{_text(content)}</{root}>'.encode()
    outcomes = _refused_cleanly(body)
    assert set(outcomes.values()) <= {"ok", "MalformedXML"}


# -- DTDs and entities are refused -------------------------------------------------


@st.composite
def hostile_documents(draw: st.DrawFn) -> bytes:
    """A reader's document preceded by a DTD: entity bombs, external and parameter entities."""
    root = draw(st.sampled_from(sorted(READERS)))
    depth = draw(st.integers(1, 12))
    width = draw(st.integers(1, 10))
    declarations = ['<!ENTITY e0 "lol">']
    for level in range(1, depth):
        declarations.append(f'<!ENTITY e{level} "{f"&e{level - 1};" * width}">')
    external = draw(
        st.sampled_from(
            [
                "",
                '<!ENTITY ext SYSTEM "file:///etc/passwd">',
                '<!ENTITY ext PUBLIC "-//x//y" "http://127.0.0.1:1/evil.dtd">',
                '<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;',
                "<!ELEMENT Key ANY>",
            ]
        )
    )
    reference = draw(st.sampled_from([f"&e{depth - 1};", "&ext;", "plain"]))
    subset = draw(st.sampled_from(["inline", "system", "empty"]))
    doctype = {
        "inline": f"<!DOCTYPE {root} [{''.join(declarations)}{external}]>",
        "system": f'<!DOCTYPE {root} SYSTEM "file:///etc/passwd">',
        "empty": f"<!DOCTYPE {root}>",
    }[subset]
    inner = {
        "Delete": f"<Object><Key>{reference}</Key></Object>",
        "CompleteMultipartUpload": (
            f"<Part><PartNumber>1</PartNumber><ETag>{reference}</ETag></Part>"
        ),
        "CreateBucketConfiguration": f"<LocationConstraint>{reference}</LocationConstraint>",
        "Tagging": f"<TagSet><Tag><Key>{reference}</Key><Value>v</Value></Tag></TagSet>",
    }[root]
    return f'<?xml version="1.0"?>{doctype}<{root}>{inner}</{root}>'.encode()


@settings(max_examples=EXAMPLES)
@given(body=hostile_documents())
def test_any_document_type_declaration_is_malformed_xml(body: bytes) -> None:
    """A body with any DTD, entity or external reference is MalformedXML to every reader."""
    assert set(_refused_cleanly(body).values()) == {"MalformedXML"}


# -- the writers --------------------------------------------------------------------


@settings(max_examples=EXAMPLES * 2)
@given(message=st.text(max_size=40), field=st.text(max_size=20))
def test_escaped_text_is_always_well_formed_and_reads_back(message: str, field: str) -> None:
    """Any text, surrogates and controls included, escapes to XML that reads back its legal part."""
    body = xml.error_body("Code", message, "/r", "ID", {"Field": field})
    root = ElementTree.fromstring(body)

    def legal(text: str) -> str:
        return "".join(
            c
            if c in "\t\n\r"
            or (c >= " " and not "\ud800" <= c <= "\udfff" and c not in "\ufffe\uffff")
            else "\ufffd"
            for c in text
        )

    assert (root.findtext("Message"), root.findtext("Field")) == (legal(message), legal(field))


@settings(max_examples=EXAMPLES * 2)
@given(name=st.text(max_size=40))
def test_url_encoded_names_decode_to_the_name(name: str) -> None:
    """Any name, undecodable bytes (as surrogates) included, url-encodes reversibly to ASCII."""
    encoded = xml.url_encode(name)
    assert encoded.isascii() and unquote(encoded, errors="surrogateescape") == name


# -- regressions found by the properties above ----------------------------------


@pytest.mark.parametrize("digits", ["9" * 5000, "1" + "0" * 4400])
def test_part_number_longer_than_int_converts_is_out_of_range(digits: str) -> None:
    """A PartNumber of thousands of digits is InvalidArgument, not a crash in int()."""
    body = (
        f"<CompleteMultipartUpload><Part><PartNumber>{digits}</PartNumber>"
        "<ETag>x</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    with pytest.raises(InvalidArgument):
        xml.parse_complete_multipart(body)


def test_part_number_with_thousands_of_leading_zeros_is_its_value() -> None:
    """A PartNumber padded with thousands of zeros reads as its value."""
    body = (
        f"<CompleteMultipartUpload><Part><PartNumber>{'0' * 5000}7</PartNumber>"
        "<ETag>x</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    assert xml.parse_complete_multipart(body) == [(7, "x")]
