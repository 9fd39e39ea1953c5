"""The built-in PII patterns: what each must catch, and the look-alikes it must leave alone.

The collector runs them with Go's RE2; these use Python's `re`, which agrees with RE2 on the
constructs the spec allows (lookarounds and back-references are refused at load time).
"""

from __future__ import annotations

import re

import pytest

from observatory.spec import defaults as d
from observatory.spec.model import regex_problem

CASES = {
    "email": (["jane.doe@example.com", "a+tag@mail.co.uk"], ["user@localhost", "gpt-4o@2024"]),
    "phone": (
        ["+44 20 7946 0958", "+1 (415) 555-0134", "(415) 555-0134", "415-555-0134"],
        ["2024-08-06", "gpt-4o-2024-08-06", "1.2.3", "10.0.0.1", "2026-11-27T04:08:29Z", "12345678"],
    ),
    "card_number": (
        ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011111111111117"],
        ["1732680000123456789", "2024-08-06", "0123456789012"],
    ),
    "api_key": (
        [
            "sk-proj-AbCdEfGhIjKlMnOpQrStUv012345",
            "sk-ant-api03-abcdefghijklmnopqrstu",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_" + "a" * 36,
        ],
        ["sk-short", "risk-assessment-report"],
    ),
    "bearer_token": (
        ["Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "authorization: bearer abcdefgh12345"],
        ["bearer of news", "Bearer x"],
    ),
}


@pytest.mark.parametrize("name", sorted(d.PII_BUILTIN_PATTERNS))
def test_a_builtin_pattern_catches_its_kind_and_leaves_look_alikes(name: str) -> None:
    regex, _replacement = d.PII_BUILTIN_PATTERNS[name]
    assert regex_problem(regex) is None
    positives, negatives = CASES[name]
    for text in positives:
        assert re.search(regex, f"see {text} here"), f"{name} misses {text!r}"
    for text in negatives:
        assert not re.search(regex, text), f"{name} wrongly matches {text!r}"


def test_every_builtin_pattern_has_cases() -> None:
    assert set(CASES) == set(d.PII_BUILTIN_PATTERNS)
