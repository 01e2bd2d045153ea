"""
The canonical-form shortcuts of SigV4 stay linear on hostile input.

``canonical_uri`` and ``canonical_query`` first test whether the raw text is
already canonical with one regular expression.  Written with nested plain
quantifiers, that test backtracked exponentially on a long run of plain
characters followed by one that fails (a path like ``/aaaa...a%2F``): a
single request of about forty bytes held the reactor for hours.  Each case
here would hang the old pattern; it must finish well inside a generous
deadline (a thread is used so that a regression fails instead of hanging).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import quote, unquote_to_bytes

import pytest

from nanio.s3.sigv4 import canonical_query, canonical_uri

#: Far beyond what linear work needs, far below what the old pattern took.
DEADLINE_SECONDS = 30.0
RUN = 4000


def finishes(function: Callable[[str], str], text: str) -> str | None:
    """``function(text)`` if it returns before the deadline, else None."""
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(function(text)), daemon=True)
    worker.start()
    worker.join(DEADLINE_SECONDS)
    return results[0] if results else None


def reference_uri(path: str) -> str:
    """S3's canonical URI, computed independently: decoded once, encoded once, "/" kept."""
    return quote(unquote_to_bytes(path), safe="/")


@pytest.mark.parametrize(
    "path",
    [
        "/" + "a" * RUN + "%2F",
        "/" + "a/" * RUN + "%2f",
        "/bucket-" + "b" * RUN + "/a%2F..%2Fb",
        "/" + "a" * RUN + " ",
    ],
    ids=["escaped-slash", "lower-case-escape", "bucket-and-dots", "raw-space"],
)
def test_long_path_that_is_not_canonical_is_canonicalised(path: str) -> None:
    """A long plain run followed by a non-canonical character is encoded, promptly."""
    assert finishes(canonical_uri, path) == reference_uri(path)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("prefix=" + "p" * RUN + "+", "prefix=" + "p" * RUN + "%2B"),
        ("prefix=" + "p" * RUN + "%2f", "prefix=" + "p" * RUN + "%2F"),
    ],
    ids=["plus", "lower-case-escape"],
)
def test_long_query_that_is_not_canonical_is_canonicalised(query: str, expected: str) -> None:
    """A long plain query value followed by a non-canonical character is encoded, promptly."""
    assert finishes(canonical_query, query) == expected
