"""JSON from untrusted text, parsed within limits: nesting depth, length of numbers, number of values.

Python's json parser recurses once per level of nesting (a RecursionError past about 1000 levels) and
turns integers of up to 4300 digits into ints that overflow float arithmetic; code that walks the
result (nbformat, copy.deepcopy, comparisons) recurses again, several frames a level. `loads` refuses
long numbers while json's C parser reads them, then measures nesting and counts values (commas plus
lists and objects, an upper bound) on the text, now known to be valid JSON, in linear time. Every
refusal is a `Refused` (a ValueError) whose message says which limit was passed.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate

STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"')  # a JSON string (linear: possessive, no backtracking)
NOT_BRACKET = re.compile(r"[^\[\]{}]+")
LEVEL = {"[": 1, "{": 1, "]": -1, "}": -1}


class Refused(ValueError):
    """JSON over one of `loads`'s limits."""


def loads(text: str, *, max_depth: int, max_digits: int, max_values: int | None = None) -> object:
    """`json.loads(text)`, refused (`Refused`) past the limits; invalid JSON raises json.JSONDecodeError."""

    def bounded(convert):
        def parse(digits: str):
            if len(digits) > max_digits:
                raise Refused(f"a number of {len(digits)} characters (at most {max_digits} are accepted)")
            return convert(digits)
        return parse

    try:
        value = json.loads(text, parse_int=bounded(int), parse_float=bounded(float))
    except RecursionError:
        raise Refused(f"lists or objects nested more than {max_depth} deep") from None
    outside = STRING.sub("", text)  # the text is valid JSON: every string is closed
    structure = NOT_BRACKET.sub("", outside)
    deepest = max(accumulate(map(LEVEL.__getitem__, structure)), default=0)
    if deepest > max_depth:
        raise Refused(f"lists or objects nested {deepest} deep (at most {max_depth} are accepted)")
    if max_values is not None and (count := outside.count(",") + len(structure) // 2) > max_values:
        raise Refused(f"about {count} values in lists and objects (at most {max_values} are accepted)")
    return value
