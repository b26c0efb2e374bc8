"""Structural limits on JSON bodies, checked before decoding into request types.

Cheap on ordinary bodies: nesting is only measured when the body holds more brackets than the
depth limit, and strings are only measured when the body is longer than the string limit.
"""

from __future__ import annotations

import re

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def nesting_depth(body: bytes) -> int:
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b'""', body)):
        if bracket in (b"{", b"["):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def too_deep(body: bytes, max_depth: int) -> bool:
    if body.count(b"{") + body.count(b"[") <= max_depth:
        return False
    return nesting_depth(body) > max_depth


def longest_string(body: bytes) -> int:
    """Length in bytes of the longest JSON string literal (escapes counted as written)."""
    return max((len(m.group(0)) - 2 for m in _STRING.finditer(body)), default=0)


def too_long_string(body: bytes, max_length: int) -> bool:
    if len(body) <= max_length + 2:
        return False
    return longest_string(body) > max_length
