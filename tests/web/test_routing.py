"""
RouteMatcher against werkzeug: the compiled view never answers differently.

Every path of a hand-made list and of a seeded random corpus (slashes, dots,
newlines, spaces, non-ASCII, empty segments, trailing slashes) is matched
both ways, with every method S3 clients send and two they do not: the
endpoint and arguments, or the exception, must be the same.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from nanio.web.resource import S3Resource
from nanio.web.routing import RouteMatcher

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]

HAND_MADE = [
    "",
    "/",
    "//",
    "///",
    "/bkt",
    "/bkt/",
    "/bkt//",
    "/bkt/key",
    "/bkt/key/",
    "/bkt//key",
    "/bkt/a/b/c",
    "/bkt/a//b",
    "/bkt/.",
    "/bkt/..",
    "/bkt/./x",
    "/bkt/a\nb",
    "/bkt/\n",
    "/bkt\n",
    "/\n",
    "/bkt/ key ",
    "/bkt/ключ/😀",
    "/bkt/%2F",
    "bkt",
    "bkt/key",
    "/.nanio/x",
]

_ALPHABET = ["/", "/", "a", "b", ".", "\n", " ", "é", "%", "~", "-"]


def _random_paths(count: int) -> list[str]:
    rng = random.Random(20261126)
    paths = []
    for _ in range(count):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 9)))
        paths.append(text if rng.random() < 0.1 else "/" + text)
    return paths


def _outcome(match: Any, path: str, method: str) -> tuple[str, Any]:
    try:
        endpoint, arguments = match(path, method)
    except HTTPException as e:
        return "raised", type(e)
    return endpoint, dict(arguments)


@pytest.fixture(scope="module")
def matcher() -> RouteMatcher:
    return RouteMatcher(S3Resource.app.url_map)


def test_every_rule_of_nanios_map_is_compiled(matcher: RouteMatcher) -> None:
    """The view covers the whole map (else it would leave everything to werkzeug)."""
    assert len(matcher._rules) == len(list(S3Resource.app.url_map.iter_rules())) == 3


def _differences(matcher: RouteMatcher, paths: list[str]) -> list[tuple[str, str]]:
    werkzeug = S3Resource.app.url_map.bind("nanio", "/")
    return [
        (path, method)
        for path in paths
        for method in METHODS
        if _outcome(matcher.match, path, method) != _outcome(werkzeug.match, path, method)
    ]


@pytest.mark.parametrize("path", HAND_MADE)
def test_view_answers_as_werkzeug_does(matcher: RouteMatcher, path: str) -> None:
    """Same endpoint and arguments, or the same exception, for every method."""
    assert _differences(matcher, [path]) == []


def test_view_answers_as_werkzeug_does_for_random_paths(matcher: RouteMatcher) -> None:
    """The same for 5,000 random paths (seeded)."""
    assert _differences(matcher, _random_paths(5000)) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ("service", {})),
        ("/bkt", ("bucket", {"bucket": "bkt"})),
        ("/bkt/k", ("object", {"bucket": "bkt", "key": "k"})),
        ("/bkt/a/b//c", ("object", {"bucket": "bkt", "key": "a/b//c"})),
    ],
)
def test_common_paths_never_reach_werkzeug(
    matcher: RouteMatcher, monkeypatch: pytest.MonkeyPatch, path: str, expected: Any
) -> None:
    """A service, bucket or object path is answered by the compiled view alone."""

    def refuse(*args: object) -> None:
        raise AssertionError("werkzeug was asked")

    monkeypatch.setattr(matcher._adapter, "match", refuse)
    assert _outcome(matcher.match, path, "GET") == expected


def test_map_with_a_rule_the_view_cannot_express_is_left_to_werkzeug() -> None:
    """A converter with arguments: no view at all, and werkzeug still answers."""
    url_map = Map(
        [
            Rule("/<string(length=2):code>", endpoint="code", methods=["GET"]),
            Rule("/<name>", endpoint="name", methods=["GET"]),
        ]
    )
    matcher = RouteMatcher(url_map)
    assert matcher._rules == []
    assert _outcome(matcher.match, "/ab", "GET") == ("code", {"code": "ab"})
    assert _outcome(matcher.match, "/abc", "GET") == ("name", {"name": "abc"})


@pytest.mark.parametrize("static_first", [True, False])
def test_paths_two_rules_match_are_left_to_werkzeug(static_first: bool) -> None:
    """Where a static rule and a placeholder both match, werkzeug's priority decides."""
    rules = [Rule("/about", endpoint="about"), Rule("/<name>", endpoint="name")]
    matcher = RouteMatcher(Map(rules if static_first else rules[::-1]))
    assert len(matcher._rules) == 2
    assert _outcome(matcher.match, "/about", "GET") == ("about", {})
    assert _outcome(matcher.match, "/other", "GET") == ("name", {"name": "other"})
