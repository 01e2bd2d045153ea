"""
Decimal numbers in client text: query values, headers, XML elements.

``int()`` is the wrong tool for them: it accepts "²", "١٢", " 7", "+7" and
"1_000", and refuses more than 4300 digits with a ValueError that would
become a 500.  ``decimal`` reads plain ASCII digits only, and gives up on a
number with more significant digits than the caller can ever need.

No Twisted imports here.
"""

from __future__ import annotations


def decimal(text: str, max_digits: int) -> int | None:
    """The value of ``text`` if it is ASCII digits with at most ``max_digits`` significant ones.

    None for anything else: empty, signs, spaces, non-ASCII digits, or a
    number too long to matter (leading zeros do not count).
    """
    if not (text.isascii() and text.isdigit()):
        return None
    significant = text.lstrip("0")
    if len(significant) > max_digits:
        return None
    return int(significant) if significant else 0


def digits_for(largest: int) -> int:
    """How many digits ``largest`` has: the ``max_digits`` that admits every value up to it."""
    return len(str(largest))
