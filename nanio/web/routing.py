"""
Klein's route table, matched quickly where the answer is certain.

Klein's URL map (werkzeug's) is the one place nanio's routes are declared,
and werkzeug is the judge of every path.  Its matcher is a generic state
machine, though, and costs about a tenth of a small GET.  ``RouteMatcher``
first asks a compiled view of the same rules: each rule's path as one
regular expression, made from the rule's own text and the map's own
converters.  The view answers only where its answer is bound to be
werkzeug's:

- exactly one rule's expression matches the whole path (an overlap goes to
  werkzeug, whose rule priorities decide it);
- the rule allows the method, and its converters hand their text over as is.

Anything else, errors included (no match, a method not allowed), is
werkzeug's.  A map with a rule the view cannot express (converter
arguments, hosts, redirects, defaults) is left to werkzeug whole.
``tests/web/test_routing.py`` checks the view against werkzeug, path by path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from werkzeug.routing import BaseConverter, Map, Rule

#: A placeholder in a rule: ``<name>`` or ``<converter:name>``, no arguments.
_PLACEHOLDER = re.compile(r"<(?:(?P<converter>[A-Za-z_]\w*):)?(?P<name>[A-Za-z_]\w*)>")

#: (whole-path expression, endpoint, allowed methods or None for any)
_CompiledRule = tuple[re.Pattern[str], str, frozenset[str] | None]


class RouteMatcher:
    """Match a path and method to (endpoint, arguments) as Klein's map would."""

    def __init__(self, url_map: Map) -> None:
        # Bound once: binding per request costs as much as matching.
        self._adapter = url_map.bind("nanio", "/")
        compiled = [_compile(url_map, rule) for rule in url_map.iter_rules()]
        #: Empty when any rule cannot be compiled: the view must see every
        #: rule to know that only one matches.
        self._rules = [rule for rule in compiled if rule is not None]
        if len(self._rules) != len(compiled):
            self._rules = []

    def match(self, path: str, method: str) -> tuple[str, Mapping[str, str]]:
        """The endpoint and arguments; werkzeug's NotFound or MethodNotAllowed if none."""
        found: tuple[str, Mapping[str, str]] | None = None
        for expression, endpoint, methods in self._rules:
            matched = expression.fullmatch(path)
            if matched is None:
                continue
            if found is not None or (methods is not None and method not in methods):
                found = None  # an overlap, or a method to refuse: werkzeug's call
                break
            found = endpoint, matched.groupdict()
        if found is not None:
            return found
        endpoint, arguments = self._adapter.match(path, method)
        return endpoint, arguments


def _compile(url_map: Map, rule: Rule) -> _CompiledRule | None:
    """The rule as one whole-path expression, or None if it cannot be one."""
    if (
        rule.defaults
        or rule.redirect_to is not None
        or rule.host is not None
        or rule.subdomain
        or rule.websocket
        or rule.build_only
        or not isinstance(rule.endpoint, str)
    ):
        return None
    if "<" in _PLACEHOLDER.sub("", rule.rule):
        return None  # a placeholder this parser does not know (converter arguments)
    pattern = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(rule.rule):
        pattern.append(re.escape(rule.rule[position : placeholder.start()]))
        converter_class = url_map.converters.get(placeholder["converter"] or "default")
        if converter_class is None:
            return None
        converter = converter_class(url_map)
        # A converter that turns its text into something else is werkzeug's.
        if type(converter).to_python is not BaseConverter.to_python:
            return None
        pattern.append(f"(?P<{placeholder['name']}>{converter.regex})")
        position = placeholder.end()
    pattern.append(re.escape(rule.rule[position:]))
    methods = None if rule.methods is None else frozenset(rule.methods)
    return re.compile("".join(pattern)), rule.endpoint, methods


__all__ = ["RouteMatcher"]
